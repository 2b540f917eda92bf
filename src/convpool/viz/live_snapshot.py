"""One look inside a training model for the live view (`convpool train --live`): every
layer's output for a fixed sample (one forward pass in eval mode without gradients) and
copies of the parameters and their gradients, taken on the training thread; their numbers
(JSON) and pictures (PNG, see live_render) made on demand in the server's threads."""

from __future__ import annotations

import time
from typing import Any

import numpy

from .. import backend, nn
from ..nn.watch import leaves, modes_kept, watch
from ..tensor import Tensor, no_grad
from ..train import model_device
from .live_render import render_png

_SKIPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Flatten, nn.Identity)  # in eval mode, copies of their input

def layer_outputs(model: nn.Module, x: numpy.ndarray) -> list[tuple[str, nn.Module, numpy.ndarray]]:
    """(name, layer, output) for every leaf layer, in the order the forward pass calls them,
    for one run of x in eval mode without gradients; every layer's mode is put back after."""
    recorded: list[tuple[str, nn.Module, numpy.ndarray]] = []

    def record(name: str, module: nn.Module, args: tuple, out: Any) -> None:
        if isinstance(out, Tensor):
            recorded.append((name, module, _host_copy(out.data)))

    with modes_kept(model), watch(leaves(model), record), no_grad():  # forward hooks, for this one pass
        model.eval()
        model(Tensor(x, device=model_device(model)))
    return recorded


def _host_copy(array) -> numpy.ndarray:
    """A host copy the server's threads can draw while training goes on (from a GPU too)."""
    host = backend.to_host(array)
    return host.copy() if host is array else host


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
            grad = None if param.grad is None else self._keep(_host_copy(param.grad.data), "signed")
            kept.append({"name": name, "shape": list(param.shape),
                         "value": self._keep(_host_copy(param.data), "signed"), "grad": grad})
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
