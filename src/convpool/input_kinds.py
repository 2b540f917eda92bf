"""What a network reads, as objects: images (N, C, H, W), waveforms (N, 1, L) and log-mel
spectrograms (N, 1, mels, frames), the last two made from recordings (N, 1, L) by a sound
front end. Each kind knows how to recognise its data, record and rebuild its front end
(the config's "input" entry), turn a data set into model inputs, size the network, check
the training options that only make sense for it, and read one file for `predict`.

    kind = input_kind("spectrogram")            # or kind_of(config), kind_for_model("audio-cnn2d")
    spec = kind.spec(dataset)                   # {"kind": "spectrogram", "front_end": {...}}
    inputs = kind.prepare(dataset, spec)        # what the network is trained on
"""

from __future__ import annotations

from typing import Any

import numpy

from . import models
from .data import ArrayDataset
from .data.audio import AudioFrontEnd


class InputKind:
    """One kind of network input. name: 'image', 'waveform' or 'spectrogram'; unit: what one
    item is called in messages; sound: whether the raw data is recordings."""

    name = "image"
    unit = "images"
    sound = False

    def holds(self, dataset: ArrayDataset) -> bool:
        """Whether the raw data is this kind's: images are (N, C, H, W), recordings (N, C, L)."""
        return (dataset.images.ndim == 3) == self.sound

    def spec(self, dataset: ArrayDataset) -> dict[str, Any]:
        """The config's "input" entry for a network trained on dataset."""
        return {"kind": self.name}

    def prepare(self, dataset: ArrayDataset, spec: dict[str, Any]) -> ArrayDataset:
        """The data as the network reads it."""
        return dataset

    def size(self, inputs: ArrayDataset) -> int:
        """The image_size that `convpool.models.build` takes for these model inputs."""
        return int(inputs.images.shape[2])

    def check_shape(self, inputs: ArrayDataset) -> None:
        """The named image models take square images."""
        height, width = inputs.images.shape[2], inputs.images.shape[3]
        if height != width:
            raise ValueError(f"the named models take square images, the data has {height}x{width}")

    def check_training(self, args: Any, model_name: str) -> None:
        """Refuse the training options this kind cannot use (images can use them all)."""

    def accepts_file(self, path: str) -> bool:
        return not path.lower().endswith(".wav")

    def read(self, path: str, config: models.ModelConfig) -> tuple[numpy.ndarray, str]:
        """One file as a batch of one model input (before normalisation), and what was done."""
        from .data import ToFloat
        from .data.images import read_image  # the image reader every command shares

        array, notes = read_image(path, config.in_channels, config.image_size)
        return ToFloat()(array[None]), notes


class SoundInput(InputKind):
    """Recordings through a front end that the config records, so predict and evaluate make
    exactly the training inputs."""

    unit = "recordings"
    sound = True
    features = "log-mel"

    def spec(self, dataset: ArrayDataset) -> dict[str, Any]:
        rate = int(getattr(dataset, "sample_rate", 8000))
        front = AudioFrontEnd(sample_rate=rate, length=dataset.images.shape[-1], features=self.features)
        return {"kind": self.name, "front_end": front.to_config()}

    def prepare(self, dataset: ArrayDataset, spec: dict[str, Any]) -> ArrayDataset:
        """Computed once for the whole set, 512 recordings at a time (a spectrogram is cheap to
        keep, slow to redo)."""
        front = AudioFrontEnd.from_config(spec["front_end"])
        features = numpy.concatenate([front(dataset.images[i:i + 512]) for i in range(0, len(dataset), 512)])
        return ArrayDataset(features, dataset.labels, classes=dataset.classes)

    def check_shape(self, inputs: ArrayDataset) -> None:
        return None

    def check_training(self, args: Any, model_name: str) -> None:
        if getattr(args, "tta", False):
            raise ValueError(f"--tta flips images; --model {model_name} reads sound")
        if getattr(args, "tta_shift", 0):
            raise ValueError(f"--tta-shift moves images; --model {model_name} reads sound")

    def accepts_file(self, path: str) -> bool:
        return path.lower().endswith(".wav")

    def read(self, path: str, config: models.ModelConfig) -> tuple[numpy.ndarray, str]:
        from .workflow import read_sound  # the sound reader every command shares

        array, notes = read_sound(path, dict(config.input))
        return array[None], notes


class WaveformInput(SoundInput):
    name = "waveform"
    features = "waveform"

    def size(self, inputs: ArrayDataset) -> int:
        return int(inputs.images.shape[-1])  # samples, for the 1-D network


class SpectrogramInput(SoundInput):
    name = "spectrogram"


KINDS: dict[str, InputKind] = {kind.name: kind for kind in (InputKind(), WaveformInput(), SpectrogramInput())}


def input_kind(name: str) -> InputKind:
    if name not in KINDS:
        raise ValueError(f"unknown input kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def kind_for_model(model_name: str) -> InputKind:
    """What the named network reads."""
    return KINDS[models.input_kind(model_name)]


def kind_of(config: models.ModelConfig) -> InputKind:
    """What a trained network reads, from its config."""
    return KINDS[config.kind]


def check_data(kind: InputKind, model_name: str, dataset: ArrayDataset) -> None:
    """Refuse a network that reads the other kind of data, naming both."""
    if kind.holds(dataset):
        return
    if kind.sound:
        raise ValueError(f"--model {model_name} reads sound, but the data is images (shape {dataset.images.shape})")
    raise ValueError(f"--model {model_name} reads images, but the data is sound (shape {dataset.images.shape}); "
                     f"choose audio-cnn1d or audio-cnn2d")
