"""Data: datasets, seeded splits, a prefetching DataLoader, batch transforms, IDX files,
Fashion-MNIST, CIFAR-10/100 and folders of class images. NumPy and the standard library, and
Pillow to decode image files.

    from convpool.data import DataLoader, load_fashion_mnist, train_val_split, transforms as T
    train = load_fashion_mnist("train")
    train_set, val_set = train_val_split(train, 0.1, seed=0, stratify=True)
    augment = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.ToFloat(),
                         T.Normalize(0.2860, 0.3530)])
    loader = DataLoader(train_set, batch_size=128, shuffle=True, seed=0, transform=augment)
    for images, labels in loader:  # float32 (128, 1, 28, 28), int64 (128,)
        ...
"""

from . import transforms
from .audio import AudioFrontEnd, fix_length, log_mel_spectrogram, mel_filter_bank, power_spectrogram
from .cifar import CIFAR10_CLASSES, load_cifar
from .dataset import ArrayDataset, Dataset, Subset, dataset_labels, random_split, train_val_split
from .fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SHA256,
    FASHION_MNIST_URL,
    download_fashion_mnist,
    find_fashion_mnist,
    load_fashion_mnist,
)
from .idx import load_idx_pair, read_idx, write_idx
from .image_folder import load_image_folder
from .images import open_image, read_image
from .loader import DataLoader
from .safe_pickle import UnsafePickleError, safe_load
from .sample import load_fashion_mnist_sample
from .sounds import Sound, read_sound
from .spoken_digits import DIGIT_CLASSES, load_spoken_digits
from .stats import channel_stats
from .transforms import Compose, Cutout, Normalize, RandomCrop, RandomHorizontalFlip, ToFloat
from .wav import read_wav, resample

__all__ = [
    "Dataset", "ArrayDataset", "Subset", "random_split", "train_val_split", "dataset_labels",
    "DataLoader", "transforms", "Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ToFloat",
    "read_idx", "write_idx", "load_idx_pair",
    "FASHION_MNIST_CLASSES", "FASHION_MNIST_SHA256", "FASHION_MNIST_URL",
    "find_fashion_mnist", "load_fashion_mnist", "download_fashion_mnist", "load_fashion_mnist_sample",
    "safe_load", "UnsafePickleError", "CIFAR10_CLASSES", "load_cifar", "load_image_folder", "Cutout",
    "read_wav", "resample", "fix_length", "mel_filter_bank", "power_spectrogram", "log_mel_spectrogram",
    "AudioFrontEnd", "load_spoken_digits", "DIGIT_CLASSES",
    "read_image", "open_image", "read_sound", "Sound", "channel_stats",
]
