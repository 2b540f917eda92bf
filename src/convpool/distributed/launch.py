"""Running a command as K processes: `convpool train --processes K` starts mpiexec on this
machine; under mpiexec (started by hand or by a cluster's scheduler) each process sets its
threads, rank 0 alone prints, and a failure on any rank stops all of them with one line."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import backend
from . import world as _w


def find_mpiexec() -> str | None:
    """The mpiexec beside this Python (the mpich wheel's), else the first on PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.is_file() else shutil.which("mpiexec")


def without_processes(argv: Sequence[str]) -> list[str]:
    """The command line without its --processes option."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes="):
            out.append(arg)
    return out


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """command(args) on this process's share: starting mpiexec first for --processes K > 1."""
    processes = getattr(args, "processes", None)
    threads = getattr(args, "threads", None)
    if processes is not None and processes < 1:
        raise ValueError(f"--processes must be 1 or more, got {processes}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be 1 or more, got {threads}")
    if processes and processes > 1 and not _w.launched_by_mpi():
        return _start(processes, getattr(args, "argv", None))
    _w.init()
    size = _w.world_size()
    if processes and processes != size:
        raise ValueError(f"--processes {processes}, but mpiexec started {size} process{'es' if size > 1 else ''}")
    if threads is not None or size > 1:
        backend.set_num_threads(threads or max(1, cores() // _w.local_world_size()))
    if size == 1:
        return command(args)
    if not _w.is_main():
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the rest of the process's life)
    try:
        return command(args)
    except Exception as error:  # every rank's error stops the world, naming the rank
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        _w.fail(f"{type(error).__name__}: {error}", code=2)
        return 2


def _start(processes: int, argv: Sequence[str] | None) -> int:
    if argv is None:
        raise ValueError("--processes needs the command line (convpool.cli.main sets it)")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise FileNotFoundError(f"--processes {processes} needs mpiexec: pip install 'convpool[mpi]' "
                                "(mpi4py and the mpich wheel), or start the command under your own mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise FileNotFoundError(f"--processes {processes} needs mpi4py: pip install 'convpool[mpi]'") from None
    command = [mpiexec, "-n", str(processes), sys.executable, "-m", "convpool", *without_processes(argv)]
    with tempfile.TemporaryDirectory(prefix="convpool-ranks-") as folder:
        env = {**os.environ, "CONVPOOL_RANK_DIR": folder}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   errors="replace")
        failed: list[str] = []
        said: list[str] = []  # the "rank R of K failed" lines mpiexec did forward
        pumps = [threading.Thread(target=_pump, args=(stream, target, failed, said), daemon=True)
                 for stream, target in ((process.stdout, sys.stdout), (process.stderr, sys.stderr))]
        for pump in pumps:
            pump.start()
        code = process.wait()
        for pump in pumps:
            pump.join()
        reports = sorted(Path(folder).glob("failed-*"))
        if code != 0 and reports and not said:  # mpiexec ended the process before its line came through
            print(reports[0].read_text(), file=sys.stderr, flush=True)
        if code != 0 and failed and os.path.isfile(os.path.join(folder, failed[0])):
            rank, size = Path(folder, failed[0]).read_text().split()
            print(f"convpool: rank {rank} of {size} (pid {failed[0]}) stopped first, with exit code {code}; "
                  f"mpiexec ended the others", file=sys.stderr, flush=True)
        return code


def _pump(stream, target, failed: list[str], said: list[str]) -> None:
    """Pass mpiexec's output through as it comes, noting the pid its report of a dead process
    names and the ranks' own failure lines."""
    for line in stream:
        target.write(line)
        target.flush()
        if line.startswith("convpool: rank ") and " failed: " in line:
            said.append(line)
        found = re.search(r"PID (\d+) RUNNING AT", line)
        if found and not failed:
            failed.append(found.group(1))
