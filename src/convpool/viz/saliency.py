"""What a trained network looked at, from convpool's own autograd.

- `saliency_map`: |d score / d input| at each pixel, the largest over the colour channels
  (Simonyan, Vedaldi and Zisserman, 2014): which pixels, changed a little, move the class
  score most.
- `grad_cam`: Grad-CAM (Selvaraju et al., 2017) on a layer's output A (C, h, w), by default
  the last conv layer's after its ReLU (`last_conv_features`): each
  channel's weight is its gradient averaged over the map, a_c = mean_ij d score / d A_cij,
  and the map is ReLU(sum_c a_c A_c): where the features that raise the score sit.

The score is the class's logit (before softmax), as in both papers: softmax would mix in
every other class. To reach d score / d A the layer's output is swapped, while the model
runs, for a leaf Tensor holding the same values (`tap`, a forward hook that replaces the
output): the rest of the network runs from that leaf and backward leaves the gradient on
it. This works for any network, whatever its forward does between the layers (a
Sequential, a residual block), not only for one whose layers can be run one after the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy

from .. import nn
from ..nn.watch import watch
from ..tensor import Tensor
from ..train import model_device


@contextmanager
def tap(layers: Mapping[str, nn.Module], leaf: bool = False) -> Iterator[dict[str, Tensor]]:
    """While the block runs, record each named layer's output in the yielded dict (forward
    hooks, removed afterwards). With leaf=True the output is replaced by a leaf Tensor with
    the same values that requires grad, so backward leaves d(loss)/d(output) in its .grad
    (the input gets no gradient through that layer then)."""
    outputs: dict[str, Tensor] = {}

    def record(name: str, layer: nn.Module, args: tuple, out: Tensor) -> Tensor:
        if leaf:
            out = Tensor(out.data, requires_grad=True)
        outputs[name] = out
        return out

    with watch(layers.items(), record):
        yield outputs


@contextmanager
def _parameters_frozen(model: nn.Module) -> Iterator[None]:
    """No gradient for the weights while explaining (faster; leaves their .grad alone)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad = flag


def _batch(model: nn.Module, x) -> numpy.ndarray:
    """x (C, H, W) or (1, C, H, W), as a one-image batch in the model's float dtype."""
    array = numpy.asarray(x.detach().numpy() if isinstance(x, Tensor) else x)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] != 1:
        raise ValueError(f"explain one image of shape (C, H, W) or (1, C, H, W), got {array.shape}")
    dtype = next(iter(model.parameters())).dtype
    return array.astype(dtype)


def _score(logits: Tensor, target: int) -> Tensor:
    if not 0 <= target < logits.shape[1]:
        raise ValueError(f"target class {target} is out of range: the model has {logits.shape[1]} classes")
    return logits[0, target]


def saliency_map(model: nn.Module, x, target: int) -> numpy.ndarray:
    """|d logit[target] / d x|, the maximum over channels: an (H, W) array >= 0."""
    image = Tensor(_batch(model, x), device=model_device(model), requires_grad=True)
    with _parameters_frozen(model):
        _score(model(image), target).backward()
    return numpy.abs(image.grad.numpy()[0]).max(axis=0)


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, layer) of every Conv2d in the model, in definition order, and of
    every fixed convolution (fast-cnn's whitening layer)."""
    from ..models.fast import Whitening

    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d | Whitening)]


def last_conv_features(model: nn.Module) -> tuple[str, nn.Module]:
    """Where Grad-CAM looks by default: the last conv layer's rectified output, i.e. the ReLU
    that follows it (past a batch norm), or the conv itself when no ReLU follows. Before
    the ReLU most of a trained network's last activations are negative, the weighted sum
    too, and the map would come out empty."""
    modules = list(model.named_modules())
    convs = [i for i, (_, m) in enumerate(modules) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no conv layer for Grad-CAM")
    for name, module in modules[convs[-1] + 1:]:
        if isinstance(module, nn.ReLU):
            return name, module
        if not isinstance(module, nn.BatchNorm2d):
            break
    return modules[convs[-1]]


@dataclass
class GradCAM:
    """Grad-CAM of one class at one layer: the map (h, w) >= 0 at the layer's resolution,
    the channel weights (C,), and the activation and its gradient (C, h, w) they come from.

    `product` is the same sum without the averaging, ReLU(sum_c g_c * A_c) per position
    (gradient x activation, as LayerCAM weights each position by its own gradient). Grad-CAM's
    mean gradient suits a network that averages its last maps (global pooling); behind a
    flatten and a fully connected layer, as in the article's CNN, a channel's mean gradient
    can be negative although the channel raises the score where it fires, and the Grad-CAM
    map can come out empty. For a ReLU network the product sums, over all positions, to the
    class score less the part the biases contribute."""

    layer: str
    cam: numpy.ndarray
    weights: numpy.ndarray
    activation: numpy.ndarray
    gradient: numpy.ndarray

    @property
    def product(self) -> numpy.ndarray:
        return numpy.maximum((self.gradient * self.activation).sum(axis=0), 0.0)


def grad_cam(model: nn.Module, x, target: int, layer: str | nn.Module | None = None) -> GradCAM:
    """Grad-CAM for class `target` at `layer` (a module of the model or its qualified name;
    default: `last_conv_features`, the most class-specific maps that still have a spatial
    layout)."""
    named = dict(model.named_modules())
    if layer is None:
        name, module = last_conv_features(model)
    elif isinstance(layer, str):
        if layer not in named:
            raise ValueError(f"no layer named {layer!r} in the model; conv layers: "
                             f"{', '.join(n for n, _ in conv_layers(model))}")
        name, module = layer, named[layer]
    else:
        name = next((n for n, m in named.items() if m is layer), None)
        if name is None:
            raise ValueError(f"{type(layer).__name__} is not a layer of the model")
        module = layer
    # no gradient for the input: the graph starts at the tapped layer
    batch = Tensor(_batch(model, x), device=model_device(model))
    with _parameters_frozen(model), tap({name: module}, leaf=True) as outputs:
        _score(model(batch), target).backward()
    activation = outputs[name]
    a = activation.detach().numpy()[0]
    g = activation.grad.numpy()[0]
    weights = g.reshape(g.shape[0], -1).mean(axis=1)
    cam = numpy.maximum(numpy.tensordot(weights, a, axes=1), 0.0)
    return GradCAM(name, cam, weights, a, g)
