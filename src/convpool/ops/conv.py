"""Convolution (1-, 2- and 3-D, groups, dilation, 'same') and transposed convolution.

The article's picture: each output value is the weighted sum of the pixels under the
kernel, over every input channel, plus a bias. Computed as a window matrix and one matrix
product, or, where that is slow, in one of the other ways listed in `conv_paths.PATHS`: the
arguments are checked here, turned into one `conv_geometry.Geometry`, and the table picks
the path. The gradients, from y = W @ cols:

    gW    = gy @ cols^T                                   (the weight gradient is a conv of x with gy)
    gcols = W^T @ gy,  gx = col2im(gcols)                 (the input gradient is a transposed conv)

and a transposed convolution's forward is exactly that input gradient, so it is computed as
one, on the path the table picks for the convolution it is the adjoint of; its own backward
is a plain convolution (the input's gradient) and a weight gradient: each formula is
written once.
"""

from __future__ import annotations

from ..backend import array_module
from ..shapes import same_padding, transposed_output_length
from ..tensor import Tensor
from .args import check_input, check_same_dtype, ntuple, spatial_names
from .conv_geometry import INPUT_ONLY, NOTHING, WEIGHT_ONLY, Geometry, Needs, Saved, geometry
from .conv_node import conv_node
from .conv_paths import choose_outer
from .im2col import crop_spatial, pad_spatial


# ----- differentiable ops ----------------------------------------------------------------
def convolution(x: Tensor, w: Tensor, b: Tensor | None, g: Geometry) -> Tensor:
    """y = conv(x, w) + b on checked arguments, on the path the table picks for geometry g."""
    needs = Needs.of(x, w, b)
    path = choose_outer(g, array_module(x.data), needs)
    y, saved = path.forward(x.data, w.data, None if b is None else b.data, g, needs)

    def gradients(gy):
        return path.backward(gy, saved, needs)

    return conv_node(y, x, w, b, gradients, f"conv{g.dims}d")


def transposed_convolution(x: Tensor, w: Tensor, b: Tensor | None, stride, padding, output_padding,
                           dilation, groups: int) -> Tensor:
    """The adjoint of convolution with the same weight (x plays the output gradient).

    The convolution it is the adjoint of maps the unpadded `base` = (n-1)S + D(K-1) + 1
    pixels to x's n; y is that convolution's input gradient, output_padding zeros after it,
    cropped by `padding` on both sides."""
    nd = len(stride)
    xp = array_module(x.data)
    kernel = w.shape[2:]
    base = tuple((n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip(x.shape[2:], stride, dilation, kernel,
                                                                     strict=True))
    g = geometry((x.shape[0], w.shape[1] * groups) + base, w.shape, stride, ((0, 0),) * nd, dilation, groups,
                 x.data.itemsize)
    if g.out != tuple(x.shape[2:]):
        raise AssertionError(f"transposed convolution: adjoint geometry {g.out} for input {x.shape}")
    y_base, _ = choose_outer(g, xp, INPUT_ONLY).backward(x.data, Saved(g, w.data), INPUT_ONLY)
    pads = tuple((p, p) for p in padding)
    full = tuple(n + op for n, op in zip(base, output_padding, strict=True))
    out = tuple(n - 2 * p for n, p in zip(full, padding, strict=True))
    if any(output_padding):
        y_base = pad_spatial(y_base, tuple((0, op) for op in output_padding))
    y = xp.ascontiguousarray(crop_spatial(y_base, pads, out))
    if b is not None:
        y += b.data.reshape((1, -1) + (1,) * nd)

    def gradients(gy):
        gy_base = crop_spatial(pad_spatial(gy, pads), ((0, 0),) * nd, base)  # output_padding's pixels: no gradient
        gx = choose_outer(g, xp, NOTHING).forward(gy_base, w.data, None, g, NOTHING)[0] if x.requires_grad else None
        gw = None
        if w.requires_grad:
            _, gw = choose_outer(g, xp, WEIGHT_ONLY).backward(x.data, Saved(g, w.data, x=gy_base), WEIGHT_ONLY)
        return gx, gw

    return conv_node(y, x, w, b, gradients, f"conv_transpose{nd}d")


# ----- public functions (PyTorch's names, arguments and defaults) ------------------------
def _check_weight(op: str, x: Tensor, weight, bias, nd: int, groups, transposed: bool):
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a convpool.Tensor, got {type(weight).__name__}")
    if weight.ndim != nd + 2:
        layout = "(in_channels, out_channels/groups, " if transposed else "(out_channels, in_channels/groups, "
        raise ValueError(f"{op}: weight must be {nd + 2}-D {layout}{spatial_names(nd)}), "
                         f"got shape {weight.shape}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a convpool.Tensor or None, got {type(bias).__name__}")
    check_same_dtype(op, input=x, weight=weight, bias=bias)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got groups={groups!r}")
    channels = x.shape[1]
    if transposed:
        expected_in, out_channels = weight.shape[0], weight.shape[1] * groups
    else:
        expected_in, out_channels = weight.shape[1] * groups, weight.shape[0]
    if channels % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the input's {channels} channels "
                         f"(input shape {x.shape})")
    if (weight.shape[0]) % groups:
        raise ValueError(f"{op}: groups={groups} does not divide weight.shape[0]={weight.shape[0]} "
                         f"(weight shape {weight.shape})")
    if channels != expected_in:
        what = "weight.shape[0]" if transposed else f"weight.shape[1] * groups = {weight.shape[1]} * {groups}"
        raise ValueError(f"{op}: input has {channels} channels but the weight expects {expected_in} "
                         f"({what}); input shape {x.shape}, weight shape {weight.shape}")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},) to match the weight's output "
                         f"channels, got {bias.shape}; weight shape {weight.shape}")


def _conv(op: str, nd: int, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    x, unbatched = check_input(op, input, nd)
    _check_weight(op, x, weight, bias, nd, groups, transposed=False)
    stride = ntuple("stride", stride, nd, 1, op)
    dilation = ntuple("dilation", dilation, nd, 1, op)
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride} "
                                 "(the output size would not equal the input size)")
            pads = tuple(same_padding(k, d) for k, d in zip(kernel, dilation, strict=True))
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    else:
        pads = tuple((p, p) for p in ntuple("padding", padding, nd, 0, op))
    try:
        g = geometry(x.shape, weight.shape, stride, pads, dilation, groups, x.data.itemsize)
    except ValueError as error:
        raise ValueError(f"{op}: {error}; input shape {x.shape}, weight shape {weight.shape}") from None
    y = convolution(x, weight, bias, g)
    return y.squeeze(0) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution over (N, C, L): audio, sequences. Same arguments as torch.nn.functional.conv1d.

    >>> import convpool
    >>> x = convpool.tensor([[[1., 2., 3., 4., 5.]]])
    >>> conv1d(x, convpool.tensor([[[0., 1.]]]), padding='same').tolist()
    [[[2.0, 3.0, 4.0, 5.0, 0.0]]]
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution over (N, C, H, W): each output pixel is the kernel-weighted sum of the
    pixels under it, over all input channels of its group, plus the bias."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """3-D convolution over (N, C, D, H, W): video or volumes."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op: str, nd: int, input, weight, bias, stride, padding, output_padding, groups,
                    dilation) -> Tensor:
    x, unbatched = check_input(op, input, nd)
    _check_weight(op, x, weight, bias, nd, groups, transposed=True)
    stride = ntuple("stride", stride, nd, 1, op)
    dilation = ntuple("dilation", dilation, nd, 1, op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple (PyTorch has no 'same' here), got {padding!r}")
    padding = ntuple("padding", padding, nd, 0, op)
    output_padding = ntuple("output_padding", output_padding, nd, 0, op)
    for op_pad, s, d in zip(output_padding, stride, dilation, strict=True):
        if op_pad >= s and op_pad >= d:
            raise ValueError(f"{op}: output_padding must be smaller than stride or dilation, got "
                             f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    for n, k, s, p, d, op_pad in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding,
                                     strict=True):
        try:
            transposed_output_length(n, k, s, p, d, op_pad)
        except ValueError as error:
            raise ValueError(f"{op}: {error}; input shape {x.shape}, weight shape {weight.shape}") from None
    y = transposed_convolution(x, weight, bias, stride, padding, output_padding, dilation, groups)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 1-D convolution (the gradient of conv1d with respect to its input); upsamples."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution; weight is (in_channels, out_channels/groups, kH, kW)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 3-D convolution."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)
