"""A trained network's configuration, typed and checked: what `convpool.models.build` takes
(in_channels, num_classes, image_size) and what its inputs need (class names, the input
normalisation, the input kind, test-time copies). Checkpoints store it as a JSON object;
`ModelConfig.from_dict` reads one back and refuses wrong types and ranges in one line, before
any network is built, so a damaged or hostile file never reaches a builder (a `num_classes`
of 1e10 would ask for terabytes).

    config = ModelConfig.from_dict({"in_channels": 1, "num_classes": 10, "image_size": 28})
    config.to_dict()    # the JSON object again, unknown keys kept
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("image", "waveform", "spectrogram")
# generous bounds: far past any network convpool trains, far below a size that cannot be allocated
MAX_CHANNELS = 64
MAX_CLASSES = 100_000
MAX_IMAGE_SIZE = 1024  # pixels a side (images, spectrograms)
MAX_WAVEFORM = 10_000_000  # samples


class ModelConfigError(ValueError):
    """A model configuration with a missing key, a wrong type or a value out of range."""


@dataclass(frozen=True)
class ModelConfig:
    """in_channels, num_classes, image_size (pixels a side; samples for a waveform network);
    class_names (num_classes of them) or None; mean and std (one per channel, std > 0) or
    None; input: {"kind": "image"} or a sound front end's {"kind", "front_end"}; tta and
    tta_shift: how the network was scored in training (see `convpool.train.evaluate`).
    extra keeps keys this class does not know, so a round trip loses nothing."""

    in_channels: int
    num_classes: int
    image_size: int
    class_names: tuple[str, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    input: Mapping[str, Any] = field(default_factory=lambda: {"kind": "image"})
    tta: bool = False
    tta_shift: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """'image', 'waveform' or 'spectrogram'."""
        return self.input["kind"]

    @property
    def names(self) -> list[str]:
        """The class names, or the class numbers as text when none were saved."""
        return list(self.class_names) if self.class_names else [str(i) for i in range(self.num_classes)]

    def __getitem__(self, key: str) -> Any:
        """config["num_classes"]: the JSON object's entry (for code written against the dict)."""
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> Any:
        """The JSON object's keys (so dict(config) and dict(config, tta=True) work)."""
        return self.to_dict().keys()

    def build_arguments(self) -> dict[str, int]:
        """What `convpool.models.build` takes."""
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, "image_size": self.image_size}

    @classmethod
    def from_dict(cls, data: Any, where: str = "ModelConfig.from_dict") -> ModelConfig:
        """The checked configuration of a JSON object; where names its source in errors."""
        if isinstance(data, ModelConfig):
            return data
        if not isinstance(data, Mapping):
            raise ModelConfigError(f"{where}: the model config must be a JSON object, got {_shown(data)}")
        missing = [key for key in ("in_channels", "num_classes", "image_size") if key not in data]
        if missing:
            raise ModelConfigError(f"{where}: the model config has no {', '.join(map(repr, missing))} "
                                   f"(it has {', '.join(map(repr, data)) or 'nothing'})")
        spec = data.get("input", {"kind": "image"})
        if not isinstance(spec, Mapping) or spec.get("kind") not in KINDS:
            raise ModelConfigError(f"{where}: input must be an object whose kind is one of {', '.join(KINDS)}, "
                                   f"got {_shown(spec)}")
        spec = dict(spec)
        if spec["kind"] != "image":
            _check_front_end(spec, where)
        longest = MAX_WAVEFORM if spec["kind"] == "waveform" else MAX_IMAGE_SIZE
        in_channels = _integer(data, "in_channels", 1, MAX_CHANNELS, where)
        num_classes = _integer(data, "num_classes", 1, MAX_CLASSES, where)
        image_size = _integer(data, "image_size", 1, longest, where)
        names = data.get("class_names")
        if names is not None:
            if not isinstance(names, list | tuple) or not all(isinstance(n, str | int) for n in names):
                raise ModelConfigError(f"{where}: class_names must be a list of names, got {_shown(names)}")
            if len(names) != num_classes:
                raise ModelConfigError(f"{where}: {len(names)} class_names for num_classes {num_classes}")
            names = tuple(str(n) for n in names)
        mean = _numbers(data, "mean", in_channels, where)
        std = _numbers(data, "std", in_channels, where)
        if std is not None and min(std) <= 0:
            raise ModelConfigError(f"{where}: std must be positive, got {list(std)}")
        tta = data.get("tta", False)
        if not isinstance(tta, bool):
            raise ModelConfigError(f"{where}: tta must be true or false, got {_shown(tta)}")
        tta_shift = _integer(data, "tta_shift", 0, max(image_size - 1, 0), where) if "tta_shift" in data else 0
        known = {"in_channels", "num_classes", "image_size", "class_names", "mean", "std", "input", "tta",
                 "tta_shift"}
        return cls(in_channels, num_classes, image_size, names, mean, std, spec, tta, tta_shift,
                   {k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object checkpoints store (the keys this class does not know included)."""
        out: dict[str, Any] = {"in_channels": self.in_channels, "num_classes": self.num_classes,
                               "image_size": self.image_size}
        if self.class_names is not None:
            out["class_names"] = list(self.class_names)
        if self.mean is not None:
            out["mean"] = list(self.mean)
        if self.std is not None:
            out["std"] = list(self.std)
        out.update({"input": dict(self.input), "tta": self.tta, "tta_shift": self.tta_shift})
        out.update(self.extra)
        return out


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _integer(data: Mapping[str, Any], key: str, low: int, high: int, where: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelConfigError(f"{where}: {key} must be a whole number from {low} to {high}, got {_shown(value)}")
    if not low <= value <= high:
        raise ModelConfigError(f"{where}: {key} must be from {low} to {high}, got {value}")
    return int(value)


def _numbers(data: Mapping[str, Any], key: str, channels: int, where: str) -> tuple[float, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, list | tuple) or not value
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ModelConfigError(f"{where}: {key} must be a list of finite numbers, got {_shown(value)}")
    if len(value) not in (1, channels):
        raise ModelConfigError(f"{where}: {key} has {len(value)} values for {channels} input channel(s)")
    return tuple(float(v) for v in value)


def _check_front_end(spec: dict[str, Any], where: str) -> None:
    from ..data.audio import AudioFrontEnd

    front = spec.get("front_end")
    if not isinstance(front, Mapping):
        raise ModelConfigError(f"{where}: a {spec['kind']} network's input needs a front_end object, "
                               f"got {_shown(front)}")
    try:
        AudioFrontEnd.from_config(front)
    except (TypeError, ValueError) as error:
        raise ModelConfigError(f"{where}: the input's front_end cannot be used: {error}") from None
