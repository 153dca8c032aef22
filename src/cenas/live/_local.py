"""The local backend: one worker process per device slot, running real jobs.

Each worker (:func:`cenas.live._worker.worker_main`) is a ``spawn``-ed process with its own
device (``cuda:N`` or a CPU slot of ``threads`` torch threads). The backend sends it a
:class:`~cenas.live._worker.WorkItem` on its own queue; the result comes back on one shared
queue with the energy the worker's meter read over the job (measured, or modelled and
flagged). A job is asked to pause through an event its ``should_pause`` reads. A worker
process that dies (killed, segfault) is replaced by a fresh one. Pauses, retries, resumption
from checkpoints and the ledger are those of every live backend
(:class:`~cenas.live._pool.WorkerPool`).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_mod
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cenas.live._pool import BackendError, Message, WorkerPool
from cenas.live._worker import WorkerSetup, WorkItem, worker_main


class LocalBackend(WorkerPool):
    """Real jobs on local worker processes (see the module doc).

    Args:
        setup: What every worker loads and runs.
        devices: One device per worker (``cpu`` or ``cuda:N``; repeat a GPU to share it).
        arch_str: Human-readable form of an architecture key (sent with each job).
        max_retries: Restarts of a job that raised before it counts as failed.
        idle_w: Modelled power of an idle worker slot in watts.
        pause_timeout_s: Longest wait for a job to reach its pause point at a step's end;
            a worker still busy then is replaced and its job resumes from its checkpoint.
        start_timeout_s: Longest wait for the workers to start.
    """

    name = "local"

    def __init__(
        self,
        setup: WorkerSetup,
        devices: list[str],
        arch_str: Callable[[int], str],
        max_retries: int = 2,
        idle_w: float = 0.0,
        pause_timeout_s: float = 600.0,
        start_timeout_s: float = 300.0,
    ) -> None:
        super().__init__(setup, devices, arch_str, max_retries, idle_w, pause_timeout_s)
        self._ctx = mp.get_context("spawn")
        self._results: Any = self._ctx.Queue()
        self._early: deque[Message] = deque()  # results that came while a worker started
        self._procs: list[Any] = [None] * self.n_workers
        self._inboxes: list[Any] = [None] * self.n_workers
        self._pause: list[Any] = [None] * self.n_workers
        self._start_workers(start_timeout_s)

    # ------------------------------------------------------------ processes
    def _spawn(self, w: int) -> None:
        self._inboxes[w] = self._ctx.Queue()
        self._pause[w] = self._ctx.Event()
        proc = self._ctx.Process(
            target=worker_main,
            args=(w, self.devices[w], self.setup, self._inboxes[w], self._results, self._pause[w]),
            name=f"cenas-worker-{w}",
            daemon=True,
        )
        proc.start()
        self._procs[w] = proc

    def _wait_ready(self, waiting: set[int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise BackendError(f"workers {sorted(waiting)} did not start in {timeout_s:.0f} s")
            try:
                msg = self._results.get(timeout=min(left, 0.5))
            except queue_mod.Empty:
                dead = [w for w in waiting if not self._procs[w].is_alive()]
                if dead:
                    code = self._procs[dead[0]].exitcode
                    self.close()
                    raise BackendError(
                        f"worker {dead[0]} ({self.devices[dead[0]]}) exited with code {code} "
                        "before its first job"
                    ) from None
                continue
            if msg[0] == "ready":
                waiting.discard(msg[1])
            elif msg[0] == "result" and msg[1] not in waiting:  # another worker's: keep it
                self._early.append(tuple(msg[1:]))  # type: ignore[arg-type]
            # else: a result of the worker that died before: stale

    def worker_pid(self, w: int) -> int:
        """Process id of worker ``w`` (for fault-injection tests)."""
        return int(self._procs[w].pid)

    def _dispatch(self, w: int, item: WorkItem) -> None:
        self._pause[w].clear()
        self._inboxes[w].put(item)

    def _ask_pause(self, w: int) -> None:
        self._pause[w].set()

    def _receive(self, timeout: float) -> Message | None:
        if self._early:
            return self._early.popleft()
        try:
            msg = self._results.get(timeout=timeout)
        except queue_mod.Empty:
            return None
        if msg[0] != "result":
            return None
        _, w, job_id, outcome, reading, wall = msg
        return w, job_id, outcome, reading, wall

    def _alive(self, w: int) -> bool:
        return bool(self._procs[w].is_alive())

    def _kill(self, w: int) -> None:
        self._procs[w].kill()
        self._procs[w].join(5)

    def close(self) -> None:
        self.restore_caps()
        for w, proc in enumerate(self._procs):
            if proc is None:
                continue
            with contextlib.suppress(Exception):
                self._inboxes[w].put(None)
        for proc in self._procs:
            if proc is None:
                continue
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._procs = [None] * self.n_workers


__all__ = ["BackendError", "LocalBackend"]
