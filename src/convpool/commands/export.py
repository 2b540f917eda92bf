"""`convpool export`: write a trained network as an ONNX file, for runtimes without convpool
(onnxruntime on a server, a phone or a browser). The batch axis is dynamic. With
--with-preprocessing the graph takes raw pixel values (0 to 255) and applies the network's
input scaling and normalisation itself; otherwise it takes normalised input, as `convpool
predict` feeds the network."""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "write a trained network as an ONNX file"
ORDER = 45
EPILOG = ("examples:\n  convpool export pretrained:cifar10 -o cifar10.onnx\n"
          "  convpool export runs/article-cnn-1 -o model.onnx --with-preprocessing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a run folder, a weights file, or pretrained:NAME")
    parser.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    parser.add_argument("--with-preprocessing", action="store_true",
                        help="bake the input scaling (/255) and normalisation into the graph: feed raw pixels")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset version (default 17)")


def _input_shape(config: dict) -> tuple[int, ...]:
    spec = config.get("input", {"kind": "image"})
    if spec.get("kind") == "spectrogram":
        front = spec["front_end"]
        frames = front["length"] // front["hop_length"] + 1 if front.get("center", True) else \
            1 + (front["length"] - front["n_fft"]) // front["hop_length"]
        return (1, front["n_mels"], frames)
    if spec.get("kind") == "waveform":
        return (1, spec["front_end"]["length"])
    return (config["in_channels"], config["image_size"], config["image_size"])


def run(args: argparse.Namespace) -> int:
    import numpy

    from .. import onnx as convpool_onnx
    from ..onnx.classifier import classifier_metadata
    from ..tensor import Tensor
    from ..workflow import resolve_checkpoint

    model, config = resolve_checkpoint(args.checkpoint)
    config = dict(config)  # the JSON object of the config
    shape = _input_shape(config)
    preprocessing = None
    if args.with_preprocessing:
        if config.get("input", {"kind": "image"}).get("kind") != "image":
            raise ValueError("--with-preprocessing bakes in pixel scaling; this network reads sound")
        preprocessing = {"scale": 1 / 255, "mean": config["mean"], "std": config["std"]}
    example = Tensor(numpy.zeros((1, *shape), dtype=numpy.float32))
    result = convpool_onnx.export(model, example, args.output, opset_version=args.opset or convpool_onnx.DEFAULT_OPSET,
                                  input_names=["pixels" if preprocessing else "input"], output_names=["logits"],
                                  preprocessing=preprocessing,
                                  metadata=classifier_metadata(config, preprocessing is not None))
    print(f"wrote {result.path} (ONNX opset {result.opset}, {result.nodes} nodes)")
    for kind, ends in (("input", result.inputs), ("output", result.outputs)):
        for name, dims in ends:
            print(f"  {kind} {name}: float32[{', '.join(str(d) for d in dims)}]")
    if preprocessing:
        print("  the input takes raw pixel values 0-255 (scaling and normalisation are in the graph)")
    elif config.get("input", {"kind": "image"}).get("kind") == "image":
        print(f"  the input takes normalised values: (pixels / 255 - mean) / std, mean {config['mean']}, "
              f"std {config['std']}")
    else:
        print(f"  the input takes normalised features: (features - mean) / std, mean {config['mean']}, "
              f"std {config['std']}")
    return 0
