"""One look inside a training model for the live view (`convpool train --live`): every
layer's output for a fixed sample (one forward pass in eval mode without gradients) and
copies of the parameters and their gradients, taken on the training thread; their numbers
(JSON) and pictures (PNG, see live_render) made on demand in the server's threads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy

from .. import nn
from ..tensor import Tensor, no_grad
from .live_render import render_png

_SKIPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Flatten, nn.Identity)  # in eval mode, copies of their input

def layer_outputs(model: nn.Module, x: numpy.ndarray) -> list[tuple[str, nn.Module, numpy.ndarray]]:
    """(name, layer, output) for every leaf layer, in the order the forward pass calls them,
    for one run of x in eval mode without gradients; every layer's mode is put back after."""
    leaves = [(name or "model", m) for name, m in model.named_modules() if next(m.children(), None) is None]
    modes = [(m, m.training) for m in model.modules()]
    recorded: list[tuple[str, nn.Module, numpy.ndarray]] = []

    def recording(name: str, module: nn.Module, forward: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            out = forward(*args, **kwargs)
            if isinstance(out, Tensor):
                recorded.append((name, module, numpy.array(out.data, copy=True)))
            return out
        return call

    for name, module in leaves:  # an instance attribute shadows the class's forward for this one pass
        object.__setattr__(module, "forward", recording(name, module, module.forward))
    try:
        model.eval()
        with no_grad():
            model(Tensor(x))
    finally:
        for _, module in leaves:
            module.__dict__.pop("forward", None)
        for module, training in modes:
            module.training = training
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
