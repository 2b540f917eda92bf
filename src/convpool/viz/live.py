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

The parts: live_snapshot.py (looking inside the model), live_render.py (the pictures),
live_server.py (the HTTP server; the page is live.html, shipped as package data) and this
file (the view that ties them to `fit`, and the wiring for `convpool train`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy

from .. import backend, nn
from .curves import TrainingCurves, plot_curves
from .live_render import GAP_RGB, PICTURE_SIDE, render_png, tiles
from .live_server import IDLE_SECONDS, LISTEN_BACKLOG, MAX_CONNECTIONS, LiveHandler, LiveServer, page
from .live_snapshot import Snapshot, layer_outputs

SNAPSHOT_SECONDS = 3.0  # at most one snapshot (copies and a forward pass) this often
SNAPSHOT_SHARE = 0.02  # and snapshots take at most this share of the training thread's time
POLL_MS = 2000  # how often the page asks for news

__all__ = ["LiveView", "TrainingViews", "training_views", "sample_input", "Snapshot", "layer_outputs", "tiles",
           "render_png", "page", "GAP_RGB", "PICTURE_SIDE", "MAX_CONNECTIONS", "IDLE_SECONDS", "LISTEN_BACKLOG",
           "SNAPSHOT_SECONDS", "SNAPSHOT_SHARE", "POLL_MS"]


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
            self.server = LiveServer(("127.0.0.1", port), LiveHandler, max_connections, idle_seconds)
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
