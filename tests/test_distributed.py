"""convpool.distributed: the world of one in this process, and K processes under mpiexec
(tests/mpi_worker.py): collectives, K processes stepping as one process, and faults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest
from reference import check_grad, needs_torch

import convpool
from convpool import distributed as dist
from convpool import nn
from convpool.distributed.sync_batchnorm import _sync_batch_norm
from convpool.tensor import Tensor

try:
    import torch
except ImportError:
    torch = None

WORKER = Path(__file__).with_name("mpi_worker.py")


def _mpiexec() -> str | None:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


try:
    import mpi4py  # noqa: F401
    MPIEXEC = _mpiexec()
except ImportError:
    MPIEXEC = None
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec (pip install 'convpool[mpi]')")


def mpirun(k: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {n: v for n, v in os.environ.items() if not n.startswith(("PMI_", "PMIX_", "HYDRA_", "OMPI_"))}
    return subprocess.run([MPIEXEC, "-n", str(k), sys.executable, str(WORKER), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def run_writing(k: int, program: str, out: Path, *args: str) -> Path:
    """Run the worker's `program` on k processes, writing its results to out; out, once every
    process has succeeded (the test fails with their stderr otherwise)."""
    result = mpirun(k, program, str(out), *args)
    assert result.returncode == 0, result.stderr
    return out


# ----- a world of one ---------------------------------------------------------------------
def test_world_of_one_collectives_are_identities():
    dist.init()
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    t = Tensor(numpy.arange(3.0))
    assert dist.all_reduce(t) is t and t.data.tolist() == [0.0, 1.0, 2.0]
    assert dist.all_reduce(Tensor(numpy.arange(3.0)), op="avg").data.tolist() == [0.0, 1.0, 2.0]
    assert dist.broadcast(t, src=0).data.tolist() == [0.0, 1.0, 2.0]
    slots = [Tensor(numpy.zeros(3))]
    dist.all_gather(slots, t)
    assert slots[0].data.tolist() == [0.0, 1.0, 2.0]
    dist.barrier()
    assert dist.broadcast_object({"a": 1}) == {"a": 1}


def test_collectives_refuse_bad_arguments():
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(Tensor(numpy.zeros(2)), op="prod")
    with pytest.raises(ValueError, match="src must be a rank from 0 to 0, got 1"):
        dist.broadcast(Tensor(numpy.zeros(2)), src=1)
    with pytest.raises(ValueError, match="tensor_list has 2 tensors for a world of 1"):
        dist.all_gather([Tensor(numpy.zeros(2))] * 2, Tensor(numpy.zeros(2)))
    with pytest.raises(ValueError, match=r"tensor_list\[0\] must be a float64 tensor of shape \(2,\)"):
        dist.all_gather([Tensor(numpy.zeros(3))], Tensor(numpy.zeros(2)))
    with pytest.raises(TypeError, match="expected a Tensor, got list"):
        dist.all_reduce([1.0])
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        dist.init(timeout=0)


def test_post_accumulate_grad_hook_sees_the_accumulated_gradient_once_per_backward():
    w = convpool.tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    seen = []
    remove = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.data.copy()))
    ((w * w).sum() + (3 * w).sum()).backward()  # w used twice: one accumulation, one call
    assert len(seen) == 1 and seen[0].tolist() == [5.0, 7.0]
    (w * w).sum().backward()
    assert [s.tolist() for s in seen] == [[5.0, 7.0], [7.0, 11.0]]
    remove()
    (w * w).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(print)


def test_ddp_in_a_world_of_one_is_the_module():
    convpool.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, dtype="float64"), nn.ReLU(), nn.Linear(3, 2, dtype="float64"))
    ddp = dist.DistributedDataParallel(model)
    x = Tensor(numpy.random.default_rng(0).standard_normal((5, 4)))
    ddp(x).sum().backward()
    ours = [p.grad.data.copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for a, p in zip(ours, model.parameters(), strict=True):
        numpy.testing.assert_array_equal(a, p.grad.data)
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    with pytest.raises(TypeError, match="must be a convpool Module"):
        dist.DistributedDataParallel(lambda x: x)


def test_buckets_follow_backward_order_and_respect_the_cap():
    model = nn.Sequential(nn.Linear(512, 512), nn.Linear(512, 512), nn.Linear(512, 10))  # 1 MB weights
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=2.0)
    buckets = ddp._bucket_list
    params = list(model.parameters())
    assert [p for b in buckets for p in b.params] == params[::-1]
    assert buckets[0].buffer.nbytes <= 2**20 and all(b.buffer.nbytes <= 2 * 2**20 for b in buckets)
    assert len(buckets) >= 2


# ----- the sampler --------------------------------------------------------------------------
@pytest.mark.parametrize("n,k,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 3, False),
                                           (7, 2, True)])
def test_sampler_shares_are_disjoint_equal_and_cover(n, k, drop_last):
    shares = [list(dist.DistributedSampler(range(n), num_replicas=k, rank=r, shuffle=True, seed=5,
                                           drop_last=drop_last)) for r in range(k)]
    lengths = {len(s) for s in shares}
    assert len(lengths) == 1
    flat = [i for s in shares for i in s]
    if drop_last:
        assert len(set(flat)) == len(flat) == (n // k) * k
    else:
        assert set(flat) == set(range(n)) and len(flat) == -(-n // k) * k


@needs_torch
@pytest.mark.parametrize("n,k,drop_last", [(10, 3, False), (10, 3, True), (2, 3, False), (8, 4, False)])
def test_sampler_matches_torch_without_shuffle(n, k, drop_last):
    from torch.utils.data import DistributedSampler as TorchSampler

    for r in range(k):
        ours = dist.DistributedSampler(range(n), num_replicas=k, rank=r, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=k, rank=r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_epochs_reorder_and_arguments_are_checked():
    s = dist.DistributedSampler(range(20), num_replicas=2, rank=0, seed=1)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and sorted(list(s) + list(dist.DistributedSampler(
        range(20), num_replicas=2, rank=1, seed=1).__iter__())) != []
    with pytest.raises(ValueError, match="rank 2 is not below num_replicas 2"):
        dist.DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="seed must be an int of at least 0, got -1"):
        dist.DistributedSampler(range(4), seed=-1)


# ----- SyncBatchNorm -----------------------------------------------------------------------
def test_sync_batchnorm_op_gradients_by_central_differences():
    rng = numpy.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal(2), rng.standard_normal(2)
    assert check_grad(lambda x, w, b: (_sync_batch_norm(x, w, b, 1e-5)[0] ** 2).sum(), x, w, b)


@needs_torch
def test_sync_batchnorm_op_matches_torch_batch_norm():
    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 5))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    g = rng.standard_normal(x.shape)
    xs = [convpool.tensor(a, requires_grad=True) for a in (x, w, b)]
    y, mean, var, total = _sync_batch_norm(*xs, 1e-5)
    y.backward(g)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.batch_norm(ts[0], None, None, ts[1], ts[2], training=True, eps=1e-5)
    ty.backward(torch.tensor(g))
    numpy.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(xs, ts, strict=True):
        numpy.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert total == 100 and numpy.allclose(mean, x.mean(axis=(0, 2, 3)))


def test_convert_sync_batchnorm_keeps_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(2)))
    before = {k: v for k, v in model.state_dict().items()}
    weight = model[1].weight
    nn.convert_sync_batchnorm(model)
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][0], nn.SyncBatchNorm)
    assert model[1].weight is weight and list(model.state_dict()) == list(before)
    x = Tensor(numpy.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype("float32"))
    plain = nn.BatchNorm2d(2)
    numpy.testing.assert_allclose(model[1](x).data, plain(x).data, rtol=1e-6)  # a world of one: BatchNorm


# ----- K processes ----------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("k", [2, 3])
def test_collectives_over_k_processes(tmp_path, k):
    got = json.loads(run_writing(k, "collectives", tmp_path / "c.json").read_text())
    total = k * (k + 1) / 2
    assert got["size"] == k and got["sum"] == [total] * 3 and got["sum_dtype"] == "float32"
    assert got["max"] == [k - 1.0] and got["broadcast"] == [k - 1.0] * 2
    assert got["gathered"] == [[r, 10.0 * r] for r in range(k)]
    expected = [list(dist.DistributedSampler(range(10), num_replicas=k, rank=r, seed=3).__iter__()) for r in range(k)]
    sampler_epoch2 = []
    for r in range(k):
        s = dist.DistributedSampler(range(10), num_replicas=k, rank=r, seed=3)
        s.set_epoch(2)
        sampler_epoch2.append(list(s))
    assert got["shares"] == sampler_epoch2 and sampler_epoch2 != expected
    assert got["object"] == {"path": "runs/0"}


@needs_mpi
@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_k_processes_step_as_one_process(tmp_path, k, dtype, tolerance):
    """SGD with Nesterov momentum, weight decay and a cosine schedule, SyncBatchNorm, a
    global batch of 16 (3 processes: 5, 5 and 6 rows), ranks 1.. starting from other
    weights: the same weights and running statistics as one process on the whole batch."""
    import mpi_worker

    got = numpy.load(run_writing(k, "train", tmp_path / "w.npz", dtype))
    reference = mpi_worker.reference(dtype)
    assert float(got["spread"]) == 0.0  # every rank holds the same weights
    assert int(got["buckets"]) >= 3
    for name, want in reference.items():
        error = numpy.abs(got[name].astype(numpy.float64) - want).max() / max(numpy.abs(want).max(), 1e-30)
        assert error <= tolerance, f"{name}: relative difference {error:.2e} with {k} processes"
    moved = numpy.abs(reference["0.weight"] - mpi_worker.build(dtype).state_dict()["0.weight"].data).max()
    assert moved > 1e-2  # the steps changed the weights


@needs_mpi
@pytest.mark.parametrize("k", [2, 3])
def test_evaluation_is_sharded_and_summed_to_the_one_process_figures(tmp_path, k):
    got = json.loads(run_writing(k, "evaluate", tmp_path / "e.json").read_text())
    shared, alone = got["shared"], got["alone"]
    assert shared["n"] == alone["n"] == 37
    assert shared["confusion"] == alone["confusion"] and shared["accuracy"] == alone["accuracy"]
    assert shared["loss"] == pytest.approx(alone["loss"], rel=1e-6)


@needs_mpi
def test_no_sync_unused_parameters_and_buffers_over_two_processes(tmp_path):
    got = json.loads(run_writing(2, "features", tmp_path / "f.json").read_text())
    assert got["no_sync"] < 1e-14  # accumulated over two micro-batches: the one-process sum
    assert got["unused"] < 1e-14 and got["unused_grad"] == 0.0
    assert got["abandoned"] < 1e-14  # a forward without backward leaves the next step's weighting alone
    assert "did not finish reducing gradients: some parameters got none (pass find_unused_parameters=True)" \
        in got["error"]
    assert got["buffers"] == 0.0 and got["rank0_mean_moved"] > 0.01


@needs_mpi
@pytest.mark.parametrize("how,message", [
    ("raise", "convpool: rank 1 of 3 failed: ValueError: a bad batch on purpose"),
    ("hang", "failed: DistributedTimeout: rank"),
    ("exit", ""),
])
def test_a_failed_process_stops_the_world(how, message):
    began = time.monotonic()
    result = mpirun(3, "fail", how, timeout=60)
    assert result.returncode != 0
    assert time.monotonic() - began < 30
    assert message in result.stderr
    if how == "hang":
        assert "waited 2 s for the batch sizes of the other processes" in result.stderr
