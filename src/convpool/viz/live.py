"""Watch a network learn (`convpool train --live`): a page served from the training process
that follows the run as it goes, as ConvNetJS did in the browser: loss and accuracy curves,
images/s, and for one fixed sample input every layer's activations, weights and gradients as
small pictures with their minimum and maximum.

    with LiveView(model, sample) as view:       # prints nothing; view.url is the address
        fit(..., on_step=view.on_step, on_epoch_end=view.on_epoch_end)

How it stays cheap (training slows by well under 5%, see benchmarks/bench_live.py):
- every step only appends a few numbers to the curves;
- at most every `interval` seconds (3 by default) the training thread takes a snapshot:
  copies of the parameters and of their gradients (still on them after the step, see
  `fit`'s on_step), and one forward pass of the sample in eval mode without gradients, so
  no batch-norm statistic, dropout draw or random number of the run changes;
- turning snapshots into PNGs (Pillow, one byte a pixel with the colour map as palette)
  happens in the server's threads, only when a page asks, once per snapshot;
- on a slow machine or a big model the wait between snapshots grows, so that taking them
  and drawing them for a page together use at most `share` (2%) of the time.

The server is the standard library's ThreadingHTTPServer in a daemon thread, bound to
127.0.0.1 only (port 0 picks a free port), answering only requests addressed to 127.0.0.1
or localhost. It holds at most MAX_CONNECTIONS connections at once (one thread each; more
are answered 503 and closed at once), closes a connection idle for IDLE_SECONDS, and queues
up to LISTEN_BACKLOG connections not yet accepted. It serves while training runs;
`close()` (the end of the `with`) marks the run finished, lets a watching page fetch that
final state once, and stops the server.
The page polls `state.json` every 2 s and keeps its last state when the server is gone.
"""

from __future__ import annotations

import html
import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy

from .. import backend, nn
from ..nn.watch import leaves, modes_kept, watch
from ..tensor import Tensor, no_grad
from . import style
from .curves import TrainingCurves, plot_curves

SNAPSHOT_SECONDS = 3.0  # at most one snapshot (copies and a forward pass) this often
SNAPSHOT_SHARE = 0.02  # and snapshots take at most this share of the training thread's time
POLL_MS = 2000  # how often the page asks for news
MAX_CONNECTIONS = 16  # a page needs a few at once (state and pictures); each is one thread
IDLE_SECONDS = 10.0  # a connection that sends nothing for this long is closed
LISTEN_BACKLOG = 128  # connections waiting to be accepted (the standard library's default is 5)
# pictures are enlarged by the whole factor that brings their long side nearest this many pixels:
# activations (the pictures to look at) largest, the input small
PICTURE_SIDE = {"auto": 440, "signed": 300, "grey": 200}
GAP_RGB = (200, 200, 200)  # between tiles: a grey that no colour map uses for zero
_SKIPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Flatten, nn.Identity)  # in eval mode, copies of their input


# ----- snapshots (training thread) ----------------------------------------------------------
def layer_outputs(model: nn.Module, x: numpy.ndarray) -> list[tuple[str, nn.Module, numpy.ndarray]]:
    """(name, layer, output) for every leaf layer, in the order the forward pass calls them,
    for one run of x in eval mode without gradients; every layer's mode is put back after."""
    recorded: list[tuple[str, nn.Module, numpy.ndarray]] = []

    def record(name: str, module: nn.Module, args: tuple, out: Any) -> None:
        if isinstance(out, Tensor):
            recorded.append((name, module, numpy.array(out.data, copy=True)))

    with modes_kept(model), watch(leaves(model), record), no_grad():  # forward hooks, for this one pass
        model.eval()
        model(Tensor(x))
    return recorded


class Snapshot:
    """One look inside the model: arrays copied on the training thread; their numbers (JSON)
    and pictures (PNG) are made on demand in the server's threads and kept."""

    def __init__(self, version: int, model: nn.Module, sample: numpy.ndarray, step: dict[str, Any] | None) -> None:
        self.version, self.taken = version, time.time()
        self.epoch = step["epoch"] if step else 0
        self.step = step["step"] if step else 0
        self.arrays: list[tuple[numpy.ndarray, str]] = [(sample[0], "grey")]  # (array, colour mode)
        self.layers: list[dict[str, Any]] = []
        self.error: str | None = None
        self._json: dict[str, Any] | None = None
        self._png: dict[int, bytes] = {}
        self.served_seconds = 0.0  # CPU time the server's threads spent describing and drawing it
        params = {id(m): [(n, p) for n, p in m.named_parameters(recurse=False)] for m in model.modules()}
        try:
            outputs = layer_outputs(model, sample)
        except Exception as error:  # a look inside must never stop training
            self.error, outputs = f"{type(error).__name__}: {error}", []
        shown: set[int] = set()
        for name, module, out in outputs:
            entry = {"name": name, "type": type(module).__name__, "shape": list(out.shape[1:]),
                     "activation": None, "params": []}
            if not isinstance(module, _SKIPPED):
                entry["activation"] = self._keep(out[0], "auto")
            if id(module) not in shown:
                shown.add(id(module))
                entry["params"] = self._params(params[id(module)])
            if entry["activation"] is not None or entry["params"]:
                self.layers.append(entry)
        for name, module in model.named_modules():  # parameters of layers the pass did not reach
            if id(module) not in shown and params[id(module)] and next(module.children(), None) is None:
                self.layers.append({"name": name, "type": type(module).__name__, "shape": None,
                                    "activation": None, "params": self._params(params[id(module)])})
        self.logits = outputs[-1][2][0] if outputs and outputs[-1][2].ndim == 2 else None

    def _keep(self, array: numpy.ndarray, mode: str) -> int:
        self.arrays.append((array, mode))
        return len(self.arrays) - 1

    def _params(self, named: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for name, param in named:
            grad = None if param.grad is None else self._keep(numpy.array(param.grad.data, copy=True), "signed")
            kept.append({"name": name, "shape": list(param.shape),
                         "value": self._keep(numpy.array(param.data, copy=True), "signed"), "grad": grad})
        return kept

    def describe(self, class_names: list[str] | None) -> dict[str, Any]:
        """The snapshot as JSON-able data: picture addresses with min and max, per layer."""
        if self._json is not None:
            return self._json
        began = time.thread_time()

        def picture(index: int | None) -> dict[str, Any] | None:
            if index is None:
                return None
            array, mode = self.arrays[index]
            finite = array[numpy.isfinite(array)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
            signed = mode == "signed" or (mode == "auto" and low is not None and low < 0)
            return {"url": f"image/{self.version}/{index}.png", "min": low, "max": high, "count": int(array.size),
                    "colors": "signed" if signed else "grey" if mode == "grey" else "unsigned"}

        layers = [{**layer, "activation": picture(layer["activation"]),
                   "params": [{**p, "value": picture(p["value"]), "grad": picture(p["grad"])} for p in layer["params"]]}
                  for layer in self.layers]
        prediction = None
        if self.logits is not None and class_names and len(class_names) == len(self.logits):
            shifted = numpy.exp(self.logits - self.logits.max())
            best = int(shifted.argmax())
            prediction = {"class": class_names[best], "probability": float(shifted[best] / shifted.sum())}
        self._json = {"version": self.version, "epoch": self.epoch, "step": self.step, "taken": self.taken,
                      "input": picture(0), "layers": layers, "prediction": prediction, "error": self.error}
        self.served_seconds += time.thread_time() - began
        return self._json

    def png(self, index: int) -> bytes:
        """Picture `index`, rendered once."""
        if index not in self._png:
            began = time.thread_time()
            self._png[index] = render_png(*self.arrays[index])
            self.served_seconds += time.thread_time() - began
        return self._png[index]


# ----- pictures (server threads) ------------------------------------------------------------
def tiles(array: numpy.ndarray) -> tuple[numpy.ndarray, int]:
    """Any array as small pictures (n, h, w) laid out in `columns`: channels (C, H, W) in a
    grid, conv kernels (out, in, kh, kw) one row per output channel (a grid when in is 1), a
    matrix as one picture (averaged down to at most 256 columns), a vector in rows of 32
    (NaN after its end)."""
    array = numpy.asarray(array, dtype=numpy.float32)
    if array.ndim <= 1:
        values = array.reshape(-1)
        width = max(1, min(32, values.size))
        padded = numpy.full(math.ceil(values.size / width) * width, numpy.nan, numpy.float32)
        padded[:values.size] = values
        return padded.reshape(1, -1, width), 1
    if array.ndim == 2:
        return _fit_columns(array, 256)[None], 1
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 3:
        return array, _columns(array.shape[0])
    if array.ndim == 4:
        out, inputs, h, w = array.shape
        return array.reshape(out * inputs, h, w), inputs
    return tiles(array.reshape(array.shape[0], array.shape[1], -1))


def _columns(count: int) -> int:
    """A grid a little wider than tall with no empty cell when one is near (32 -> 8 x 4)."""
    side = math.ceil(math.sqrt(count))
    return next((c for c in range(side, 2 * side + 1) if count % c == 0), side)


def _fit_columns(matrix: numpy.ndarray, limit: int) -> numpy.ndarray:
    """A wide matrix averaged down to `limit` columns (the min and max shown are the real ones)."""
    if matrix.shape[1] <= limit:
        return matrix
    edges = numpy.linspace(0, matrix.shape[1], limit + 1).astype(int)
    return numpy.add.reduceat(matrix, edges[:-1], axis=1) / numpy.diff(edges)[None, :]


_LUTS: dict[str, numpy.ndarray] = {}


LEVELS = 254  # colours of a map in a picture's palette; the last two entries are the line grey and white
_GAP, _WHITE = LEVELS, LEVELS + 1


def _palette(name: str) -> list[int]:
    """A PNG palette: LEVELS colours of a matplotlib colour map (the maps of every figure,
    viz.style), then the line grey and white. One byte a pixel keeps pictures cheap to make."""
    if name not in _LUTS:
        import matplotlib

        colours = matplotlib.colormaps[name](numpy.linspace(0, 1, LEVELS), bytes=True)[:, :3]
        _LUTS[name] = numpy.concatenate([colours, [GAP_RGB, (255, 255, 255)]]).astype(numpy.uint8)
    return _LUTS[name].reshape(-1).tolist()


def render_png(array: numpy.ndarray, mode: str) -> bytes:
    """A small PNG of an array: diverging and centred on zero ('signed', or 'auto' with a
    negative value), sequential from min to max ('auto' otherwise), or grey ('grey'), one
    scale for all its tiles; each value a square of whole pixels, thin grey lines between
    tiles, white where there is no value."""
    from PIL import Image

    stack, columns = tiles(array)
    finite = numpy.isfinite(stack)
    values = stack[finite]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if mode == "grey":
        limits = {"cmap": style.GREY_CMAP, "vmin": low, "vmax": high if high > low else low + 1}
    elif mode == "signed" or low < 0:
        bound = max(abs(low), abs(high)) or 1.0
        limits = {"cmap": style.SIGNED_CMAP, "vmin": -bound, "vmax": bound}
    else:
        limits = style.color_limits(values if values.size else numpy.zeros(1))
    scaled = (numpy.where(finite, stack, limits["vmin"]) - limits["vmin"]) / (limits["vmax"] - limits["vmin"])
    index = numpy.clip(numpy.rint(scaled * (LEVELS - 1)), 0, LEVELS - 1).astype(numpy.uint8)
    index[~finite] = _WHITE
    count, h, w = stack.shape
    rows = math.ceil(count / columns)
    factor = max(1, min(16, round(PICTURE_SIDE[mode] / max(columns * w, rows * h))))
    gap = 0 if count == 1 else 1 if factor < 3 else 2
    cells = numpy.full((rows * columns, h * factor + gap, w * factor + gap), _GAP, numpy.uint8)
    cells[:count, :h * factor, :w * factor] = index.repeat(factor, axis=1).repeat(factor, axis=2)
    cells[count:] = _WHITE  # the grid's empty cells
    height, width = rows * cells.shape[1], columns * cells.shape[2]
    grid = cells.reshape(rows, columns, *cells.shape[1:]).transpose(0, 2, 1, 3).reshape(height, width)
    image = Image.fromarray(numpy.ascontiguousarray(grid[:height - gap, :width - gap]), "P")  # no last line
    image.putpalette(_palette(limits["cmap"]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# ----- the view -----------------------------------------------------------------------------
class LiveView:
    """The server and what it shows. Feed it `on_step` and `on_epoch_end` from `fit`; close it
    (or leave the `with`) when training ends. sample is one model input of shape (1, C, H, W);
    label and class_names only label the page. A snapshot is taken at most every interval
    seconds and, with share, so that taking snapshots and drawing their pictures use at most
    that share of the time (None: no such limit). poll_ms is the page's polling period."""

    def __init__(self, model: nn.Module, sample: numpy.ndarray, *, port: int = 0, title: str = "training",
                 epochs: int | None = None, label: int | None = None, class_names: list[str] | None = None,
                 interval: float = SNAPSHOT_SECONDS, share: float | None = SNAPSHOT_SHARE, poll_ms: int = POLL_MS,
                 curves: TrainingCurves | None = None, max_connections: int = MAX_CONNECTIONS,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"live view: the port must be an int in [0, 65535], got {port!r}")
        self.model, self.sample = model, numpy.asarray(sample, dtype=numpy.float32)
        if self.sample.ndim < 2 or self.sample.shape[0] != 1:
            raise ValueError(f"live view: the sample must be one input with its batch axis, got {self.sample.shape}")
        self.title, self.epochs, self.label, self.class_names = title, epochs, label, class_names
        self.interval, self.share, self.poll_ms = float(interval), share, int(poll_ms)
        self.curves = curves if curves is not None else TrainingCurves()
        self.status = "training"
        self._snapshots: dict[int, Snapshot] = {}
        self._next_snapshot = -math.inf
        self._last_poll = self._last_request = -math.inf
        self._final_served = threading.Event()
        try:
            self.server = _Server(("127.0.0.1", port), _Handler, max_connections, idle_seconds)
        except OSError as error:
            raise OSError(f"live view: cannot listen on 127.0.0.1:{port} ({error.strerror or error})") from None
        self.server.view = self
        self.port = int(self.server.server_address[1])
        self.snapshot(None)  # the untrained network, before the first step
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="convpool-live", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def on_step(self, record: dict[str, Any]) -> None:
        """fit's on_step: the step's numbers, and a snapshot when the last is old enough."""
        self.curves.add_step(record)
        if time.monotonic() >= self._next_snapshot:
            self.snapshot(record)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """fit's on_epoch_end: the epoch's numbers (validation included). Training goes on."""
        self.curves.add_epoch(record)

    def snapshot(self, step: dict[str, Any] | None) -> Snapshot:
        """Look inside the model now (training thread); the newest three are kept, so a page
        still loading an earlier one's pictures gets them."""
        began = time.monotonic()
        version = max(self._snapshots, default=-1) + 1
        taken = Snapshot(version, self.model, self.sample, step)
        previous = self._snapshots.get(version - 1)
        cost = time.monotonic() - began + (previous.served_seconds if previous else 0.0)  # a page's pictures too
        self._next_snapshot = began + max(self.interval, cost / self.share if self.share else 0.0)
        kept = {v: s for v, s in self._snapshots.items() if v >= version - 2}
        kept[version] = taken
        self._snapshots = kept  # one assignment: a server thread sees the old dict or the new one
        return taken

    def state(self, first_step: int = 0) -> dict[str, Any]:
        """What the page polls: the curves from first_step on, the newest snapshot, the status."""
        snapshots = self._snapshots
        newest = snapshots[max(snapshots)] if snapshots else None
        return {"title": self.title, "status": self.status, "epochs": self.epochs, "poll_ms": self.poll_ms,
                "sample": {"label": self.label,
                           "class": self.class_names[self.label] if self.class_names and self.label is not None
                           and 0 <= self.label < len(self.class_names) else None},
                "curves": self.curves.since(first_step),
                "snapshot": newest.describe(self.class_names) if newest else None}

    def close(self, status: str = "finished", linger: float | None = None) -> None:
        """Mark the run `status`; if a page polled lately, wait (at most linger seconds, one
        poll and a second by default) for it to fetch that state and its pictures (until
        half a second passes without a request); then stop the server."""
        if self._thread is None:
            return
        self.status = status
        linger = self.poll_ms / 1000 + 1.0 if linger is None else linger
        deadline = time.monotonic() + linger
        if time.monotonic() - self._last_poll < 3 * self.poll_ms / 1000 and self._final_served.wait(linger):
            while time.monotonic() < deadline and time.monotonic() - self._last_request < 0.5:
                time.sleep(0.05)
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, kind: type | None, *rest: object) -> None:
        self.close("finished" if kind is None else "stopped")


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most max_connections of them; the rest get a 503."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    view: LiveView

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int, idle_seconds: float) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"live view: max_connections must be a positive int, got {max_connections!r}")
        if not idle_seconds > 0:
            raise ValueError(f"live view: idle_seconds must be positive, got {idle_seconds!r}")
        self.idle_seconds = float(idle_seconds)
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:  # too many at once: say so without reading the request, and close
                request.settimeout(0.5)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.idle_seconds  # the socket's timeout: an idle connection is closed
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        view = self.server.view
        view._last_request = time.monotonic()
        host = (self.headers.get("Host") or "").lower()
        if host not in (f"127.0.0.1:{view.port}", f"localhost:{view.port}"):
            # another name for this address is a web page trying to read the run (DNS rebinding)
            return self._send(HTTPStatus.FORBIDDEN, b"forbidden: ask 127.0.0.1\n", "text/plain; charset=utf-8")
        parts = urlsplit(self.path)
        if parts.path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, page(view).encode("utf-8"), "text/html; charset=utf-8")
        if parts.path == "/state.json":
            try:
                first = max(0, int(parse_qs(parts.query).get("since", ["0"])[0]))
            except ValueError:
                first = 0
            status = view.status
            body = json.dumps(_finite(view.state(first)), separators=(",", ":")).encode("utf-8")
            view._last_poll = time.monotonic()
            self._send(HTTPStatus.OK, body, "application/json")
            if status != "training":
                view._final_served.set()
            return None
        pieces = parts.path.strip("/").split("/")
        if len(pieces) == 3 and pieces[0] == "image" and pieces[2].endswith(".png"):
            try:
                version, index = int(pieces[1]), int(pieces[2][:-4])
            except ValueError:
                version, index = -1, -1
            snapshots = view._snapshots
            snapshot = snapshots.get(version)
            if snapshot is None and snapshots and 0 <= version < max(snapshots):
                # a page slower than the snapshots: the same picture, newer (not to be cached)
                snapshot = snapshots[max(snapshots)]
            if snapshot is not None and 0 <= index < len(snapshot.arrays):
                return self._send(HTTPStatus.OK, snapshot.png(index), "image/png", cache=snapshot.version == version)
        return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, code: HTTPStatus, body: bytes, kind: str, cache: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600, immutable" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the standard library's name)
        """Quiet: the terminal belongs to the progress bar."""


def _finite(value: Any) -> Any:
    """NaN and infinity as null: JSON has no word for them and the browser's parser refuses them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# ----- wiring for `convpool train` ----------------------------------------------------------
def sample_input(loader: Any) -> tuple[numpy.ndarray, int | None, list[str] | None]:
    """The first item of a DataLoader's dataset as the model sees it (the loader's transform
    applied with a private generator, so the run's random numbers are untouched): the input
    (1, C, H, W), its label and the class names if the dataset has them."""
    state = backend.get_rng_state()
    try:
        image, label = loader.dataset[0]
    finally:
        backend.set_rng_state(state)
    batch = numpy.asarray(image)[None]
    if loader.transform is not None:
        batch = numpy.asarray(loader.transform(batch, numpy.random.default_rng(0)))
    batch = batch / 255.0 if batch.dtype == numpy.uint8 else batch
    dataset, classes = loader.dataset, None
    while dataset is not None and classes is None:
        classes, dataset = getattr(dataset, "classes", None), getattr(dataset, "dataset", None)
    return batch.astype(numpy.float32), int(label), [str(c) for c in classes] if classes else None


class TrainingViews:
    """What `--live` and `--plot` add to a run: fit's on_step and on_epoch_end (None when
    neither is asked for, so a plain run pays nothing), and, as a context manager, the live
    server's start announcement and stop."""

    def __init__(self, live: LiveView | None, curves: TrainingCurves | None, plot_path: Path | None,
                 title: str) -> None:
        self.live, self.curves, self.plot_path, self.title = live, curves, plot_path, title
        self.on_step: Callable[[dict[str, Any]], None] | None = None
        self.on_epoch_end: Callable[[dict[str, Any]], None] | None = None
        if live is not None:
            self.on_step, self.on_epoch_end = live.on_step, self._epoch_end
        elif curves is not None and plot_path is not None:
            self.on_step, self.on_epoch_end = curves.add_step, self._epoch_end

    def _epoch_end(self, record: dict[str, Any]) -> None:
        if self.live is not None:
            self.live.on_epoch_end(record)
        elif self.curves is not None:
            self.curves.add_epoch(record)
        if self.plot_path is not None and self.curves is not None:
            plot_curves(self.curves, self.plot_path, self.title)

    def __enter__(self) -> TrainingViews:
        if self.live is not None:
            print(f"live view: {self.live.url} (served while training runs)", flush=True)
        return self

    def __exit__(self, kind: type | None, *rest: object) -> None:
        if self.live is not None:
            self.live.close("finished" if kind is None else "stopped")
            print(f"live view stopped ({self.live.url})", flush=True)


def training_views(model: nn.Module, loader: Iterable, out_dir: str | Path, *, live: bool = False,
                   port: int | None = None, plot: bool = False, title: str = "training",
                   epochs: int | None = None) -> TrainingViews:
    """The callbacks of `convpool train --live [--live-port PORT] --plot`: a live view (a port
    alone turns it on) whose sample is the first item of loader, and/or the curves written to
    out_dir/curves.png after every epoch."""
    live = live or port is not None
    curves = TrainingCurves() if live or plot else None
    view = None
    if live:
        sample, label, classes = sample_input(loader)
        view = LiveView(model, sample, port=port or 0, title=title, epochs=epochs, label=label,
                        class_names=classes, curves=curves)
    return TrainingViews(view, curves, Path(out_dir) / "curves.png" if plot else None, title)


def page(view: LiveView) -> str:
    """The page: plain HTML and JavaScript, nothing fetched but this server's own answers."""
    return _PAGE.replace("__TITLE__", html.escape(view.title)).replace("__POLL_MS__", str(view.poll_ms))


_PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>convpool live: __TITLE__</title><link rel="icon" href="data:,">
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.2em 2em; color: #1d1d1f; }
h1 { font-size: 1.5em; margin: 0 0 0.2em; }
h2 { font-size: 1.15em; margin: 1.4em 0 0.4em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
#status { color: #555; margin: 0 0 0.8em; }
#status.finished { color: #1a7f37; } #status.lost { color: #b35900; }
.numbers { display: flex; flex-wrap: wrap; gap: 0.4em 1.6em; font-variant-numeric: tabular-nums; margin-bottom: 0.8em; }
.numbers b { font-size: 1.25em; }
.numbers span { color: #555; font-size: 0.85em; display: block; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
canvas { border: 1px solid #e3e3e3; border-radius: 4px; background: #fff; }
.legend { font-size: 0.85em; color: #444; }
.bar { display: inline-block; width: 90px; height: 10px; vertical-align: middle; border: 1px solid #ccc; }
.signed { background: linear-gradient(to right, #053061, #4393c3, #f7f7f7, #d6604d, #67001f); }
.unsigned { background: linear-gradient(to right, #440154, #3b528b, #21918c, #5ec962, #fde725); }
.grey { background: linear-gradient(to right, #000, #fff); }
table { border-collapse: collapse; }
td, th { vertical-align: top; text-align: left; padding: 6px 10px; border-top: 1px solid #eee; }
th { font-weight: 600; font-size: 0.9em; color: #444; }
td.name { white-space: nowrap; } td.name small { color: #666; display: block; }
figure { display: inline-block; margin: 0 10px 6px 0; vertical-align: top; }
figure img { image-rendering: pixelated; border: 1px solid #ddd; display: block; }
figcaption { font-size: 11px; color: #555; font-variant-numeric: tabular-nums; max-width: 260px; }
.error { color: #b00020; }
</style></head>
<body>
<h1>convpool live: __TITLE__</h1>
<p id="status">connecting to the training process…</p>
<div class="numbers" id="numbers"></div>
<div class="charts">
  <canvas id="loss-chart" style="width:560px;height:320px" aria-label="loss curve"></canvas>
  <canvas id="accuracy-chart" style="width:560px;height:320px" aria-label="accuracy curve"></canvas>
</div>
<h2>Inside the network <small id="snapshot-info"></small></h2>
<p class="legend">Colours: <span class="bar signed"></span> blue negative, white zero, red positive, symmetric
about zero (weights, gradients, activations that can be negative);
<span class="bar unsigned"></span> min to max for activations that cannot be negative (after ReLU);
<span class="bar grey"></span> the input. Each picture has its own scale: its min and max are printed under it.
Activations are one sample's, in eval mode; gradients are those of the last training step.</p>
<p class="error" id="snapshot-error"></p>
<div id="sample"></div>
<table><thead><tr><th>layer</th><th>activation of the sample</th><th>parameters and their gradients</th></tr></thead>
<tbody id="layers"></tbody></table>
<script>
"use strict";
const POLL_MS = __POLL_MS__;
let steps = [], epochs = [], totalEpochs = 1, smoothing = 0.9, version = -1, refreshes = 0, finished = false;

function fmt(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(2);
  return v.toPrecision(3);
}
function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }
function smooth(values, weight) {
  const out = []; let avg = 0;
  values.forEach((v, i) => { avg = weight * avg + (1 - weight) * v; out.push(avg / (1 - Math.pow(weight, i + 1))); });
  return out;
}
function extreme(pick, start, ...lists) {  // no spread: a long run has more steps than a call has arguments
  let best = start;
  for (const list of lists) for (const v of list) if (v !== null) best = pick(best, v);
  return best;
}
function position(s, i) { return s.steps ? s.epoch - 1 + s.step / s.steps : i + 1; }
function niceStep(range, count) {
  const raw = range / count, power = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / power;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * power;
}

function drawChart(id, key, title, yLabel, percent) {
  const canvas = document.getElementById(id), ratio = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * ratio; canvas.height = H * ratio;
  const g = canvas.getContext("2d"); g.setTransform(ratio, 0, 0, ratio, 0, 0); g.clearRect(0, 0, W, H);
  const left = 58, right = 14, top = 50, bottom = 42, w = W - left - right, h = H - top - bottom;
  g.fillStyle = "#1d1d1f"; g.font = "600 14px system-ui, sans-serif"; g.textAlign = "center";
  g.fillText(title, left + w / 2, 19);
  const xs = steps.map(position), ys = steps.map(s => s[key]);
  const val = epochs.filter(e => e["val_" + key] !== null).map(e => [e.epoch, e["val_" + key]]);
  const valX = val.map(p => p[0]), valY = val.map(p => p[1]);
  const xMax = extreme(Math.max, totalEpochs, xs, valX);  // the whole run: the curves grow rightwards
  let yMin = 0, yMax = percent ? 1 : extreme(Math.max, 0.1, ys, valY) * 1.05;
  if (percent) { yMin = Math.max(0, Math.floor(10 * extreme(Math.min, 1, ys, valY)) / 10 - 0.1); }
  const X = x => left + (x / xMax) * w, Y = y => top + h - ((y - yMin) / (yMax - yMin)) * h;
  g.font = "11px system-ui, sans-serif"; g.strokeStyle = "#eee"; g.fillStyle = "#555"; g.lineWidth = 1;
  const yStep = niceStep(yMax - yMin, 5);
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let y = Math.ceil(yMin / yStep) * yStep; y <= yMax + 1e-9; y += yStep) {
    g.beginPath(); g.moveTo(left, Y(y)); g.lineTo(left + w, Y(y)); g.stroke();
    g.fillText(percent ? Math.round(100 * y) + "%" : +y.toFixed(4), left - 6, Y(y));
  }
  const xStep = Math.max(1, Math.ceil(niceStep(xMax, 8)));
  g.textAlign = "center"; g.textBaseline = "top";
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    g.beginPath(); g.moveTo(X(x), top); g.lineTo(X(x), top + h); g.stroke();
    g.fillText(String(x), X(x), top + h + 5);
  }
  g.strokeStyle = "#999"; g.strokeRect(left, top, w, h);
  g.fillStyle = "#333"; g.font = "12px system-ui, sans-serif";
  g.fillText(steps.length && !steps[0].steps ? "step" : "epoch", left + w / 2, top + h + 22);
  g.save(); g.translate(14, top + h / 2); g.rotate(-Math.PI / 2); g.textBaseline = "middle";
  g.fillText(yLabel, 0, 0); g.restore();
  function line(points, color, width, alpha) {
    if (!points.length) return;
    g.save(); g.globalAlpha = alpha; g.strokeStyle = color; g.lineWidth = width; g.beginPath();
    points.forEach(([x, y], i) => i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y)));
    g.stroke(); g.restore();
  }
  g.save(); g.beginPath(); g.rect(left, top, w, h); g.clip();
  line(xs.map((x, i) => [x, ys[i]]), "#1f77b4", 1, 0.25);
  const sm = smooth(ys, smoothing);
  line(xs.map((x, i) => [x, sm[i]]), "#1f77b4", 2, 1);
  line(val, "#d62728", 2, 1);
  g.fillStyle = "#d62728";
  val.forEach(([x, y]) => { g.beginPath(); g.arc(X(x), Y(y), 3.5, 0, 2 * Math.PI); g.fill(); });
  g.restore();
  const entries = [["train, each step", "#1f77b4", 0.35, 1], ["train, moving average", "#1f77b4", 1, 2],
                   ["validation, each epoch", "#d62728", 1, 2]];
  g.font = "11px system-ui, sans-serif"; g.textAlign = "left"; g.textBaseline = "middle";
  const widths = entries.map(([text]) => 26 + g.measureText(text).width + 16);
  let lx = left + (w - widths.reduce((a, b) => a + b, 0)) / 2;
  entries.forEach(([text, color, alpha, width], i) => {  // the legend: one row above the plot
    g.save(); g.globalAlpha = alpha; g.strokeStyle = color; g.lineWidth = width;
    g.beginPath(); g.moveTo(lx, 36); g.lineTo(lx + 20, 36); g.stroke(); g.restore();
    g.fillStyle = "#333"; g.fillText(text, lx + 26, 36); lx += widths[i];
  });
  if (!steps.length) {
    g.fillStyle = "#888"; g.textAlign = "center"; g.fillText("waiting for the first step…", left + w / 2, top + h / 2);
  }
  canvas.dataset.points = String(steps.length);
}

function showNumbers(state) {
  const last = steps[steps.length - 1], lastEpoch = epochs[epochs.length - 1];
  const items = [
    ["epoch", last ? `${last.epoch}${state.epochs ? " / " + state.epochs : ""}` : "–"],
    ["step", last ? `${last.step}${last.steps ? " / " + last.steps : ""}` : "–"],
    ["images/s", last ? Math.round(last.images_per_second).toString() : "–"],
    ["train loss (moving avg.)", last ? fmt(smooth(steps.map(s => s.loss), smoothing).pop()) : "–"],
    ["train accuracy (moving avg.)", last ? pct(smooth(steps.map(s => s.accuracy), smoothing).pop()) : "–"],
    ["learning rate", last ? last.lr.toExponential(2) : "–"],
    ["validation accuracy", lastEpoch ? pct(lastEpoch.val_accuracy) : "–"],
  ];
  const box = document.getElementById("numbers"); box.textContent = "";
  for (const [name, value] of items) {
    const div = document.createElement("div"), b = document.createElement("b"), span = document.createElement("span");
    b.textContent = value; span.textContent = name; div.append(b, span); box.append(div);
  }
}

function figure(picture, caption) {
  const fig = document.createElement("figure");
  if (!picture) { fig.textContent = caption + ": none yet"; fig.className = "none"; return fig; }
  const img = document.createElement("img"), cap = document.createElement("figcaption");
  img.alt = caption; img.src = picture.url;
  cap.textContent = `${caption}: min ${fmt(picture.min)}, max ${fmt(picture.max)}`;
  fig.append(img, cap); return fig;
}

function showSnapshot(state) {
  const snap = state.snapshot; version = snap.version;
  const taken = new Date(snap.taken * 1000).toLocaleTimeString();
  document.getElementById("snapshot-info").textContent =
    snap.step ? `(after epoch ${snap.epoch}, step ${snap.step}; taken ${taken})` : "(before training)";
  document.getElementById("snapshot-error").textContent = snap.error ? "could not look inside: " + snap.error : "";
  const sample = document.getElementById("sample"); sample.textContent = "";
  let text = "sample input" + (state.sample.class ? ` (class: ${state.sample.class})` : "");
  sample.append(figure(snap.input, text));
  if (snap.prediction) {
    const p = document.createElement("p");
    p.textContent = `The network says: ${snap.prediction.class} (${pct(snap.prediction.probability)})`;
    sample.append(p);
  }
  const body = document.getElementById("layers"); body.textContent = "";
  for (const layer of snap.layers) {
    const row = document.createElement("tr"), name = document.createElement("td");
    name.className = "name"; name.textContent = layer.name;
    const small = document.createElement("small");
    small.textContent = layer.type + (layer.shape ? " → " + layer.shape.join("×") : "");
    name.append(small);
    const act = document.createElement("td");
    if (layer.activation) act.append(figure(layer.activation, "output"));
    const params = document.createElement("td");
    for (const p of layer.params) {
      params.append(figure(p.value, `${p.name} ${p.shape.join("×")}`), figure(p.grad, `gradient of ${p.name}`));
    }
    row.append(name, act, params); body.append(row);
  }
}

function showStatus(state) {
  const el = document.getElementById("status");
  const when = new Date().toLocaleTimeString();
  if (state.status === "training") {
    el.className = ""; el.textContent = `training; updated ${when} (every ${POLL_MS / 1000} s)`;
  } else {
    el.className = "finished";
    el.textContent = `training ${state.status} (${when}); the server stops now and this page keeps the final state`;
  }
}

async function poll() {
  try {
    const answer = await fetch("state.json?since=" + steps.length, {cache: "no-store"});
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    const state = await answer.json();
    if (state.curves.step_count < steps.length) steps = [];
    steps = steps.concat(state.curves.steps); epochs = state.curves.epochs; smoothing = state.curves.smoothing;
    totalEpochs = state.epochs || 1;
    drawChart("loss-chart", "loss", "Loss", "cross-entropy loss", false);
    drawChart("accuracy-chart", "accuracy", "Accuracy", "accuracy", true);
    showNumbers(state); showStatus(state);
    if (state.snapshot && state.snapshot.version !== version) showSnapshot(state);
    refreshes += 1; document.body.dataset.refreshes = String(refreshes);
    finished = state.status !== "training";
  } catch (error) {
    const el = document.getElementById("status"); el.className = "lost";
    el.textContent = `no answer from the training process (${error.message}); it may have ended. Trying again…`;
  }
  if (!finished) setTimeout(poll, POLL_MS);
}
drawChart("loss-chart", "loss", "Loss", "cross-entropy loss", false);
drawChart("accuracy-chart", "accuracy", "Accuracy", "accuracy", true);
poll();
</script>
</body></html>
"""
