"""The executor checks: every job runs exactly once and its own result comes back, in the
driver (the process and thread that called ``map``); a failed result stays failed; no jobs,
no calls. The kit's task is picklable, so process and cluster executors are checked too."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from zsbench.jobs import Job, JobResult
from zsbench.plugin import Executor
from zsbench.testing._base import Check, PluginLike, Subject, _Fail, bind, conformance_check
from zsbench.testing.common import COMMON_CHECKS


@dataclass
class EchoTask:
    """A picklable job task: job ``i`` scores ``echo = i``; a job with ``fail = True``
    returns a failed result (as a failing model does). ``threads`` is what executors read
    to size their pools."""

    threads: int = 1

    def __call__(self, job: Job) -> JobResult:
        if job.params.get("fail"):
            return JobResult(label=job.label, plugin=job.plugin, seed=job.seed,
                             status="failed", error="planted failure")
        return JobResult(label=job.label, plugin=job.plugin, seed=job.seed, status="ok",
                         scores={"echo": {"value": float(job.params["i"]),
                                          "higher_is_better": True, "headline": True,
                                          "metric": "echo"}},
                         training={"pid": os.getpid()})


def echo_jobs(n: int = 3) -> list[Job]:
    """``n`` jobs for :class:`EchoTask`; the last one fails."""
    return [Job(label=f"kit{i}", plugin="kit", params={"i": i, "fail": i == n - 1},
                weighting=None, seed=i) for i in range(n)]


class ExecutorHarness(Subject):
    """An executor under test."""

    base = Executor
    kind = "executor"


executor_check = conformance_check(ExecutorHarness)


@executor_check
def check_executor_runs_every_job(h: ExecutorHarness) -> None:
    """``map`` calls ``on_result`` exactly once per job with that job's own result, in the
    driver's process and thread; a failed result arrives failed."""
    jobs = echo_jobs(3)
    seen: list[tuple[Job, JobResult, int, int]] = []

    def on_result(job: Job, result: JobResult) -> None:
        seen.append((job, result, os.getpid(), threading.get_ident()))

    h.fresh().map(jobs, EchoTask(), on_result)
    keys = sorted(job.key for job, *_ in seen)
    if keys != sorted(j.key for j in jobs):
        raise _Fail(f"on_result was called for {keys}; expected each of "
                    f"{sorted(j.key for j in jobs)} exactly once (results may come in any "
                    "order, but none may be lost or repeated).")
    for job, result, pid, thread in seen:
        if not isinstance(result, JobResult) or (result.label, result.seed) != (job.label,
                                                                                job.seed):
            raise _Fail(f"on_result got {result!r} for job {job.key}; expected that job's "
                        "own JobResult.")
        if job.params["fail"]:
            if result.status != "failed":
                raise _Fail(f"job {job.key}'s task returned a failed result but on_result "
                            f"got status {result.status!r}; pass results on unchanged.")
        elif result.status != "ok" or result.scores["echo"]["value"] != job.params["i"]:
            raise _Fail(f"job {job.key} came back as {result.status!r} with scores "
                        f"{result.scores}; expected the task's result unchanged.")
        if (pid, thread) != (os.getpid(), threading.get_ident()):
            raise _Fail("on_result was called outside the driver's thread; call it where "
                        "map was called (the driver alone writes the run folder).")


@executor_check
def check_executor_no_jobs(h: ExecutorHarness) -> None:
    """``map`` of no jobs returns without calling ``on_result``."""
    calls: list[Job] = []
    h.fresh().map([], EchoTask(), lambda job, result: calls.append(job))
    if calls:
        raise _Fail("map([]) called on_result; with no jobs it must call nothing.")


EXECUTOR_CHECKS = (check_executor_runs_every_job, check_executor_no_jobs)


def check_executor(executor: PluginLike, *, seed: int = 0,
                   label: str | None = None) -> Iterator[Check]:
    """Yield the checks of an executor plugin as :class:`Check` ``(name, run)`` pairs (three
    tiny jobs through ``map``; a worker that dies must become a failed result, which a
    portable check cannot provoke: test that against your own executor)."""
    h = ExecutorHarness(executor, label=label, seed=seed)
    for check in (*COMMON_CHECKS, *EXECUTOR_CHECKS):
        yield bind(check, h)
