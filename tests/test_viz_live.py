"""The live view of a training run: fit's per-step hook (every step, gradients still on, the
run unchanged), the server (127.0.0.1 only, curves and layer snapshots in its JSON, new steps
showing up, pictures, stopped at the end), the --live/--plot wiring, and the page in headless
Chromium during a short run: curves drawn, refreshed, pictures loaded, no console errors."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy
import pytest
from browser import browser as chromium
from PIL import Image
from test_train import CLASSES, patterns, tiny_net

import convpool
from convpool import optim
from convpool.data import DataLoader
from convpool.train import fit
from convpool.viz.live import GAP_RGB, LiveView, layer_outputs, render_png, tiles, training_views

CONFIG = {"in_channels": 1, "num_classes": 3, "image_size": 8}
def setup(seed: int = 0, batch_size: int = 16):
    convpool.manual_seed(seed)
    model = tiny_net()
    opt = optim.Adam(model.parameters(), lr=0.01)
    train = DataLoader(patterns(64, 1), batch_size=batch_size, shuffle=True)
    val = DataLoader(patterns(30, 2), batch_size=16)
    return model, opt, train, val


def run(model, opt, train, val, epochs=2, **kwargs):
    return fit(model, train, val, optimizer=opt, epochs=epochs, model_name="tiny", model_config=CONFIG,
               progress=False, **kwargs)


def get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def state(view: LiveView, since: int = 0) -> dict:
    code, body = get(f"{view.url}state.json?since={since}")
    assert code == 200
    return json.loads(body)


def sample() -> numpy.ndarray:
    return patterns(1, 3).images[:1]


# ----- fit's on_step --------------------------------------------------------------------------
def test_on_step_sees_every_step_with_its_gradients_and_changes_nothing():
    model, opt, train, val = setup()
    seen = []

    def watch(step):
        assert all(p.grad is not None for p in model.parameters())  # not yet cleared by zero_grad
        seen.append(step)

    history = run(model, opt, train, val, on_step=watch)
    assert [(s["epoch"], s["step"]) for s in seen] == [(e, b) for e in (1, 2) for b in range(1, 5)]
    assert all(s["steps"] == 4 and s["lr"] == 0.01 and s["images"] == 16 * s["step"] for s in seen)
    assert all(0 <= s["accuracy"] <= 1 and s["loss"] > 0 and s["images_per_second"] > 0 for s in seen)
    assert numpy.mean([s["loss"] for s in seen[:4]]) == pytest.approx(history[0]["train_loss"])

    plain = setup()  # the same run without the hook: the same weights, bit for bit
    run(*plain)
    for (name, a), (_, b) in zip(plain[0].state_dict().items(), model.state_dict().items(), strict=True):
        numpy.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


# ----- snapshots and pictures -----------------------------------------------------------------
def test_layer_outputs_follow_the_forward_pass_and_leave_the_model_as_it_was():
    model = tiny_net()
    model.train()
    model[1].eval()  # a frozen batch norm stays frozen
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    rng_state = convpool.get_rng_state()
    outputs = layer_outputs(model, sample())
    assert [name for name, _, _ in outputs] == [str(i) for i in range(7)]
    assert [out.shape for _, _, out in outputs][-3:] == [(1, 4, 4, 4), (1, 64), (1, 3)]
    assert model.training and not model[1].training and model[4].training
    assert "forward" not in model[0].__dict__ and convpool.get_rng_state() == rng_state
    for key, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value.numpy(), before[key])  # running statistics untouched


def rgb(png: bytes) -> numpy.ndarray:
    return numpy.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_pictures_tile_channels_and_kernels_and_use_a_diverging_map_for_signed_values():
    def layout(array):
        stack, columns = tiles(array)
        return stack.shape, columns

    assert layout(numpy.zeros((32, 5, 5))) == ((32, 5, 5), 8)  # 8 x 4, no empty cell
    assert layout(numpy.zeros((7, 5, 5))) == ((7, 5, 5), 3)
    assert layout(numpy.zeros((8, 3, 3, 3))) == ((24, 3, 3), 3)  # a row per output channel
    assert layout(numpy.zeros((8, 1, 3, 3))) == ((8, 3, 3), 4)
    assert layout(numpy.zeros(70)) == ((1, 3, 32), 1) and numpy.isnan(tiles(numpy.zeros(70))[0][0, 2, 6:]).all()
    assert layout(numpy.zeros((10, 3136))) == ((1, 10, 256), 1)
    grid = rgb(render_png(numpy.ones((7, 2, 2)), "auto"))
    assert grid.shape == (3 * 2 * 16 + 2 * 2, 3 * 2 * 16 + 2 * 2, 3)  # 3 x 3 cells of 32 px, 2 px lines
    assert (grid[-1, -1] == 255).all() and (grid[32, 0] == GAP_RGB).all()  # an empty cell, a line
    signed = rgb(render_png(numpy.array([[-1.0, 0.0, 1.0]]), "signed"))
    left, middle, right = signed[0, 0], signed[0, signed.shape[1] // 2], signed[0, -1]
    assert left[2] > left[0] and right[0] > right[2] and middle.min() > 240  # blue, white, red
    positive = rgb(render_png(numpy.array([[0.0, 1.0]]), "auto"))
    assert tuple(positive[0, 0]) != tuple(positive[0, -1]) and positive[0, 0, 0] < 100  # viridis: dark purple
    assert signed.shape == (16, 48, 3)  # enlarged to be seen, each value a 16x16 square


# ----- the server ------------------------------------------------------------------------------
def _outward_address() -> str | None:
    """This machine's address on its network, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_server_answers_on_127_0_0_1_only_and_stops_on_close():
    view = LiveView(tiny_net(), sample(), title="tiny")
    try:
        assert view.server.server_address[0] == "127.0.0.1" and view.port > 0
        assert view.url == f"http://127.0.0.1:{view.port}/"
        code, body = get(view.url)
        assert code == 200 and b"convpool live: tiny" in body and b"http" not in body.split(b"<script>")[1]
        assert get(view.url.replace("127.0.0.1", "localhost"))[0] == 200
        for other in ("127.0.0.2", _outward_address()):  # the same machine, another address
            if other is not None:
                with pytest.raises(OSError), socket.create_connection((other, view.port), timeout=2):
                    pass
        assert get(view.url, host=f"evil.example:{view.port}")[0] == 403  # DNS rebinding
        assert get(view.url + "nothing")[0] == 404 and get(view.url + "image/99/0.png")[0] == 404
        assert get(view.url + "image/0/99.png")[0] == 404 and get(view.url + "image/x/0.png")[0] == 404
    finally:
        view.close(linger=0)
    with pytest.raises(OSError):
        get(view.url)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            LiveView(tiny_net(), sample(), port=taken.getsockname()[1])
    finally:
        taken.close()


def test_the_json_has_curves_and_snapshots_and_follows_new_steps():
    model, opt, train, val = setup()
    view = LiveView(model, sample(), title="tiny", epochs=2, label=0, class_names=CLASSES, interval=0, share=None)
    during = []

    def at_epoch_end(record):
        view.on_epoch_end(record)
        during.append(state(view))  # asked from the training thread, answered by the server's

    try:
        first = state(view)
        assert first["status"] == "training" and first["curves"]["steps"] == [] and first["sample"]["class"] == "top"
        snapshot = first["snapshot"]
        assert snapshot["version"] == 0 and snapshot["step"] == 0  # the untrained network
        assert [layer["name"] for layer in snapshot["layers"]] == ["0", "1", "2", "3", "6"]  # no dropout, flatten
        assert snapshot["layers"][0]["params"][0]["grad"] is None  # no step yet
        run(model, opt, train, val, on_step=view.on_step, on_epoch_end=at_epoch_end)
        assert [s["curves"]["step_count"] for s in during] == [4, 8]
        assert len(during[1]["curves"]["epochs"]) == 2 and during[1]["curves"]["epochs"][1]["val_accuracy"] >= 0
        assert during[0]["snapshot"]["version"] < during[1]["snapshot"]["version"]
        assert during[1]["snapshot"]["epoch"] == 2 and during[1]["snapshot"]["step"] == 4
        later = state(view, since=6)
        assert [(s["epoch"], s["step"]) for s in later["curves"]["steps"]] == [(2, 3), (2, 4)]
        conv = later["snapshot"]["layers"][0]
        weight, gradient = conv["params"][0]["value"], conv["params"][0]["grad"]
        expected = model[0].weight.detach().numpy()
        assert (weight["min"], weight["max"]) == pytest.approx((expected.min(), expected.max()))
        assert weight["colors"] == "signed" and gradient is not None and gradient["max"] > gradient["min"]
        assert later["snapshot"]["layers"][2]["activation"]["colors"] == "unsigned"  # after ReLU
        assert later["snapshot"]["prediction"]["class"] in CLASSES
        for picture in (weight, gradient, conv["activation"], later["snapshot"]["input"]):
            code, png = get(view.url + picture["url"])
            image = numpy.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            assert code == 200 and min(image.shape[:2]) >= 16 and image.std() > 0
    finally:
        view.close(linger=0)


def test_snapshots_keep_to_their_interval_and_share_of_the_time():
    step = {"epoch": 1, "step": 1, "steps": 4, "loss": 1.0, "accuracy": 0.5, "lr": 0.01, "images_per_second": 9.0}
    for interval, share, expected in ((0, None, 5), (3600, None, 0), (0, 1e-9, 0)):
        view = LiveView(tiny_net(), sample(), interval=interval, share=share)
        try:
            for _ in range(5):
                view.on_step(step)
            assert max(view._snapshots) == expected and view.curves.since()["step_count"] == 5
        finally:
            view.close(linger=0)


def test_training_views_wire_live_and_plot_into_fit(tmp_path, capsys):
    model, opt, train, val = setup()
    assert training_views(model, val, tmp_path).on_step is None  # neither: nothing to pay
    views = training_views(model, val, tmp_path, plot=True, port=0, title="tiny", epochs=2)
    assert views.live is not None  # a port alone turns the live view on
    url, views.live.poll_ms = views.live.url, 1  # a short wait for pages at the end
    with views:
        run(model, opt, train, val, on_step=views.on_step, on_epoch_end=views.on_epoch_end)
        assert json.loads(get(url + "state.json")[1])["curves"]["step_count"] == 8
    printed = capsys.readouterr().out
    assert f"live view: {url}" in printed and "live view stopped" in printed
    assert Image.open(tmp_path / "curves.png").size == (1100, 440)
    with pytest.raises(OSError):
        get(url)


# ----- the page in a browser -------------------------------------------------------------------
@pytest.fixture
def browser_page():
    """A fresh page in headless Chromium (tests/browser.py: skipped when Chromium or Playwright
    is not installed) with console errors and failed requests collected."""
    with chromium() as instance:
        page = instance.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("response", lambda answer: errors.append(f"{answer.status} {answer.url}") if answer.status >= 400
                else None)
        yield page, errors


def test_the_page_follows_a_short_run_in_chromium(browser_page, tmp_path):
    page, errors = browser_page
    model, opt, train, val = setup(batch_size=4)  # 16 steps an epoch
    view = LiveView(model, sample(), title="tiny on patterns", epochs=3, label=0, class_names=CLASSES,
                    interval=0.2, poll_ms=250)
    started = threading.Event()

    def slow_step(step):
        started.set()
        view.on_step(step)
        time.sleep(0.04)  # a tiny net trains too fast to watch

    failures = []

    def train_in_background():
        try:
            with view:
                run(model, opt, train, val, epochs=3, on_step=slow_step, on_epoch_end=view.on_epoch_end)
        except BaseException as error:  # reported by the test thread below
            failures.append(error)

    trainer = threading.Thread(target=train_in_background, daemon=True)
    page.goto(view.url)
    trainer.start()
    started.wait(10)
    page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 2", timeout=10_000)
    points = int(page.get_attribute("#loss-chart", "data-points"))
    page.wait_for_function(f"Number(document.getElementById('loss-chart').dataset.points) > {points}",
                           timeout=10_000)  # a later refresh brought new steps
    assert page.locator("#layers tr").count() == 5
    trainer.join(30)
    assert not trainer.is_alive() and not failures, failures
    page.wait_for_function("document.getElementById('status').textContent.includes('finished')", timeout=10_000)
    assert page.get_attribute("#loss-chart", "data-points") == "48"
    loaded = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth > 0)")
    assert len(loaded) >= 10 and all(loaded)
    drawn = page.evaluate("""() => { const c = document.getElementById('accuracy-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 80) n++; return n; }""")
    assert drawn > 200  # the blue training curve is on the canvas
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    assert errors == []
