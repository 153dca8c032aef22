"""The Ray backend: the live workers as Ray actors, on this machine or a Ray cluster.

One actor per worker slot (Moritz et al., "Ray: A Distributed Framework for Emerging AI
Applications", OSDI 2018), asking Ray for ``threads`` CPUs and, on a GPU, for ``1/k`` of one
when ``k`` workers share it. An actor does what a local worker process does
(:func:`cenas.live._worker.worker_main`): it loads the runner and its meter once, keeps the
data between jobs, and wraps each job segment in the meter. It is a threaded actor
(``max_concurrency=2``), so a pause request reaches it while it runs a job; requests carry the
segment's number, so one that overtakes its job, or comes late for an earlier one, is read
right. Results come back as Ray object references, collected with ``ray.wait``. An actor that
dies (killed, out of memory, its node lost) is replaced by a fresh one and its job resumed from
its checkpoint. Pauses, retries and the ledger are those of every live backend
(:class:`~cenas.live._pool.WorkerPool`).

GPUs: Ray picks the physical GPU of each actor and shows it only that one, so an actor always
uses its first visible GPU; ``cuda:N`` in ``devices`` only says which workers share a GPU.
The actors import the runner with the driver's ``sys.path`` added to theirs (as a ``spawn``-ed
process gets it), so a runner the driver can import, the actors can import.

Ray is optional: ``pip install 'cenas[ray]'``. Without an initialised Ray, the backend starts
one (``ray.init(address=...)``: ``RAY_ADDRESS``, a cluster from ``ray start`` or a new local
instance) and shuts it down on :meth:`RayBackend.close`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from types import ModuleType
from typing import Any

from cenas.live._pool import BackendError, Message, WorkerPool
from cenas.live._worker import (
    WorkerContext,
    WorkerSetup,
    WorkItem,
    load_runner,
    one_line,
    run_segment,
)

_Done = tuple[int, dict[str, Any], dict[str, Any], float]
"""A finished segment as an actor returns it: ``(job id, outcome, meter reading, wall s)``."""


def import_ray() -> ModuleType:
    """The ``ray`` module.

    Raises:
        BackendError: If Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise BackendError(
            "backend: 'ray' needs the Ray package, not installed here: pip install 'cenas[ray]'"
        ) from None
    return ray


def _actor_device(device: str) -> str:
    """The device of an actor's own view: Ray shows a GPU actor only the GPU it assigned."""
    if not device.startswith("cuda"):
        return device
    if os.environ.get("RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"):
        import ray

        ids = ray.get_gpu_ids()
        if ids:
            return f"cuda:{int(ids[0])}"
    return "cuda:0"


def _set_torch_threads(n: int) -> None:
    """``n`` torch threads in this process: set now if torch is loaded, else through
    ``OMP_NUM_THREADS``, which torch reads when it loads (a runner without torch, such as a
    test's, never pays for importing it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)


class RayWorker:
    """The body of one worker actor (wrapped with ``ray.remote`` by :class:`RayBackend`).

    Args:
        device: The slot's device as the backend names it (``cpu`` or ``cuda:N``).
        setup: What the worker loads and runs.
        sys_path: The driver's ``sys.path``; entries missing here are appended.
    """

    def __init__(self, device: str, setup: WorkerSetup, sys_path: list[str]) -> None:
        sys.path.extend(p for p in sys_path if p not in sys.path)
        from cenas.meters import auto_meter

        backend_device = device
        device = _actor_device(device)
        if device == "cpu":  # torch threads of a CPU slot, as worker_main sets them
            _set_torch_threads(max(1, setup.threads))
        self._runner = load_runner(setup.runner)
        self._meter = auto_meter(
            device, threads=setup.threads, shared_by=setup.shared_by(backend_device)
        )
        self._segment = 0  # the running segment's number
        self._pause_upto = 0  # segments up to this number are asked to pause
        self._ctx = WorkerContext(setup, device, self._should_pause)

    def _should_pause(self) -> bool:
        return self._pause_upto >= self._segment

    def ready(self) -> int:
        """The actor's process id, once it can take jobs."""
        return os.getpid()

    def request_pause(self, segment: int) -> None:
        """Ask segment ``segment`` (and any before it) to pause at its next pause point."""
        self._pause_upto = max(self._pause_upto, segment)

    def run(self, item: WorkItem, segment: int) -> _Done:
        """Run one job segment: ``(job id, outcome dict, meter reading dict, wall seconds)``;
        a runner that raises gives a ``failed`` outcome naming the exception."""
        self._segment = segment
        outcome, reading, wall = run_segment(self._runner, self._meter, item, self._ctx)
        return item.job_id, asdict(outcome), reading, wall


class RayBackend(WorkerPool):
    """Real jobs on Ray actors (see the module doc).

    Args:
        setup: What every worker loads and runs.
        devices: One device per worker (``cpu`` or ``cuda:N``; repeat a GPU to share it).
        arch_str: Human-readable form of an architecture key (sent with each job).
        max_retries: Restarts of a job that raised before it counts as failed.
        idle_w: Modelled power of an idle worker slot in watts.
        pause_timeout_s: Longest wait for a job to reach its pause point at a step's end;
            an actor still busy then is replaced and its job resumes from its checkpoint.
        start_timeout_s: Longest wait for the actors to start.
        address: Ray cluster to join when Ray is not initialised yet (``None``: Ray's
            default lookup, else a new local instance).

    Raises:
        BackendError: Ray is not installed, the cluster lacks the CPUs or GPUs the workers
            ask for, or an actor cannot start (its cause in one line).
    """

    name = "ray"

    def __init__(
        self,
        setup: WorkerSetup,
        devices: list[str],
        arch_str: Callable[[int], str],
        max_retries: int = 2,
        idle_w: float = 0.0,
        pause_timeout_s: float = 600.0,
        start_timeout_s: float = 300.0,
        address: str | None = None,
    ) -> None:
        super().__init__(setup, devices, arch_str, max_retries, idle_w, pause_timeout_s)
        ray = import_ray()
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=address, include_dashboard=False)
            except Exception as exc:  # no cluster at the address, a port in use...
                raise BackendError(f"backend: Ray did not start: {one_line(exc)}") from None
        self._gpu_share = [
            1.0 / self.devices.count(d) if d.startswith("cuda") else 0.0 for d in self.devices
        ]
        self._actor_cls = ray.remote(RayWorker)
        self._actors: list[Any] = [None] * self.n_workers
        self._ready: list[Any] = [None] * self.n_workers
        self._pids = [0] * self.n_workers
        self._pending: dict[Any, int] = {}  # object reference of a running segment -> worker
        self._segment = [0] * self.n_workers
        self._dead: set[int] = set()
        try:
            self._check_resources()
        except BackendError:
            self.close()
            raise
        self._start_workers(start_timeout_s)

    def _check_resources(self) -> None:
        have = self._ray.cluster_resources()
        cpus = float(max(1, self.setup.threads) * self.n_workers)
        gpus = sum(self._gpu_share)
        have_cpus, have_gpus = float(have.get("CPU", 0.0)), float(have.get("GPU", 0.0))
        if have_cpus + 1e-9 < cpus or have_gpus + 1e-6 < gpus:
            raise BackendError(
                f"backend: {self.n_workers} Ray workers need {cpus:g} CPUs and {gpus:g} GPUs; "
                f"the Ray cluster has {have_cpus:g} CPUs and {have_gpus:g} GPUs"
            )

    # --------------------------------------------------------------- actors
    def _spawn(self, w: int) -> None:
        old = self._actors[w]
        if old is not None:
            with contextlib.suppress(Exception):
                self._ray.kill(old, no_restart=True)
        self._pending = {ref: v for ref, v in self._pending.items() if v != w}
        actor = self._actor_cls.options(
            num_cpus=max(1, self.setup.threads),
            num_gpus=self._gpu_share[w],
            max_concurrency=2,
            max_restarts=0,
        ).remote(self.devices[w], self.setup, list(sys.path))
        self._actors[w] = actor
        self._ready[w] = actor.ready.remote()
        self._dead.discard(w)

    def _wait_ready(self, waiting: set[int], timeout_s: float) -> None:
        ray = self._ray
        refs = {self._ready[w]: w for w in waiting}
        done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
        for ref in done:
            w = refs.pop(ref)
            try:
                self._pids[w] = int(ray.get(ref))
            except Exception as exc:
                self.close()
                raise BackendError(
                    f"worker {w} ({self.devices[w]}) did not start: {_cause(exc)}"
                ) from None
        if refs:
            self.close()
            raise BackendError(
                f"workers {sorted(refs.values())} did not start in {timeout_s:.0f} s "
                "(is the Ray cluster short of the CPUs or GPUs they ask for?)"
            )

    def worker_pid(self, w: int) -> int:
        """Process id of worker ``w``'s actor."""
        return self._pids[w]

    def worker_actor(self, w: int) -> Any:
        """The Ray actor handle of worker ``w`` (for fault-injection tests)."""
        return self._actors[w]

    def _dispatch(self, w: int, item: WorkItem) -> None:
        self._segment[w] += 1
        ref = self._actors[w].run.remote(item, self._segment[w])
        self._pending[ref] = w

    def _ask_pause(self, w: int) -> None:
        self._actors[w].request_pause.remote(self._segment[w])

    def _receive(self, timeout: float) -> Message | None:
        if not self._pending:
            time.sleep(timeout)
            return None
        ray = self._ray
        done, _ = ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if not done:
            return None
        w = self._pending.pop(done[0])
        try:
            job_id, outcome, reading, wall = ray.get(done[0])
        except Exception:  # the actor died (RayActorError) or broke: replace it
            self._kill(w)
            return None
        return w, int(job_id), outcome, reading, float(wall)

    def _alive(self, w: int) -> bool:
        return w not in self._dead

    def _kill(self, w: int) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(self._actors[w], no_restart=True)
        self._dead.add(w)

    def close(self) -> None:
        self.restore_caps()
        for w, actor in enumerate(self._actors):
            if actor is not None:
                with contextlib.suppress(Exception):
                    self._ray.kill(actor, no_restart=True)
            self._actors[w] = None
        self._pending = {}
        if self._owns_ray:
            self._owns_ray = False
            with contextlib.suppress(Exception):
                self._ray.shutdown()


def _cause(exc: BaseException) -> str:
    """One line of why an actor died: the error its constructor raised, when it did."""
    for attr in ("cause", "base_exception"):
        inner = getattr(exc, attr, None)
        if isinstance(inner, BaseException) and inner is not exc:
            return _cause(inner)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.split(":", 1)[0].endswith(("Error", "Exception"))]
    text = errors[-1] if errors else (lines[0] if lines else type(exc).__name__)
    return " ".join(text.split())[:300]


__all__ = ["RayBackend", "RayWorker", "import_ray"]
