"""Running a suite end to end and writing its run folder."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import zsbench
from zsbench.cache import Cache
from zsbench.errors import RunInterrupted, ZsbenchError
from zsbench.plugin import Executor
from zsbench.registry import Registry
from zsbench.results import (
    MANIFEST,
    METRICS,
    load_results,
    write_json,
    write_results,
)
from zsbench.runner import Job, JobResult, JobTask, RunInfo, jobs_of, prepare_data, stderr_log
from zsbench.suite import Suite

DEFAULT_RESULTS = Path("results") / "runs"


@dataclass
class RunOutcome:
    """What ``run_suite`` returns."""

    run_dir: Path
    results: list[JobResult]
    leaderboard: str
    manifest: dict[str, Any]

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status != "ok"]


def git_revision(where: Path) -> str | None:
    """The commit checked out at ``where`` (with ``+dirty`` when modified), or None."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


@contextlib.contextmanager
def deterministic_torch() -> Iterator[bool]:
    """Turn on torch's deterministic algorithms for the duration of a run."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield True
    finally:
        torch.use_deterministic_algorithms(before)


def new_run_dir(root: Path, suite: Suite) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{suite.name}-{suite.profile}" if suite.profile else suite.name
    candidate = root / f"{base}-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}-{stamp}-{n}"
    return candidate


def plugins_used(suite: Suite, registry: Registry) -> list[dict[str, str]]:
    used = [("dataset", suite.dataset.plugin)]
    used += [("model", m.plugin) for m in suite.models]
    used += [("metric", m.plugin) for m in suite.metrics]
    used += [("output", m.plugin) for m in suite.outputs]
    out, seen = [], set()
    for kind, name in used:
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        info = registry.get(kind, name)
        out.append({"kind": kind, "name": name, "distribution": info.distribution,
                    "version": info.version, "source": info.source})
    return out


def build_manifest(suite: Suite, registry: Registry, *, results: list[JobResult],
                   counts: dict[str, int], timings: dict[str, float],
                   deterministic: bool, argv: list[str] | None, executor: Executor,
                   cache: Cache | None, reused: set[str], state: str,
                   threads: int) -> dict[str, Any]:
    import numpy
    import torch

    return {
        "zsbench_version": zsbench.__version__,
        "suite": {"name": suite.name, "path": str(suite.path), "profile": suite.profile,
                  "config_hash": suite.config_hash},
        "state": state,
        "command": argv or ["zsbench", *sys.argv[1:]],
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "git_revision": git_revision(suite.path.resolve().parent),
        "seeds": suite.seeds,
        "data_seed": suite.data_seed,
        "device": device_description(),
        "deterministic_algorithms": deterministic,
        "torch_threads": threads,
        "executor": {"name": executor.name, **executor.get_params()},
        "cache": str(cache.root) if cache is not None else None,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__, "platform": platform.platform()},
        "plugins": plugins_used(suite, registry),
        "splits": counts,
        "jobs": [{"label": r.label, "seed": r.seed, "status": r.status, "error": r.error,
                  "resumed": f"{r.label}/seed{r.seed}" in reused,
                  "trained": f"{r.label}/seed{r.seed}" not in reused
                  and r.status == "ok" and not r.training.get("from_cache", False),
                  "timings": r.timings, "training": r.training} for r in results],
        "timings": timings,
    }


def _resumed_results(run_dir: Path, suite: Suite, jobs: list[Job]) -> dict[str, JobResult]:
    """The finished (ok) results of an earlier, interrupted run of the same suite."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise ZsbenchError(f"{run_dir}: cannot resume: no {MANIFEST} there. Fix: give the run "
                           "folder that the interrupted `zsbench run` created.")
    manifest = json.loads(manifest_path.read_text())
    old_hash = manifest.get("suite", {}).get("config_hash")
    if old_hash != suite.config_hash:
        raise ZsbenchError(f"{run_dir}: cannot resume: that run used another configuration "
                           f"(config hash {old_hash}, this suite and profile give "
                           f"{suite.config_hash}). Fix: resume with the same suite file and "
                           "--profile, or start a new run.")
    if not (run_dir / METRICS).is_file():
        return {}
    _, results = load_results(run_dir)
    wanted = {j.key for j in jobs}
    return {f"{r.label}/seed{r.seed}": r for r in results
            if r.status == "ok" and f"{r.label}/seed{r.seed}" in wanted}


def run_suite(suite: Suite, *, registry: Registry | None = None,
              results_root: Path = DEFAULT_RESULTS, run_dir: Path | None = None,
              resume: bool = False, executor: Executor | None = None,
              cache: Cache | None = None, plugin_modules: Sequence[str] = (),
              threads: int = 1,
              log: Callable[[str], None] = stderr_log,
              argv: list[str] | None = None) -> RunOutcome:
    """Run every model x seed of ``suite`` and write the run folder.

    ``resume=True`` continues the run in ``run_dir``: its finished jobs are kept, the rest
    run. ``executor`` defaults to the local one; ``cache`` (None: no cache) supplies
    datasets and trained models by content; ``plugin_modules`` names modules registered in
    code that worker processes must import too; every job runs with ``threads`` torch
    threads (the count changes the last bits of results, so it is recorded)."""
    registry = registry or Registry()
    executor = executor or registry.create("executor", "local", {})
    t0 = time.perf_counter()
    if resume and run_dir is None:
        raise ZsbenchError("resume needs the run folder to continue.")
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(Path(results_root), suite)
    jobs = jobs_of(suite)
    kept = _resumed_results(run_dir, suite, jobs) if resume else {}
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        shutil.copyfile(suite.path, run_dir / "suite.toml")
    info = RunInfo(suite=suite, run_dir=run_dir, jobs=jobs)
    for problem in registry.call_observers("zsbench_run_start", run=info):
        log(f"warning: {problem}")
    log(f"zsbench: suite {suite.name}" + (f" (profile {suite.profile})" if suite.profile else "")
        + f": preparing dataset {suite.dataset.plugin}")
    data = prepare_data(suite, registry, cache=cache)
    log("zsbench: splits " + ", ".join(f"{k} {v}" for k, v in data.counts.items()))
    timings: dict[str, float] = {"prepare_s": time.perf_counter() - t0}
    results: dict[str, JobResult] = dict(kept)
    pending = [j for j in jobs if j.key not in kept]
    if kept:
        log(f"zsbench: resuming: {len(kept)} finished job(s) kept, {len(pending)} to run")
    columns, sort = suite.leaderboard.get("columns"), suite.leaderboard.get("sort")

    def ordered() -> list[JobResult]:
        return [results[j.key] for j in jobs if j.key in results]

    def save(state: str) -> tuple[dict[str, Any], pd.DataFrame, str]:
        timings["total_s"] = time.perf_counter() - t0
        manifest = build_manifest(suite, registry, results=ordered(), counts=data.counts,
                                  timings=timings, deterministic=deterministic, argv=argv,
                                  executor=executor, cache=cache, reused=set(kept), state=state,
                                  threads=threads)
        board, text = write_results(run_dir, ordered(), columns, sort)
        write_json(run_dir / MANIFEST, manifest)
        return manifest, board, text

    def on_result(job: Job, result: JobResult) -> None:
        done = len(results) + 1
        status = "ok" if result.status == "ok" else f"FAILED: {result.error}"
        log(f"zsbench: [{done}/{len(jobs)}] {job.label} (seed {job.seed}) {status} "
            f"({result.timings.get('total_s', 0):.1f} s)")
        results[job.key] = result
        save("running")
        for problem in registry.call_observers("zsbench_result_recorded", run=info,
                                               result=result):
            log(f"warning: {problem}")

    task = JobTask(suite_path=str(suite.path), profile=suite.profile, run_dir=str(run_dir),
                   cache_root=str(cache.root) if cache is not None else None,
                   plugin_modules=list(plugin_modules), threads=threads)
    task.attach(suite, registry, data, cache)
    with deterministic_torch() as deterministic:
        save("running")
        log(f"zsbench: {len(pending)} job(s) on executor {executor.name}")
        try:
            executor.map(pending, task, on_result)
        except KeyboardInterrupt:
            save("interrupted")
            raise RunInterrupted(str(suite.path), suite.profile, str(run_dir), len(results),
                                 len(jobs)) from None
        manifest, board, text = save("finished")
    for problem in registry.call_observers("zsbench_run_end", run=info, leaderboard=board):
        log(f"warning: {problem}")
    return RunOutcome(run_dir=run_dir, results=ordered(), leaderboard=text, manifest=manifest)
