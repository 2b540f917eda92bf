"""Time convpool's conv and pooling ops against PyTorch's CPU build, side by side, in one process.

For every case the script times the forward pass (under no_grad in both libraries) and the
forward + backward pass (input, weight and bias require grad; backward from a fixed upstream
gradient), alternating convpool and torch runs so both see the same machine noise, and reports
medians. It also measures the machine's float32 matrix-product rate (NumPy 2048x2048 sgemm)
in the same run, so the GFLOP/s column can be read against what BLAS can do here.

    .venv/bin/python benchmarks/bench_ops.py                 # full size (about 3 minutes)
    .venv/bin/python benchmarks/bench_ops.py --quick         # small batches, smoke run (~30 s)
    .venv/bin/python benchmarks/bench_ops.py --only conv2d   # cases whose name contains 'conv2d'
    .venv/bin/python benchmarks/bench_ops.py --markdown      # the table as markdown
    .venv/bin/python benchmarks/bench_ops.py --path window_matrix  # every conv on one path of the table
    (also --repeat N, --warmup N, --pause S, --threads N, --budget MiB; see --help)

Both libraries get the same thread count: NumPy's BLAS count, read with threadpoolctl when it is
installed (it is optional: not a dependency of convpool), otherwise OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS / MKL_NUM_THREADS or the CPU count. Before each timed run the script sleeps
--pause seconds, because OpenBLAS's worker thread keeps spinning for about 0.1 s after a BLAS call
and would otherwise steal a core from whichever library runs next. The "convpool peak MiB" column
is the peak of NumPy buffers allocated during one (untimed) convpool call, inputs excluded, as
tracemalloc sees them; the process's peak RSS, both libraries together, is printed at the end.
Progress goes to stderr, the table to stdout. Exit status 1 if the two libraries' results differ.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import convpool
from convpool.ops import conv as cp_conv
from convpool.ops import conv_paths as cp_paths
from convpool.ops import pool as cp_pool

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover - torch is the reference; without it there is nothing to compare
    sys.exit("bench_ops.py needs torch (the CPU build) installed in this environment")

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


# ----- machine facts ---------------------------------------------------------------------------
def blas_info() -> dict:
    """NumPy's BLAS: library, version, kernel (architecture) and thread count."""
    if threadpoolctl is not None:
        for entry in threadpoolctl.threadpool_info():
            if entry.get("user_api") == "blas" and "numpy" in entry.get("filepath", ""):
                return {"name": entry.get("internal_api"), "version": entry.get("version"),
                        "arch": entry.get("architecture"), "threads": entry.get("num_threads"),
                        "source": "threadpoolctl"}
        for entry in threadpoolctl.threadpool_info():
            if entry.get("user_api") == "blas":
                return {"name": entry.get("internal_api"), "version": entry.get("version"),
                        "arch": entry.get("architecture"), "threads": entry.get("num_threads"),
                        "source": "threadpoolctl"}
    name = version = "?"
    try:  # NumPy's build record names the BLAS, though not its kernel or thread count
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name, version = blas.get("name", "?"), blas.get("version", "?")
    except Exception:  # older NumPy: show_config has no dict mode
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return {"name": name, "version": version, "arch": "?", "threads": int(value), "source": var}
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"name": name, "version": version, "arch": "?", "threads": count or 1,
            "source": "CPU count (no threadpoolctl)"}


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def sgemm_gflops(n: int = 2048, repeat: int = 5) -> tuple[float, float]:
    """Median float32 n x n matrix-product rate of NumPy (BLAS) and torch, GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
    flops = 2.0 * n ** 3
    a @ b, ta @ tb  # warm up
    np_times, torch_times = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        np_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ta @ tb
        torch_times.append(time.perf_counter() - t0)
    return flops / statistics.median(np_times) / 1e9, flops / statistics.median(torch_times) / 1e9


# ----- peak memory -------------------------------------------------------------------------------
def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (both libraries, inputs included)."""
    import resource
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def numpy_peak_mib(step) -> float:
    """Peak of NumPy buffers allocated during one call of step, in MiB (inputs excluded).

    NumPy reports its data buffers to tracemalloc; torch does not, so this isolates convpool.
    Run untimed: tracemalloc slows Python allocations."""
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = step()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


# ----- cases -------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    shape: str
    make: Callable  # () -> (convpool_fn, torch_fn); each maps the input tensors (x[, w, b]) to the output
    arrays: dict = field(default_factory=dict)  # name -> shape of x, w, b (inputs) and gy (upstream gradient)
    fwd_flops: float | None = None


def _conv_flops(n, c, o, out, kernel, groups=1) -> float:
    return 2.0 * n * o * math.prod(out) * (c // groups) * math.prod(kernel)


def _out_len(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def build_cases(quick: bool) -> list[Case]:
    n2d = 16 if quick else 128
    n1d = 8 if quick else 64
    cases: list[Case] = []

    def conv2d_case(name, c, o, hw, stride, groups=1, n=n2d):
        out = _out_len(hw, 3, stride, 1)
        w_shape = (o, c // groups, 3, 3)
        arrays = {"x": (n, c, hw, hw), "w": w_shape, "b": (o,), "gy": (n, o, out, out)}
        kw = dict(stride=stride, padding=1, groups=groups)
        tag = f" s{stride}" if stride != 1 else ""
        tag += f" g{groups}" if groups != 1 else ""
        cases.append(Case(
            name, f"{n}x{c}x{hw}x{hw} -> {o}, 3x3 p1{tag}",
            lambda kw=kw: (lambda x, w, b: cp_conv.conv2d(x, w, b, **kw),
                           lambda x, w, b: TF.conv2d(x, w, b, **kw)),
            arrays, _conv_flops(n, c, o, (out, out), (3, 3), groups)))

    conv2d_case("conv2d 3-64 @32", 3, 64, 32, 1)
    conv2d_case("conv2d 64-64 @32", 64, 64, 32, 1)
    conv2d_case("conv2d 64-128 s2 @32", 64, 128, 32, 2)
    conv2d_case("conv2d 128-128 @16", 128, 128, 16, 1)
    conv2d_case("conv2d 128-256 @8", 128, 256, 8, 1)
    conv2d_case("conv2d 128-128 @3", 128, 128, 3, 1, n=2 * n2d)  # fast-cnn's last conv: too small for the grid

    # audio: a strided 80-tap front end on 8000 samples, then a 3-tap conv on its output
    length, k1, s1 = 8000, 80, 4
    l1 = _out_len(length, k1, s1, 0)
    kw1 = dict(stride=s1)
    cases.append(Case(
        "conv1d 1-32 k80 s4", f"{n1d}x1x{length} -> 32, k80 s4",
        lambda: (lambda x, w, b: cp_conv.conv1d(x, w, b, **kw1), lambda x, w, b: TF.conv1d(x, w, b, **kw1)),
        {"x": (n1d, 1, length), "w": (32, 1, k1), "b": (32,), "gy": (n1d, 32, l1)},
        _conv_flops(n1d, 1, 32, (l1,), (k1,))))
    kw2 = dict(padding=1)
    cases.append(Case(
        "conv1d 32-64 k3", f"{n1d}x32x{l1} -> 64, k3 p1",
        lambda: (lambda x, w, b: cp_conv.conv1d(x, w, b, **kw2), lambda x, w, b: TF.conv1d(x, w, b, **kw2)),
        {"x": (n1d, 32, l1), "w": (64, 32, 3), "b": (64,), "gy": (n1d, 64, l1)},
        _conv_flops(n1d, 32, 64, (l1,), (3,))))

    pool_x = (n2d, 64, 32, 32)
    pool_gy = (n2d, 64, 16, 16)
    cases.append(Case(
        "max_pool2d 2x2", f"{n2d}x64x32x32, k2 s2",
        lambda: (lambda x: cp_pool.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2)),
        {"x": pool_x, "gy": pool_gy}, None))
    cases.append(Case(
        "avg_pool2d 2x2", f"{n2d}x64x32x32, k2 s2",
        lambda: (lambda x: cp_pool.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2)),
        {"x": pool_x, "gy": pool_gy}, None))

    conv2d_case("depthwise 3x3 64ch @32", 64, 64, 32, 1, groups=64)
    return cases


# ----- timing ------------------------------------------------------------------------------------
@dataclass
class Result:
    case: str
    shape: str
    mode: str
    cp_ms: float
    torch_ms: float
    gflops: float | None
    peak_extra_mib: float | None
    max_err: float


def _make_inputs(case: Case, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = {}
    for key, shape in case.arrays.items():
        scale = 1.0
        if key == "w":  # fan-in scaling keeps outputs O(1)
            scale = 1.0 / math.sqrt(math.prod(shape[1:]))
        data[key] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return data


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))


def _steps(cp_fn, torch_fn, data: dict, train: bool):
    """(convpool step, torch step, convpool inputs, torch inputs) for one pass; a step returns its output."""
    names = [k for k in ("x", "w", "b") if k in data]
    cp_in = [convpool.Tensor(data[k].copy(), requires_grad=train) for k in names]
    t_in = [torch.from_numpy(data[k].copy()).requires_grad_(train) for k in names]
    gy_np = data["gy"]
    gy_t = torch.from_numpy(gy_np.copy())

    def cp_step():
        for t in cp_in:
            t.grad = None
        if train:
            y = cp_fn(*cp_in)
            y.backward(gy_np)
            return y
        with convpool.no_grad():
            return cp_fn(*cp_in)

    def torch_step():
        for t in t_in:
            t.grad = None
        if train:
            y = torch_fn(*t_in)
            y.backward(gy_t)
            return y
        with torch.no_grad():
            return torch_fn(*t_in)

    return cp_step, torch_step, cp_in, t_in


def time_pass(case: Case, data: dict, train: bool, repeat: int, warmup: int, pause: float) -> Result:
    cp_fn, torch_fn = case.make()
    cp_step, torch_step, cp_in, t_in = _steps(cp_fn, torch_fn, data, train)

    # warm up, and check both compute the same thing
    for _ in range(max(1, warmup)):
        y_cp = cp_step()
        y_t = torch_step()
    err = _rel_err(y_cp.data, y_t.detach().numpy())
    if train:
        for a, b in zip(cp_in, t_in, strict=True):
            err = max(err, _rel_err(a.grad.data, b.grad.numpy()))
    del y_cp, y_t

    peak = numpy_peak_mib(cp_step)  # one untimed run under tracemalloc

    cp_times, torch_times = [], []
    for i in range(repeat):
        order = (cp_step, torch_step) if i % 2 == 0 else (torch_step, cp_step)  # alternate who goes first
        for step in order:
            gc.collect()
            if pause:
                # OpenBLAS's worker spins ~0.1 s after each BLAS call (and libgomp's a little):
                # without a pause it steals a core from whichever library runs next.
                time.sleep(pause)
            t0 = time.perf_counter()
            y = step()
            elapsed = time.perf_counter() - t0
            (cp_times if step is cp_step else torch_times).append(elapsed)
            del y
    cp_ms = statistics.median(cp_times) * 1e3
    torch_ms = statistics.median(torch_times) * 1e3
    flops = None
    if case.fwd_flops is not None:
        flops = case.fwd_flops * (3 if train else 1) / (cp_ms / 1e3) / 1e9
    mode = "forward+backward" if train else "forward"
    return Result(case.name, case.shape, mode, cp_ms, torch_ms, flops, peak, err)


def run_case(case: Case, repeat: int, warmup: int, pause: float, log) -> list[Result]:
    data = _make_inputs(case)
    results = []
    for train in (False, True):
        r = time_pass(case, data, train, repeat, warmup, pause)
        gc.collect()
        log(f"  {r.case:26s} {r.mode:17s} convpool {r.cp_ms:9.2f} ms  torch {r.torch_ms:8.2f} ms  "
            f"ratio {r.cp_ms / r.torch_ms:6.2f}  (rel err {r.max_err:.1e})")
        results.append(r)
    return results


# ----- output ------------------------------------------------------------------------------------
COLUMNS = ("case", "shape", "pass", "convpool ms", "torch ms", "ratio", "convpool GFLOP/s", "convpool peak MiB")


def _row(r: Result) -> tuple[str, ...]:
    return (r.case, r.shape, "fwd" if r.mode == "forward" else "fwd+bwd", f"{r.cp_ms:.1f}", f"{r.torch_ms:.1f}",
            f"{r.cp_ms / r.torch_ms:.2f}", "-" if r.gflops is None else f"{r.gflops:.1f}",
            "-" if r.peak_extra_mib is None else f"{r.peak_extra_mib:.0f}")


def format_table(results: list[Result], markdown: bool) -> str:
    rows = [_row(r) for r in results]
    if markdown:
        right = {3, 4, 5, 6, 7}
        lines = ["| " + " | ".join(COLUMNS) + " |",
                 "|" + "|".join("---:" if i in right else "---" for i in range(len(COLUMNS))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in rows)) for i in range(len(COLUMNS))]
    fmt = lambda row: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                for i, (c, w) in enumerate(zip(row, widths, strict=True)))
    lines = [fmt(COLUMNS), "  ".join("-" * w for w in widths)] + [fmt(row) for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small batches (N=16 images, 8 clips): a smoke run")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only cases whose name contains NAME (case-insensitive; repeatable, "
                             "or comma-separated)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per case and pass (default 7, "
                                                                 "3 with --quick); medians are reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: NumPy's BLAS thread count)")
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds of sleep before each timed run, so the other library's spinning "
                             "worker threads have gone idle (default 0.2)")
    parser.add_argument("--budget", type=float, default=None, metavar="MiB",
                        help="convpool.set_memory_budget for the run (default: leave convpool's 512 MiB); "
                             "a small budget makes conv work in batch chunks")
    parser.add_argument("--path", choices=[p.name for p in cp_paths.PATHS], default=None,
                        help="force every convolution onto this path of convpool's table (conv_paths.PATHS); "
                             "cases it does not apply to are left out, pooling runs as usual")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 7)
    if repeat < 1:
        parser.error("--repeat must be at least 1")

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    blas = blas_info()
    threads = args.threads or blas["threads"]
    if args.threads and threadpoolctl is not None:
        threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
    elif args.threads:
        log("note: --threads without threadpoolctl only sets torch; set OPENBLAS_NUM_THREADS for NumPy")
    torch.set_num_threads(threads)
    if args.budget is not None:
        convpool.set_memory_budget(int(args.budget * 2**20))

    cases = build_cases(args.quick)
    if args.only:
        wanted = [w.strip().lower() for item in args.only for w in item.split(",") if w.strip()]
        cases = [c for c in cases if any(w in c.name.lower() for w in wanted)]
        if not cases:
            parser.error(f"--only {args.only}: no case matches; cases are: "
                         + ", ".join(c.name for c in build_cases(args.quick)))

    np_gf, torch_gf = sgemm_gflops()
    env_blas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    header = [
        f"date: {datetime.date.today().isoformat()}   host: {platform.node()}   python {platform.python_version()}",
        f"cpu: {cpu_model()} ({os.cpu_count()} logical cpus)",
        f"numpy {np.__version__} (BLAS {blas['name']} {blas['version']}, kernel {blas['arch']}), "
        f"torch {torch.__version__}, convpool {convpool.__version__}",
        f"threads: {threads} for both (NumPy BLAS count from {blas['source']}; torch.set_num_threads({threads}))",
        f"OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {env_blas if env_blas else 'not set'}",
        f"float32 sgemm 2048^3: numpy {np_gf:.1f} GFLOP/s, torch {torch_gf:.1f} GFLOP/s",
        f"convpool memory budget: {convpool.memory_budget() / 2**20:.0f} MiB   repeat {repeat} (median), "
        f"warmup {args.warmup}, pause {args.pause} s{'   QUICK' if args.quick else ''}"
        f"{f'   conv path forced: {args.path}' if args.path else ''}",
        f"load average at start: {_loadavg()}",
    ]
    log("\n".join(header))
    results: list[Result] = []
    start = time.perf_counter()
    for case in cases:
        with cp_paths.forced(args.path) if args.path else contextlib.nullcontext():
            try:
                results.extend(run_case(case, repeat, args.warmup, args.pause, log))
            except ValueError as error:
                if not args.path or "does not apply" not in str(error):
                    raise
                log(f"  {case.name:26s} left out: {error}")
    if not results:
        parser.error(f"--path {args.path}: the path applies to none of the cases run")
    elapsed = time.perf_counter() - start

    header.append(f"load average at end: {_loadavg()}   (other processes on the machine skew timings)")
    bad = [r for r in results if r.max_err > 1e-3]
    print("\n".join(header))
    print()
    print(format_table(results, args.markdown))
    print()
    worst = max(results, key=lambda r: r.cp_ms / r.torch_ms)
    print(f"worst ratio: {worst.cp_ms / worst.torch_ms:.2f} ({worst.case}, {worst.mode}); "
          f"rows at ratio <= 2.0: {sum(r.cp_ms / r.torch_ms <= 2.0 for r in results)}/{len(results)}")
    print(f"process peak RSS: {peak_rss_mib():.0f} MiB (both libraries, inputs included); "
          f"benchmark time {elapsed:.0f} s")
    if bad:
        print("WARNING: convpool and torch disagree (relative error > 1e-3): "
              + ", ".join(f"{r.case} {r.mode} {r.max_err:.1e}" for r in bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
