"""convpool.distributed: data-parallel training on K processes over MPI (mpi4py).

Start K processes with `mpiexec -n K python train.py` (or `convpool train --processes K`);
each holds the whole network and a shard of every global batch, and the gradients are
averaged before each optimiser step, so K processes make the steps one process makes.

    from convpool import distributed as dist
    dist.init()                                  # a world of one without MPI
    model = dist.DistributedDataParallel(model)  # rank 0's weights everywhere
    ...                                          # forward, loss, backward, step as usual

Names as in torch.distributed and torch.nn.parallel; see world.py, ddp.py, sampler.py,
sync_batchnorm.py and training.py.
"""

from .ddp import DistributedDataParallel  # noqa: I001  (after world: it builds on it)
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from .world import (
    DistributedError,
    DistributedTimeout,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object,
    init,
    is_initialized,
    is_main,
    launched_by_mpi,
    local_world_size,
    main_first,
    rank,
    world_size,
)

__all__ = [
    "init", "is_initialized", "rank", "world_size", "local_world_size", "is_main", "barrier", "all_reduce",
    "broadcast", "all_gather", "broadcast_object", "main_first", "launched_by_mpi", "DistributedError",
    "DistributedTimeout", "DistributedDataParallel", "DistributedSampler", "SyncBatchNorm",
    "convert_sync_batchnorm",
]
