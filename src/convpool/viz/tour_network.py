"""Step 7 of the tour: a trained CNN looks at the photo. Forward hooks on every layer of the
network's feature extractor record its feature maps while the network runs, so each can be
drawn as a column of a grid (CONV, RELU, POOL, ... as in the article's last figure), and the
class scores come from the whole network's own forward pass.

The model is the pretrained CIFAR-10 one where this installation ships it, and until then the
article's CNN trained on Fashion-MNIST, which sees a grey version of the photo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from .. import functional as F
from .. import models, nn
from ..data import Compose, Normalize, ToFloat
from ..models import ModelConfig
from ..nn.watch import watch
from ..tensor import Tensor, no_grad
from ..train import scores_with_mirror
from ..workflow import read_image
from .mosaic import mosaic
from .style import pyplot, save
from .tour_figures import map_limits

PREFERRED_MODELS = ("cifar10", "fashion-mnist")
MAPS_PER_LAYER = 10  # as in the article's figure: each column a grid of 10 feature maps
SIZES: dict[str, tuple[float, float]] = {"feature_maps": (14, 10), "scores": (8, 4.4)}
LABELS = {nn.Conv2d: "CONV", nn.ReLU: "RELU", nn.MaxPool2d: "POOL", nn.AvgPool2d: "POOL"}


def load_model(preferred: tuple[str, ...] = PREFERRED_MODELS) -> tuple[str, nn.Module, ModelConfig]:
    """(name, network in eval mode, config) of the first pretrained model this installation has."""
    for name in preferred:
        try:
            model, config = models.pretrained(name)
        except (ValueError, FileNotFoundError):
            continue
        return name, model, config
    raise FileNotFoundError(f"none of the pretrained models {', '.join(preferred)} is in this installation")


@dataclass(frozen=True)
class Layer:
    """One column of the feature-map grid: what the network holds after this layer."""

    label: str  # CONV, RELU, POOL, ... ("CONV+BN", "POOL+BN" when a batch norm follows)
    maps: numpy.ndarray  # (channels, height, width)


@dataclass(frozen=True)
class NetworkView:
    model_name: str
    image: numpy.ndarray  # (C, S, S) uint8: the photo as the network reads it
    notes: str  # what read_image did to the photo (converted, resized)
    layers: list[Layer]
    scores: numpy.ndarray  # the last layer's outputs, one per class
    probabilities: numpy.ndarray  # their softmax
    class_names: list[str]
    mirrored: bool = False  # the scores are the mean over the photo and its mirror image
    shift: int = 0  # ... and over copies moved this many pixels (the network's --tta-shift)

    def scored(self) -> str:
        """What the scores are of, in words (as `convpool predict` scores the photo)."""
        if not self.mirrored:
            return "the photo alone"
        moved = f", and copies moved {self.shift} pixel{'s' if self.shift != 1 else ''}" if self.shift else ""
        return f"the mean over the photo and its mirror image{moved}"


def _leaves(module: nn.Module):
    """The modules a Sequential applies, nested Sequentials opened up; any other module with
    children (a residual block) stays one step."""
    for child in module.children():
        if isinstance(child, nn.Sequential):
            yield from _leaves(child)
        else:
            yield child


def _label(module: nn.Module) -> str:
    for kind, label in LABELS.items():
        if isinstance(module, kind):
            return label
    return type(module).__name__.upper()


def feature_layers(model: nn.Module, x: Tensor) -> list[Layer]:
    """The feature maps after each layer of model.features (dropout, the identity at
    inference, left out; a batch norm folded into the conv or pool column before it),
    recorded by forward hooks while the whole model runs on x once."""
    layers: list[Layer] = []
    features = getattr(model, "features", None)
    if features is None:
        return layers
    steps = list(_leaves(features))
    outputs: list[tuple[nn.Module, Tensor]] = []
    with watch(((str(i), m) for i, m in enumerate(steps)), lambda _, m, args, out: outputs.append((m, out))):
        model(x)
    for module, out in outputs:
        if isinstance(module, nn.Dropout | nn.Dropout2d):
            continue
        if out.ndim != 4:
            break
        maps = out.numpy()[0]
        if isinstance(module, nn.BatchNorm2d) and layers and layers[-1].label in ("CONV", "POOL"):
            layers[-1] = Layer(layers[-1].label + "+BN", maps)
        else:
            layers.append(Layer(_label(module), maps))
    return layers


def look(path: str, model_name: str, model: nn.Module, config: ModelConfig) -> NetworkView:
    """Run the network on an image file, read exactly as `convpool predict` reads it."""
    config = ModelConfig.from_dict(config)
    image, notes = read_image(path, config.in_channels, config.image_size)
    x = Tensor(Compose([ToFloat(), Normalize(list(config.mean or [0.0]), list(config.std or [1.0]))])(image[None]))
    mirrored = config.tta
    with no_grad():
        layers = feature_layers(model, x)
        # trained with --tta: scored as `convpool predict` scores it, with its mirror image
        scores = scores_with_mirror(model, x, config.tta_shift) if mirrored else model(x)
        probabilities = F.softmax(scores, 1).numpy()[0]
    names = config.names
    return NetworkView(model_name, image, notes, layers, scores.numpy()[0], probabilities, names, mirrored,
                       config.tta_shift if mirrored else 0)


def figure_size_pixels(name: str) -> tuple[int, int]:
    from .style import DPI

    width, height = SIZES[name]
    return round(width * DPI), round(height * DPI)


def feature_maps_figure(view: NetworkView) -> bytes:
    """Columns: the input, then every layer; in each column the first 10 feature maps, top to
    bottom, with one colour scale for the column (diverging where values can be negative)."""
    columns = 1 + len(view.layers)
    figure, axes = pyplot().subplots(1, columns, figsize=SIZES["feature_maps"], layout="constrained", squeeze=False)
    axes = axes[0]
    channels, size, _ = view.image.shape
    rows = MAPS_PER_LAYER
    picture = view.image.transpose(1, 2, 0) if channels == 3 else numpy.repeat(view.image.transpose(1, 2, 0), 3, 2)
    gap = max(1, size // 7)
    canvas = numpy.full((rows * size + (rows - 1) * gap, size, 3), 255, dtype=numpy.uint8)
    canvas[:size] = picture
    if channels == 3:  # the three channels under the photo, each tinted by its colour
        for index in range(3):
            top = (index + 1) * (size + gap)
            canvas[top:top + size, :, index] = view.image[index]
            canvas[top:top + size, :, [c for c in range(3) if c != index]] = 0
    axes[0].imshow(canvas, aspect="auto", interpolation="nearest")
    axes[0].set_title(f"INPUT\n{channels}x{size}x{size}\n0 to 255", fontsize=8)
    for ax, layer in zip(axes[1:], view.layers, strict=True):
        shown = layer.maps[:rows]
        limits = map_limits(shown)
        cmap = pyplot().get_cmap(limits.pop("cmap")).with_extremes(bad="white")
        column = mosaic(shown, 1, gap=max(1, shown.shape[1] // 7))  # top to bottom, a blank gap between two
        ax.imshow(column, cmap=cmap, **limits, aspect="auto", interpolation="nearest")
        c, h, w = layer.maps.shape
        ax.set_title(f"{layer.label}\n{c}x{h}x{w}\n{layer.maps.min():.2g} to {layer.maps.max():.2g}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    figure.suptitle(f"What the {view.model_name} network computes, layer by layer: the first {rows} feature maps of "
                    "each layer, top to bottom.\nOne colour scale per column: blue negative, white zero, red "
                    "positive; viridis where nothing is negative.", fontsize=10)
    return save(figure)


def scores_figure(view: NetworkView) -> bytes:
    """The final layer's scores as probabilities, one bar per class, the highest first."""
    order = numpy.argsort(-view.probabilities)
    figure, axes = pyplot().subplots(figsize=SIZES["scores"], layout="constrained")
    names = [view.class_names[i] for i in order]
    values = view.probabilities[order]
    colours = ["#e66101"] + ["#9e9ac8"] * (len(order) - 1)
    axes.barh(range(len(order)), values, color=colours)
    axes.set_yticks(range(len(order)), names)
    axes.invert_yaxis()
    axes.set_xlim(0, 1.18)
    axes.set_xlabel(f"probability (softmax of the scores of {view.scored()})")
    for y, index in enumerate(order):
        axes.text(view.probabilities[index] + 0.01, y, f"{view.probabilities[index]:.1%}  (score "
                  f"{view.scores[index]:.2f})", va="center", fontsize=8)
    title = f"The {view.model_name} network's answer: {names[0]} ({values[0]:.0%})"
    if "car" not in " ".join(view.class_names).lower() and "automobile" not in " ".join(view.class_names).lower():
        title += "\n(it was never shown a car: none of its classes is one)"
    axes.set_title(title)
    return save(figure)
