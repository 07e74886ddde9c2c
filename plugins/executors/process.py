"""Jobs in worker processes on this machine, one fresh process per job."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait

from zsbench.jobs import Layout, worker_died
from zsbench.plugin import Executor, ExecutorOption
from zsbench.runner import Job, JobResult, failed_result


def _work(conn: Connection, task: Callable[[Job], JobResult], job: Job) -> None:
    try:
        result = task(job)
        conn.send(result.to_dict())
    except BaseException as exc:  # report, never hang the driver
        conn.send(failed_result(job, f"worker: {type(exc).__name__}: {exc}",
                                traceback.format_exc()).to_dict())
    finally:
        conn.close()


class ProcessExecutor(Executor):
    """A pool of worker processes on this machine, sized so jobs don't oversubscribe cores.

    Each job runs in a fresh (spawned) process, so a job that crashes, runs out of memory
    or is killed is recorded as failed and the others go on. ``workers = 0`` means as many
    as the cores allow: cores // torch threads per job (``zsbench run --threads``)."""

    name = "process"
    cli_options = (ExecutorOption("--workers", "workers", int,
                                  "jobs side by side (default 0: as many as the cores allow)"),)

    def __init__(self, *, workers: int = 0) -> None:
        self.workers = workers

    def plan(self, n_jobs: int, threads: int = 1) -> int:
        """How many worker processes run at once for ``n_jobs`` jobs of ``threads``
        torch threads each."""
        cores = os.cpu_count() or 1
        return self.workers or max(1, min(cores // max(1, threads), n_jobs))

    def layout(self, n_jobs: int, threads: int | None, *, portable: bool = True) -> Layout:
        """``threads`` (default 1) per job, as many jobs side by side as :meth:`plan` says."""
        threads = threads or 1
        return Layout(workers=self.plan(n_jobs, threads), threads=threads,
                      cores=os.cpu_count() or 1)

    def map(self, jobs: Sequence[Job], task: Callable[[Job], JobResult],
            on_result: Callable[[Job, JobResult], None]) -> None:
        ctx = multiprocessing.get_context("spawn")
        workers = self.plan(len(jobs), getattr(task, "threads", 1))
        pending = list(jobs)
        running: dict[Connection, tuple[Job, multiprocessing.process.BaseProcess]] = {}
        while pending or running:
            while pending and len(running) < workers:
                job = pending.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_work, args=(child, task, job), daemon=True)
                proc.start()
                child.close()
                running[parent] = (job, proc)
            for conn in wait(list(running)):
                job, proc = running.pop(conn)
                try:
                    result = JobResult.from_dict(conn.recv())
                except (EOFError, OSError):
                    proc.join()
                    result = worker_died(job, proc.exitcode)
                conn.close()
                proc.join()
                on_result(job, result)
