"""Running a suite end to end and writing its run folder."""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zsbench
from zsbench.registry import Registry
from zsbench.results import leaderboard_frame, write_json, write_results
from zsbench.runner import JobResult, RunInfo, jobs_of, prepare_data, run_job, stderr_log
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
                   deterministic: bool, argv: list[str] | None) -> dict[str, Any]:
    import numpy
    import torch

    return {
        "zsbench_version": zsbench.__version__,
        "suite": {"name": suite.name, "path": str(suite.path), "profile": suite.profile,
                  "config_hash": suite.config_hash},
        "command": argv,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "git_revision": git_revision(suite.path.resolve().parent),
        "seeds": suite.seeds,
        "data_seed": suite.data_seed,
        "device": device_description(),
        "deterministic_algorithms": deterministic,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__, "platform": platform.platform()},
        "plugins": plugins_used(suite, registry),
        "splits": counts,
        "jobs": [{"label": r.label, "seed": r.seed, "status": r.status, "error": r.error,
                  "timings": r.timings, "training": r.training} for r in results],
        "timings": timings,
    }


def run_suite(suite: Suite, *, registry: Registry | None = None,
              results_root: Path = DEFAULT_RESULTS, run_dir: Path | None = None,
              log: Callable[[str], None] = stderr_log,
              argv: list[str] | None = None) -> RunOutcome:
    """Run every model x seed of ``suite`` and write the run folder."""
    registry = registry or Registry()
    t0 = time.perf_counter()
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(Path(results_root), suite)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(suite.path, run_dir / "suite.toml")
    jobs = jobs_of(suite)
    info = RunInfo(suite=suite, run_dir=run_dir, jobs=jobs)
    for problem in registry.call_observers("zsbench_run_start", run=info):
        log(f"warning: {problem}")
    log(f"zsbench: suite {suite.name}" + (f" (profile {suite.profile})" if suite.profile else "")
        + f": preparing dataset {suite.dataset.plugin}")
    data = prepare_data(suite, registry)
    counts = data.counts
    log("zsbench: splits " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    timings = {"prepare_s": time.perf_counter() - t0}
    results: list[JobResult] = []
    with deterministic_torch() as deterministic:
        for i, job in enumerate(jobs, 1):
            log(f"zsbench: [{i}/{len(jobs)}] {job.label} (seed {job.seed})")
            result = run_job(job, data, suite, registry, run_dir, log=log)
            if result.status != "ok":
                log(f"zsbench: [{i}/{len(jobs)}] {job.label} (seed {job.seed}) FAILED: "
                    f"{result.error}")
            results.append(result)
            for problem in registry.call_observers("zsbench_result_recorded", run=info,
                                                   result=result):
                log(f"warning: {problem}")
            write_results(run_dir, results, suite.leaderboard.get("columns"),
                          suite.leaderboard.get("sort"))
    timings["total_s"] = time.perf_counter() - t0
    text = write_results(run_dir, results, suite.leaderboard.get("columns"),
                         suite.leaderboard.get("sort"))
    manifest = build_manifest(suite, registry, results=results, counts=counts, timings=timings,
                              deterministic=deterministic, argv=argv or sys.argv)
    write_json(run_dir / "manifest.json", manifest)
    board = leaderboard_frame(results, suite.leaderboard.get("columns"))
    for problem in registry.call_observers("zsbench_run_end", run=info, leaderboard=board):
        log(f"warning: {problem}")
    return RunOutcome(run_dir=run_dir, results=results, leaderboard=text, manifest=manifest)
