"""torch.utils.data's names on convpool: datasets, samplers, default_collate and a DataLoader
with worker processes, so PyTorch input pipelines run with the import changed.

    from convpool.utils.data import DataLoader, TensorDataset, random_split
    dataset = TensorDataset(images, labels)            # dataset[i] -> (image, label) tensors
    train, val = random_split(dataset, [0.9, 0.1])
    for x, y in DataLoader(train, batch_size=64, shuffle=True, num_workers=2):
        ...                                            # x, y: Tensors, dtypes as in the dataset

Semantics are torch's (see each object's docstring). Where randomness is involved the draws
are NumPy's: `generator` arguments take a numpy.random.Generator, and without one the
draws come from convpool's generator (convpool.manual_seed), so runs repeat but orders
differ from torch's for the same seed. Batches keep the dataset's dtypes (uint8 images
stay uint8); `convpool.data.DataLoader` is convpool's own loader, which scales uint8 to
[0, 1] float32.
"""

from ..data.collate import collate, default_collate, default_convert
from ..data.dataset import Dataset, Subset
from ..data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from ..data.torch_datasets import ChainDataset, ConcatDataset, IterableDataset, TensorDataset, random_split
from ..data.torch_loader import DataLoader
from ..data.workers import WorkerInfo, get_worker_info

__all__ = [
    "Dataset", "TensorDataset", "ConcatDataset", "Subset", "IterableDataset", "ChainDataset", "random_split",
    "DataLoader", "default_collate", "default_convert", "collate", "Sampler", "SequentialSampler", "RandomSampler",
    "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "get_worker_info", "WorkerInfo",
]
