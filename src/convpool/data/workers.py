"""Worker processes for the torch-style DataLoader (num_workers > 0).

Design. Each worker is a daemon process with its own index queue; all share one result
queue. Batch b always goes to worker b % num_workers, and the main process keeps
prefetch_factor * num_workers batches in flight and hands them out in order (results that
arrive early wait in a dict), so the batches, and which worker made each, do not depend on
timing. A worker is seeded once when it starts, from a base seed drawn in the main process
(from the loader's generator, or convpool's): `random`, NumPy's global generator and
convpool's generator (`manual_seed(base_seed + worker_id)`, as torch seeds its own), so a
dataset that augments with any of them repeats run after run. A worker uses one thread for
convpool's element-wise work (the processes are the parallelism, and a forked child has
none of its parent's threads).

Everything crossing a queue is pickled, which is how multiprocessing moves objects between
processes of one run; nothing is written to disk. With the "fork" start method (Linux's
default) the dataset, collate_fn and worker_init_fn reach the workers without pickling;
with "spawn" or "forkserver" they must be picklable (defined at module level).

Failures. An exception in a worker (in worker_init_fn, in dataset[i] or in collate_fn) is
sent back as its type and its traceback text; the main process raises the same type (or
RuntimeError when it cannot be rebuilt) naming the worker, its pid, the dataset index and
the original traceback. A worker that dies (killed, os._exit) is detected while waiting and
reported with its exit code; `timeout` bounds the wait for one batch.

Shutdown. When an epoch ends (unless persistent_workers), when the iterator is garbage
collected (a `break` out of the loop), on an error, and at interpreter exit, a shared event
tells the workers to drop the batches still queued, each is sent a stop message, joined
for a few seconds and terminated if still running. Workers also stop by themselves when
their parent process disappears.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy

from .. import backend
from .fetch import IterableFetcher, fetch

_POLL_SECONDS = 0.2  # how often a waiting side checks that the other side is still there
_JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker process knows about itself (torch's get_worker_info())."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process: its WorkerInfo (id, num_workers, seed, dataset, a copy
    of the loader's); None in the main process."""
    return _worker_info


class _Verbatim(str):
    """A string whose repr is itself (what KeyError prints)."""

    def __repr__(self) -> str:
        return str(self)


class WorkerFailure:
    """An exception raised in a worker, carried to the main process as type and text."""

    def __init__(self, error: BaseException, worker_id: int, task: int | None, what: str) -> None:
        where = getattr(error, "dataloader_where", None) or what
        task_text = "" if task is None else f" for batch {task}"
        self.message = (
            f"Caught {type(error).__name__} in DataLoader worker process {worker_id} (pid {os.getpid()}) "
            f"while running {where}{task_text}.\nOriginal Traceback (most recent call last):\n"
            + "".join(traceback.format_exception(error)[1:])
        )
        exc_type = type(error)
        try:
            pickle.dumps(exc_type)
        except Exception:  # a class the main process could not import: report it as RuntimeError
            exc_type = RuntimeError
        self.exc_type = exc_type

    def reraise(self) -> None:
        message: str = self.message
        if issubclass(self.exc_type, KeyError):
            message = _Verbatim(message)  # KeyError shows its argument's repr: keep the lines
        try:
            error = self.exc_type(message)
        except Exception:  # an exception type whose constructor wants other arguments
            error = RuntimeError(self.message)
        if not isinstance(error, BaseException):
            error = RuntimeError(self.message)
        raise error


def _seed_worker(base_seed: int, worker_id: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    numpy.random.seed(numpy.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32]).generate_state(4))
    backend.manual_seed(seed)
    return seed


class Exhausted:
    """A worker's answer once its copy of an iterable dataset has no samples left this epoch."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


def worker_loop(dataset: Any, index_queue: Any, result_queue: Any, auto_collation: bool,
                collate_fn: Callable[[Any], Any], base_seed: int, worker_init_fn: Callable[[int], None] | None,
                worker_id: int, num_workers: int, parent_pid: int, iterable: bool = False,
                drop_last: bool = False, done_event: Any = None) -> None:
    """The body of one worker process: take (epoch, task, indices), send back
    (epoch, task, pickled batch, WorkerFailure or Exhausted); stop on None, at the next task
    once `done_event` is set (queued tasks are not worked off), or when the parent is gone.
    For an iterable dataset the worker iterates its own copy, afresh each epoch."""
    global _worker_info
    try:
        # A forked child holds a copy of the parent's thread pool without its threads (and
        # perhaps with a lock taken): drop it unused rather than shut it down, then run
        # element-wise work on this process's one thread.
        backend._executor = None
        backend.set_num_threads(1)
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_failure = None
        if worker_init_fn is not None:
            try:
                worker_init_fn(worker_id)
            except Exception as error:
                init_failure = WorkerFailure(error, worker_id, None, f"worker_init_fn({worker_id})")
        stream, stream_epoch = None, None
        while True:
            try:
                task = index_queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if os.getppid() != parent_pid:
                    return  # the main process is gone: nobody will read what we make
                continue
            if task is None or (done_event is not None and done_event.is_set()):
                break
            epoch, task_id, index = task
            if init_failure is not None:
                payload: Any = init_failure
            else:
                try:
                    if not iterable:
                        payload = fetch(dataset, index, auto_collation, collate_fn)
                    else:
                        if stream_epoch != epoch:
                            stream, stream_epoch = IterableFetcher(dataset, auto_collation, collate_fn,
                                                                   drop_last), epoch
                        payload = stream(index)
                except StopIteration:
                    payload = Exhausted(worker_id)
                except Exception as error:
                    payload = WorkerFailure(error, worker_id, task_id, f"batch {task_id}")
            try:
                message = pickle.dumps((epoch, task_id, payload), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as error:
                failure = WorkerFailure(error, worker_id, task_id,
                                        f"sending batch {task_id} to the main process (it could not be pickled)")
                message = pickle.dumps((epoch, task_id, failure), protocol=pickle.HIGHEST_PROTOCOL)
            result_queue.put(message)
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C and shuts the workers down
    finally:
        result_queue.cancel_join_thread()  # exiting must not wait on a pipe nobody reads


def _shutdown(workers: list, index_queues: list, result_queue: Any, done_event: Any) -> None:
    """Stop every worker: the done event, a stop message, a join, and terminate for those
    still running."""
    done_event.set()
    for q in index_queues:
        try:
            q.put(None)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + _JOIN_SECONDS
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.is_alive():
            w.terminate()
            w.join(timeout=_JOIN_SECONDS)
    for q in [*index_queues, result_queue]:
        q.cancel_join_thread()
        q.close()


class MultiProcessIterator:
    """Batches of a DataLoader made by worker processes, in order (see the module notes)."""

    def __init__(self, loader: Any) -> None:
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._index_sampler = loader._index_sampler
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._in_order = loader.in_order
        self._length = len(loader) if not loader._iterable or hasattr(loader.dataset, "__len__") else 0
        self._epoch = -1
        context = loader.multiprocessing_context
        if context is None or isinstance(context, str):
            context = multiprocessing.get_context(context)
        base_seed = loader._draw_base_seed()
        self._result_queue = context.Queue()
        self._done_event = context.Event()
        self._index_queues = []
        self._workers = []
        for worker_id in range(self._num_workers):
            index_queue = context.Queue()
            worker = context.Process(
                target=worker_loop,
                args=(loader.dataset, index_queue, self._result_queue, loader._auto_collation, loader.collate_fn,
                      base_seed, loader.worker_init_fn, worker_id, self._num_workers, os.getpid(),
                      loader._iterable, loader.drop_last, self._done_event),
                name=f"convpool-dataloader-worker-{worker_id}", daemon=True)
            worker.start()
            self._index_queues.append(index_queue)
            self._workers.append(worker)
        self._shutdown = weakref.finalize(self, _shutdown, self._workers, self._index_queues, self._result_queue,
                                          self._done_event)
        self._closed = False
        self._reset()

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    def _reset(self) -> None:
        """Start an epoch: a new pass of the sampler, batches from 0 again, every worker active."""
        self._epoch += 1
        self._sampler_iter = iter(self._index_sampler)
        self._sent = 0  # tasks handed to workers this epoch
        self._consumed = 0  # tasks whose answer was returned or skipped
        self._next = 0  # the task to return next (in order)
        self._arrived: dict[int, Any] = {}
        self._owner: dict[int, int] = {}
        self._active = [True] * self._num_workers
        self._next_worker = 0
        self._exhausted = False
        self._done = False
        for _ in range(self._prefetch):
            self._send_next()

    def _send_next(self) -> None:
        """Hand the sampler's next index to the next active worker, in turn."""
        if self._exhausted:
            return
        if not any(self._active):
            self._exhausted = True
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            self._exhausted = True
            return
        while not self._active[self._next_worker]:
            self._next_worker = (self._next_worker + 1) % self._num_workers
        worker_id = self._next_worker
        self._next_worker = (self._next_worker + 1) % self._num_workers
        self._index_queues[worker_id].put((self._epoch, self._sent, index))
        self._owner[self._sent] = worker_id
        self._sent += 1

    def __iter__(self) -> MultiProcessIterator:
        return self

    def __len__(self) -> int:
        return self._length

    def _receive(self, task: int) -> tuple[int, int, Any]:
        """The next message from any worker, while watching that the workers live."""
        started = time.monotonic()
        owner = self._owner.get(task, task % self._num_workers)
        while True:
            wait = _POLL_SECONDS
            if self._timeout > 0:
                left = self._timeout - (time.monotonic() - started)
                if left <= 0:
                    self.close()
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds waiting for batch "
                                       f"{task} from worker {owner}")
                wait = min(wait, left)
            try:
                message = self._result_queue.get(timeout=wait)
            except queue.Empty:
                for worker_id, w in enumerate(self._workers):
                    if not w.is_alive():
                        code = w.exitcode
                        self.close()
                        raise RuntimeError(f"DataLoader worker {worker_id} (pid {w.pid}) exited unexpectedly with "
                                           f"exit code {code} while batch {task} was awaited") from None
                continue
            return pickle.loads(message)  # noqa: S301  (bytes made by our own worker processes)

    def _take_arrived(self) -> tuple[bool, Any]:
        """(True, payload) of the task to return now if it has arrived, else (False, None)."""
        if self._in_order:
            if self._next in self._arrived:
                payload = self._arrived.pop(self._next)
                self._next += 1
                return True, payload
            return False, None
        if self._arrived:
            task = next(iter(self._arrived))
            return True, self._arrived.pop(task)
        return False, None

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        while True:
            ready, payload = self._take_arrived()
            if ready:
                self._consumed += 1
                self._send_next()
                if isinstance(payload, Exhausted):
                    continue  # a worker's iterable ran out: no batch for this task
                if isinstance(payload, WorkerFailure):
                    self.close()
                    payload.reraise()
                return payload
            if self._consumed == self._sent and self._exhausted:
                self._done = True
                if not self._persistent:
                    self.close()
                raise StopIteration
            epoch, task, payload = self._receive(self._next)
            if epoch != self._epoch:
                continue  # made for an epoch left early (persistent workers): dropped
            if isinstance(payload, Exhausted):
                self._active[payload.worker_id] = False
                if not any(self._active):
                    self._exhausted = True
            self._arrived[task] = payload

    def close(self) -> None:
        """Stop the workers now (they finish the sample in hand first)."""
        self._done = True
        if not self._closed:
            self._closed = True
            self._shutdown()


__all__ = ["WorkerInfo", "get_worker_info", "MultiProcessIterator", "WorkerFailure", "Exhausted", "worker_loop"]
