"""The executors every run can count on, part of the core (no plugin needed): ``local`` (one
job after another in this process) and ``pool`` (the default: long-lived worker processes,
one job per core, or a single process with every thread when there is one job), and the
merging of every executor's ``zsbench run`` options (:func:`command_options`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from zsbench.errors import ExecutorOptionError, PluginParameterError
from zsbench.hookspecs import hookimpl
from zsbench.jobs import Job, JobResult, Layout, failed_result, plan_layout, worker_died
from zsbench.plugin import Executor, ExecutorOption

if TYPE_CHECKING:
    from zsbench.registry import PluginInfo, Registry


def _in_process_layout(threads: int | None) -> Layout:
    """One job at a time in this process with ``threads`` torch threads (None: every core)."""
    cores = plan_layout(1).cores
    return Layout(workers=1, threads=threads or cores, cores=cores)


def _run_here(jobs: Sequence[Job], task: Callable[[Job], JobResult],
              on_result: Callable[[Job, JobResult], None]) -> None:
    """Run ``jobs`` one after another in this process."""
    for job in jobs:
        on_result(job, task(job))


class LocalExecutor(Executor):
    """In-process, one job after another; every core's threads to each job unless told."""

    name = "local"

    def __init__(self) -> None:
        pass

    def layout(self, n_jobs: int, threads: int | None, *, portable: bool = True) -> Layout:
        """One job at a time with ``threads`` torch threads (None: every core)."""
        return _in_process_layout(threads)

    def map(self, jobs: Sequence[Job], task: Callable[[Job], JobResult],
            on_result: Callable[[Job, JobResult], None]) -> None:
        _run_here(jobs, task, on_result)


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse (a process-wide setting, for the
    processes zsbench owns: pool workers and the ``zsbench`` command).

    By default glibc returns every block of 128 kB or more to the system when it is freed
    and maps it afresh at the next training step: on the E3 body (36x36, batch 64) that
    was 272 million page faults and 17 % of a faithful run's CPU time spent in the kernel.
    Kept on the heap (blocks up to 32 MB, glibc's maximum; the heap never trimmed), a step
    is about 15 % faster. Scores are unchanged: only where memory comes from changes.
    Returns whether the setting took (False where there is no glibc ``mallopt``)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_threshold, 32 << 20))


PARENT_CHECK_S = 1.0
"""How often a pool worker checks that the driver process is still alive."""


def _exit_with_parent(parent: int) -> None:
    """Stop this worker once its driver is gone (killed, even with SIGKILL): a worker in the
    middle of a job would otherwise train on, orphaned, until the job ends."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _serve(conn: Connection, task: Callable[[Job], JobResult]) -> None:
    """A worker: run the jobs the driver sends (None: stop), send back each result. The
    task builds its suite, registry and data once, at the first job. The worker exits by
    itself within about a second of its driver's death."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="zsbench-parent-watch").start()
    keep_freed_memory()
    try:
        while True:
            job = conn.recv()
            if job is None:
                return
            try:
                result = task(job)
            except BaseException as exc:  # report, never hang the driver
                result = failed_result(job, f"worker: {type(exc).__name__}: {exc}",
                                       traceback.format_exc())
            conn.send(result.to_dict())
    except (EOFError, OSError, KeyboardInterrupt):
        return
    finally:
        conn.close()


class PoolExecutor(Executor):
    """Long-lived worker processes, one job per core (the default executor).

    ``workers = 0`` lays the jobs on the machine (see :func:`zsbench.jobs.plan_layout`):
    with T torch threads per job, ``cores // T`` jobs side by side; without ``--threads``,
    one job per core, and a run of fewer jobs than cores shares the spare cores out as
    threads (a single job gets them all). Each worker is started once (spawned: it pays the
    torch import and the data preparation, from the dataset cache when there is one, once)
    and then runs job after job. A single worker runs in this process. A job whose worker
    dies is recorded as failed and a fresh worker takes the remaining jobs. Scores equal
    the ``local`` executor's at the same threads per job, bit for bit."""

    name = "pool"
    cli_options = (ExecutorOption("--workers", "workers", int,
                                  "jobs side by side (default 0: as many as the cores allow)"),)

    def __init__(self, *, workers: int = 0) -> None:
        self.workers = workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise PluginParameterError("executor", self.name, "workers", f"got {workers!r}.",
                                       "give 0 (lay the jobs on every core) or a positive "
                                       "number of jobs side by side.")

    def layout(self, n_jobs: int, threads: int | None, *, portable: bool = True) -> Layout:
        if not portable:  # plugins registered in code: this process only
            return _in_process_layout(threads)
        return plan_layout(n_jobs, threads=threads, workers=self.workers or None)

    def map(self, jobs: Sequence[Job], task: Callable[[Job], JobResult],
            on_result: Callable[[Job, JobResult], None]) -> None:
        workers = min(len(jobs), int(getattr(task, "workers", 0) or 0)
                      or self.layout(len(jobs), getattr(task, "threads", None)).workers)
        if workers <= 1:
            _run_here(jobs, task, on_result)
            return
        ctx = multiprocessing.get_context("spawn")
        pending = list(jobs)
        idle: list[tuple[Connection, Any]] = []
        busy: dict[Connection, tuple[Job, Any]] = {}

        def start() -> tuple[Connection, Any]:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, task), daemon=True)
            proc.start()
            child.close()
            return parent, proc

        try:
            idle = [start() for _ in range(workers)]
            while pending or busy:
                while pending and idle:
                    conn, proc = idle.pop()
                    job = pending.pop(0)
                    try:
                        conn.send(job)
                    except (BrokenPipeError, OSError):  # died before its first job
                        proc.join()
                        pending.insert(0, job)
                        idle.append(start())
                        continue
                    busy[conn] = (job, proc)
                for conn in wait(list(busy)):
                    job, proc = busy.pop(conn)
                    try:
                        result = JobResult.from_dict(conn.recv())
                        idle.append((conn, proc))
                    except (EOFError, OSError):
                        conn.close()
                        proc.join()
                        result = worker_died(job, proc.exitcode)
                        if pending:
                            idle.append(start())
                    on_result(job, result)
        finally:
            for conn, proc in idle + [(c, jp[1]) for c, jp in busy.items()]:
                try:
                    conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
            for conn, proc in idle + [(c, jp[1]) for c, jp in busy.items()]:
                proc.join(timeout=5 if not busy else 0.1)
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
                conn.close()


@hookimpl
def zsbench_add_executors() -> list[type]:
    return [LocalExecutor, PoolExecutor]


@dataclass(frozen=True)
class CommandOption:
    """One executor flag of ``zsbench run``, with the executors that declare it."""

    option: ExecutorOption
    executors: tuple[str, ...]

    @property
    def dest(self) -> str:
        """Its attribute on the parsed arguments (apart from the command's own)."""
        return f"executor_option{self.option.flag}"


def _who(info: PluginInfo) -> str:
    return f'executor "{info.name}" (distribution {info.distribution}, plugin {info.source})'


def command_options(registry: Registry) -> list[CommandOption]:
    """Every installed executor's ``cli_options``, merged by flag (executors by name).

    Raises :class:`ExecutorOptionError` naming the plugin for a declaration that is no
    :class:`ExecutorOption`, a flag not of the form ``--name``, a parameter the constructor
    lacks, and naming both plugins for one flag declared with two meanings."""
    merged: dict[str, tuple[ExecutorOption, list[PluginInfo]]] = {}
    for info in (registry.get("executor", name) for name in registry.names("executor")):
        accepted = info.cls.parameters()
        for option in getattr(info.cls, "cli_options", ()):
            flag = str(getattr(option, "flag", option))
            if not isinstance(option, ExecutorOption) or not flag.startswith("--") \
                    or len(flag) < 3 or " " in flag:
                raise ExecutorOptionError(flag, f"{_who(info)} declares {option!r} in its "
                                          "cli_options.", 'declare zsbench.plugin.'
                                          'ExecutorOption("--name", "parameter", type, "help").')
            if option.parameter not in accepted:
                raise ExecutorOptionError(flag, f"{_who(info)} declares it for parameter "
                                          f'"{option.parameter}", which its constructor does '
                                          f"not take (it takes: {', '.join(accepted) or 'none'}).",
                                          "name one of its keyword parameters.")
            if flag not in merged:
                merged[flag] = (option, [info])
                continue
            first, infos = merged[flag]
            if (first.parameter, first.type) != (option.parameter, option.type):
                raise ExecutorOptionError(
                    flag, f'{_who(infos[0])} declares it for parameter "{first.parameter}" '
                    f"({getattr(first.type, '__name__', first.type)}), {_who(info)} for "
                    f'"{option.parameter}" ({getattr(option.type, "__name__", option.type)}).',
                    "rename the flag in one of the two (e.g. prefixed with its executor's "
                    "name), or block one plugin with ZSBENCH_DISABLE_PLUGINS.")
            infos.append(info)
    return [CommandOption(option, tuple(i.name for i in infos))
            for option, infos in merged.values()]
