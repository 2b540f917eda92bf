"""Why a trained network gave its answer for one image, as figures and one HTML page: the
top classes, the first layer's learned kernels, every conv layer's feature maps, and the
saliency map and Grad-CAM of the winning class (both from convpool's own autograd). A sound
works the same way when the network reads a log-mel spectrogram (a one-channel picture of
mel band against time, drawn with low frequencies at the bottom).

Colour choices (see viz/style.py): kernels and conv outputs are signed, so they use the
diverging map, symmetric about zero and shared by all tiles of one figure so that tiles
compare; first-layer kernels of a colour network are drawn instead as colour tiles
(0.5 + w / 2max|w| per channel: grey is zero, a reddish tile answers to red), the
picture of AlexNet's first layer. Saliency and Grad-CAM cannot be negative: sequential map.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from .. import functional as F
from ..data import Compose, Normalize, ToFloat
from ..models import ModelConfig
from ..tensor import Tensor, no_grad
from ..train import model_device
from .mosaic import mosaic as tile_mosaic
from .page import Page
from .saliency import GradCAM, conv_layers, grad_cam, saliency_map, tap
from .style import GREY_CMAP, SIGNED_CMAP, UNSIGNED_CMAP, color_limits, pyplot, save

MAX_MAPS = 64  # feature maps drawn per layer (the rest are named in the title)


@dataclass
class Explanation:
    """The numbers behind the figures for one input."""

    image: numpy.ndarray  # as the network saw it: (C, H, W) uint8, or a (1, mels, frames) spectrogram
    class_names: list[str]
    probabilities: numpy.ndarray  # (classes,)
    kernels: tuple[str, numpy.ndarray]  # first conv layer: name, weight (O, C, kH, kW)
    feature_maps: list[tuple[str, numpy.ndarray]]  # every conv layer: name, output (C, h, w)
    saliency: numpy.ndarray  # (H, W) >= 0
    cam: GradCAM
    notes: list[str] = field(default_factory=list)
    sound: bool = False  # the input is a spectrogram
    fixed_kernels: bool = False  # the first layer's kernels were set, not learned (fast-cnn's whitening)

    @property
    def target(self) -> int:
        return int(numpy.argmax(self.probabilities))

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        order = numpy.argsort(-self.probabilities)[:k]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]


def explain(model, config: ModelConfig | Mapping[str, Any], image: numpy.ndarray, notes: str = "") -> Explanation:
    """Run the model (in eval mode) on one input normalised as its config says, recording
    every conv layer's output, then the saliency and Grad-CAM of the top class. The input is
    a (C, H, W) uint8 image, or the (1, mels, frames) spectrogram of a sound when the config's
    input kind is "spectrogram" (see workflow.read_sound)."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer to show")
    model.eval()
    mean, std, class_names, kind = _reading(config)
    x = Compose([ToFloat(), Normalize(mean, std)])(image[None])
    with no_grad(), tap(dict(convs)) as outputs:
        logits = model(Tensor(x, device=model_device(model)))
    probabilities = F.softmax(logits, 1).numpy()[0].astype(numpy.float64)
    names = [str(n) for n in class_names or range(len(probabilities))]
    target = int(numpy.argmax(probabilities))
    maps = [(name, outputs[name].numpy()[0]) for name, _ in convs if name in outputs]
    first_name, first = convs[0]
    return Explanation(image, names, probabilities, (first_name, first.weight.detach().numpy()), maps,
                       saliency_map(model, x, target), grad_cam(model, x, target), [notes] if notes else [],
                       kind == "spectrogram", not first.weight.requires_grad)


def _reading(config: ModelConfig | Mapping[str, Any]) -> tuple[list[float], list[float], list[str] | None, str]:
    """(mean, std, class names or None, input kind): a whole ModelConfig, or a mapping with
    at least mean and std (explain needs no more)."""
    if isinstance(config, ModelConfig):
        if config.mean is None or config.std is None:
            raise ValueError("explain: the config has no mean and std (the input normalisation)")
        return list(config.mean), list(config.std), list(config.class_names or []) or None, config.kind
    missing = [key for key in ("mean", "std") if key not in config]
    if missing:
        raise ValueError(f"explain: the config has no {' and '.join(missing)} (the input normalisation)")
    spec = config.get("input") or {}
    return (list(config["mean"]), list(config["std"]), config.get("class_names"),
            spec.get("kind", "image") if isinstance(spec, Mapping) else "image")


# ----- figures -----------------------------------------------------------------------------
def _show_input(axes, e: Explanation) -> None:
    """RGB as colour; any other number of channels as grey (their mean); a spectrogram in
    grey from its own minimum to maximum, low frequencies at the bottom, with its axes named."""
    if e.sound:
        axes.imshow(e.image[0], cmap=GREY_CMAP, origin="lower", aspect="auto", interpolation="nearest")
        axes.set_xlabel("frame", fontsize=8)
        axes.set_ylabel("mel band", fontsize=8)
        axes.tick_params(labelsize=7)
        return
    if e.image.shape[0] == 3:
        axes.imshow(e.image.transpose(1, 2, 0), interpolation="nearest")
    else:
        axes.imshow(e.image.mean(axis=0), cmap=GREY_CMAP, vmin=0, vmax=255, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])


def _placed(e: Explanation) -> dict:
    """imshow arguments that lay a map over the input the way `_show_input` drew it."""
    return {"origin": "lower", "aspect": "auto"} if e.sound else {}


def _tile_axes(axes, count: int, columns: int, height: int, width: int) -> None:
    """Ticks that name the tiles: the row's first channel on the left, + the column below."""
    rows = -(-count // columns)
    axes.set_xticks([c * (width + 1) + (width - 1) / 2 for c in range(columns)], [f"+{c}" for c in range(columns)],
                    fontsize=7)
    axes.set_yticks([r * (height + 1) + (height - 1) / 2 for r in range(rows)], [str(r * columns) for r in range(rows)],
                    fontsize=7)
    axes.tick_params(length=0)
    axes.set_ylabel("channel")
    for side in axes.spines.values():
        side.set_visible(False)


def _signed_map():
    from matplotlib import colormaps

    return colormaps[SIGNED_CMAP].with_extremes(bad="white")


def _figure_for(mosaic: numpy.ndarray, width: float = 7.5):
    height, wide = mosaic.shape[:2]
    return pyplot().subplots(figsize=(width, min(10.0, max(2.0, width * 0.8 * height / wide + 1.0))),
                             layout="constrained")


def input_figure(e: Explanation) -> bytes:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(4.4 if e.sound else 3.2, 3.4), layout="constrained")
    _show_input(axes, e)
    channels, height, width = e.image.shape
    what = "log-mel spectrogram" if e.sound else "input"
    axes.set_title(f"{what} as the network sees it\n{channels}x{height}x{width}", fontsize=10)
    return save(figure)


def top_classes_figure(e: Explanation, k: int = 5) -> bytes:
    top = e.top(k)
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 0.45 * len(top) + 1.3), layout="constrained")
    positions = numpy.arange(len(top))
    colours = ["#c0392b"] + ["#7f8c8d"] * (len(top) - 1)
    axes.barh(positions, [p for _, p in top], color=colours)
    axes.set_yticks(positions, [name for name, _ in top])
    axes.invert_yaxis()
    axes.set_xlim(0, 1.12)
    axes.set_xlabel("probability (softmax of the class scores)")
    for y, (_, p) in zip(positions, top, strict=True):
        axes.text(p + 0.01, y, f"{p:.1%}" if p >= 0.001 else "<0.1%", va="center", fontsize=9)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(f"top {len(top)} of {len(e.class_names)} classes: {top[0][0]} ({top[0][1]:.1%})")
    return save(figure)


def kernels_figure(e: Explanation) -> bytes:
    """One tile per output channel of the first conv layer: a colour tile for an RGB input,
    otherwise the input channels side by side on the diverging map."""
    name, weight = e.kernels
    out_channels, in_channels, kh, kw = weight.shape
    bound = float(numpy.abs(weight).max()) or 1.0
    columns = min(out_channels, 8)
    if in_channels == 3:
        tiles = numpy.clip(0.5 + weight.transpose(0, 2, 3, 1) / (2 * bound), 0, 1)
        how = "colour tiles: grey 0, a red tile answers to red"
    else:  # the channels of each kernel side by side, a NaN column between them
        gap = numpy.full((out_channels, kh, 1), numpy.nan)
        tiles = numpy.concatenate([part for c in range(in_channels) for part in (weight[:, c], gap)][:-1], axis=2)
        how = "blue negative, red positive"
    if e.sound:
        tiles = tiles[:, ::-1]  # low mel bands at the bottom, as the spectrogram is drawn
    mosaic = tile_mosaic(tiles, columns)
    figure, axes = _figure_for(mosaic, 6.5)
    if in_channels == 3:
        axes.imshow(numpy.nan_to_num(mosaic, nan=1.0), interpolation="nearest")
    else:
        image = axes.imshow(mosaic, cmap=_signed_map(), vmin=-bound, vmax=bound, interpolation="nearest")
        figure.colorbar(image, ax=axes, shrink=0.8, label="weight")
    _tile_axes(axes, out_channels, columns, *tiles.shape[1:3])
    learned = "fixed (whitening)" if e.fixed_kernels else "learned"
    axes.set_title(f"{name}: {out_channels} {learned} {kh}x{kw} kernels over {in_channels} input "
                   f"channel{'s' if in_channels > 1 else ''}\n({how})", fontsize=10)
    return save(figure)


def feature_maps_figure(name: str, maps: numpy.ndarray, low_at_bottom: bool = False) -> bytes:
    """A grid of one conv layer's output channels on one shared, zero-centred scale
    (low_at_bottom: each map upside down, for a spectrogram's low frequencies)."""
    shown = maps[:MAX_MAPS, ::-1] if low_at_bottom else maps[:MAX_MAPS]
    columns = min(len(shown), 8)
    mosaic = tile_mosaic(shown, columns)
    figure, axes = _figure_for(mosaic)
    limits = color_limits(shown)
    if limits["cmap"] == SIGNED_CMAP:
        limits["cmap"] = _signed_map()
    image = axes.imshow(mosaic, interpolation="nearest", **limits)
    _tile_axes(axes, len(shown), columns, *shown.shape[1:])
    more = "" if len(maps) <= MAX_MAPS else f", first {MAX_MAPS} shown"
    channels, height, width = maps.shape
    axes.set_title(f"{name} output, shape {channels}x{height}x{width}{more}, before the activation", fontsize=10)
    figure.colorbar(image, ax=axes, shrink=0.8, label="activation")
    return save(figure)


def _upsample(values: numpy.ndarray, height: int, width: int) -> numpy.ndarray:
    """Bilinear resize of a 2-D map (Pillow), for drawing a coarse map over the input."""
    from PIL import Image

    picture = Image.fromarray(values.astype(numpy.float32), mode="F")
    return numpy.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), dtype=numpy.float64)


def _overlay(axes, e: Explanation, heat: numpy.ndarray, title: str) -> None:
    from matplotlib import colormaps

    if e.sound:
        axes.imshow(e.image[0], cmap=GREY_CMAP, interpolation="nearest", **_placed(e))
    else:
        axes.imshow(e.image.mean(axis=0), cmap=GREY_CMAP, vmin=0, vmax=255, interpolation="nearest")

    share = heat / (float(heat.max()) or 1.0)
    colours = colormaps[UNSIGNED_CMAP](share)
    colours[..., 3] = 0.85 * share  # weak values transparent: the input shows through them
    axes.imshow(colours, interpolation="bilinear", **_placed(e))
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def saliency_figure(e: Explanation) -> bytes:
    target = e.class_names[e.target]
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(9, 3.4), layout="constrained")
    _show_input(axes[0], e)
    axes[0].set_title("input", fontsize=9)
    image = axes[1].imshow(e.saliency, cmap=UNSIGNED_CMAP, vmin=0, interpolation="nearest", **_placed(e))
    axes[1].set_title("|d score / d input|, max over channels", fontsize=9)
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    figure.colorbar(image, ax=axes[1], shrink=0.8)
    _overlay(axes[2], e, e.saliency, "over the input")
    cells = "time-frequency cells" if e.sound else "pixels"
    figure.suptitle(f"saliency: which {cells} move the score of '{target}' most", fontsize=10)
    return save(figure)


def grad_cam_figure(e: Explanation) -> bytes:
    """The input, Grad-CAM over it, and gradient x activation over it (see saliency.GradCAM)."""
    target = e.class_names[e.target]
    _, height, width = e.image.shape
    layer, (h, w) = e.cam.layer, e.cam.cam.shape
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(9.6, 3.6), layout="constrained")
    _show_input(axes[0], e)
    axes[0].set_title("input", fontsize=9)
    for ax, values, what in ((axes[1], e.cam.cam, "Grad-CAM: mean gradient per channel"),
                             (axes[2], e.cam.product, "gradient x activation per position")):
        peak = float(values.max())
        note = f"peak {peak:.3g}" if peak > 0 else "zero everywhere"
        _overlay(ax, e, _upsample(values, height, width), f"{what}\n{layer} {h}x{w}, {note}")
    colours = plt.cm.ScalarMappable(cmap=UNSIGNED_CMAP, norm=plt.Normalize(0, 1))
    figure.colorbar(colours, ax=axes[1:], shrink=0.8, label="share of the map's peak")
    figure.suptitle(f"where the features that raise the score of '{target}' are", fontsize=10)
    return save(figure)


# ----- the report --------------------------------------------------------------------------
def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in name)


def write_report(e: Explanation, out_dir: str | Path, title: str) -> tuple[Path, list[Path]]:
    """Numbered PNGs and index.html (figures embedded) in out_dir; returns (page, PNGs)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def figure(png: bytes, stem: str) -> bytes:
        path = out_dir / f"{len(written) + 1:02d}-{stem}.png"
        path.write_bytes(png)
        written.append(path)
        return png

    target = e.class_names[e.target]
    page = Page(title, "Every number here was computed by convpool's own operators and autograd on this input.")
    page.heading("The input")
    what = ("The recording as the network hears it: a log-mel spectrogram, time to the right and low frequencies "
            "at the bottom" if e.sound else "The image as the network takes it")
    page.figure(figure(input_figure(e), "input"), what + (f" ({'; '.join(e.notes)})." if e.notes else "."))
    page.heading("Top classes")
    rows = "".join(f"<tr><td style=\"text-align:left\">{html.escape(name)}</td><td>{p:.2%}</td></tr>"
                   for name, p in e.top())
    page.raw(f"<table><tr><th>class</th><th>probability</th></tr>{rows}</table>")
    page.figure(figure(top_classes_figure(e), "top5"), "Softmax of the final layer's class scores.")
    kernel_name, weight = e.kernels
    page.heading("The first layer's kernels")
    page.figure(figure(kernels_figure(e), f"kernels-{_slug(kernel_name)}"),
                f"Each tile is one {'fixed' if e.fixed_kernels else 'learned'} {weight.shape[2]}x{weight.shape[3]} "
                f"kernel of {kernel_name}; "
                f"it slides over the {'spectrogram' if e.sound else 'image'} as a kernel of convpool filter does, "
                "and its output is the first layer's feature map of the same number below.")
    page.heading("Feature maps")
    page.paragraph("Each conv layer's output for this input, one tile per channel, on one scale centred on zero: "
                   "red is positive, blue negative; a ReLU right after the layer keeps the red and sets the blue "
                   "to zero.")
    for name, maps in e.feature_maps:
        page.figure(figure(feature_maps_figure(name, maps, e.sound), f"features-{_slug(name)}"),
                    f"{name}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}.")
    page.heading("What the network looked at")
    page.figure(figure(saliency_figure(e), "saliency"),
                f"Saliency: the size of the gradient of the score of '{target}' with respect to each input "
                f"{'time-frequency cell' if e.sound else 'pixel'} (the largest over channels), by backpropagation "
                "through the whole network.")
    page.figure(figure(grad_cam_figure(e), "grad-cam"),
                f"Middle: Grad-CAM at {e.cam.layer}, its feature maps weighted by the average gradient of the "
                f"score of '{target}' over each map, summed, negative parts set to zero, upsampled over the input. "
                "Right: the same without the averaging, each position's activation times its own gradient. "
                "Behind a flatten and a fully connected layer a channel's average gradient can be negative "
                "although the channel raises the score where it fires; Grad-CAM then misses it (or is empty) "
                "and the right-hand map still shows it.")
    return page.write(out_dir / "index.html"), written
