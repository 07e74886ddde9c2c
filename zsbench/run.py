"""Running a suite end to end and writing its run folder."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import sys
import threading
import time
from collections.abc import Sequence
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
    skip_notes,
    write_json,
    write_results,
)
from zsbench.runner import Job, JobResult, JobTask, RunInfo, jobs_of, prepare_data
from zsbench.suite import Suite, plain_name
from zsbench.torch_env import deterministic_algorithms

DEFAULT_RESULTS = Path("results") / "runs"
#: The folders a run writes inside its run folder.
RUN_FOLDERS = ("checkpoints", "pictures", "items")
logger = logging.getLogger(__name__)


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
    """The commit checked out in the git repository that holds ``where`` (a folder), or None.

    Read from ``.git/HEAD``, the refs and ``packed-refs`` directly: no git command runs, so
    nothing a repository's configuration names (hooks, ``core.fsmonitor``, filters, a pager)
    is ever executed. Whether the working tree has changes is not recorded."""
    where = Path(where).resolve()
    for folder in (where, *where.parents):
        dot_git = folder / ".git"
        try:
            if dot_git.is_dir():
                gitdir = dot_git
            elif dot_git.is_file():
                text = dot_git.read_text(encoding="utf-8").strip()
                if not text.startswith("gitdir:"):
                    return None
                gitdir = (folder / text[len("gitdir:"):].strip()).resolve()
            else:
                continue
            return _head_commit(gitdir)
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _head_commit(gitdir: Path) -> str | None:
    head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    if _is_sha(head):
        return head
    if not head.startswith("ref:"):
        return None
    ref = head[len("ref:"):].strip()
    if not ref.startswith("refs/") or ".." in ref.split("/"):
        return None
    common = gitdir
    if (gitdir / "commondir").is_file():  # a linked worktree
        common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in dict.fromkeys((gitdir, common)):
        loose = base / ref
        if loose.is_file():
            value = loose.read_text(encoding="utf-8").strip()
            return value if _is_sha(value) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.strip().split(" ")
            if len(parts) == 2 and parts[1] == ref and _is_sha(parts[0]):
                return parts[0]
    return None


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def new_run_dir(root: Path, suite: Suite) -> Path:
    """A fresh folder ``SUITE[-PROFILE]-STAMP`` directly inside ``root``."""
    for name in (suite.name, suite.profile or "x"):
        if not plain_name(name):
            raise ZsbenchError(f"{suite.path}: {name!r} is not a plain suite or profile name, "
                               "so it cannot name a run folder. Fix: use letters, digits and "
                               "._-= only.")
    if root.exists() and not root.is_dir():
        raise ZsbenchError(f"{root}: the results path is a file, not a folder. Fix: give "
                           "--results a folder (it is created when missing).")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{suite.name}-{suite.profile}" if suite.profile else suite.name
    candidate = root / f"{base}-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}-{stamp}-{n}"
    if candidate.resolve().parent != root.resolve():
        raise ZsbenchError(f"{candidate}: would lie outside the results folder {root}. Fix: "
                           "use a plain suite name.")
    return candidate


def refuse_files_in_the_way(run_dir: Path) -> None:
    """A :class:`ZsbenchError` when a file lies where the run writes one of its folders
    (``RUN/pictures``, ...), before any work is done."""
    for sub in RUN_FOLDERS:
        if (run_dir / sub).exists() and not (run_dir / sub).is_dir():
            raise ZsbenchError(f"{run_dir / sub}: is a file where the run writes its {sub}/ "
                               "folder. Fix: move that file away, or give --out a new "
                               "folder.")


def check_out_dir(run_dir: Path, suite: Suite, force: bool) -> None:
    """``--out DIR``: a new or empty folder; an existing run folder only with ``force``."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ZsbenchError(f"{run_dir}: is a file, not a folder. Fix: give --out a new folder.")
    if not run_dir.is_dir():
        return
    refuse_files_in_the_way(run_dir)
    if force:
        return
    try:
        busy = any(run_dir.iterdir())
    except OSError as exc:
        raise ZsbenchError(f"{run_dir}: cannot be read ({exc.strerror}). Fix: check its "
                           "permissions or give --out another folder.") from None
    if not busy:
        return
    same = False
    try:
        old = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        same = old.get("suite", {}).get("config_hash") == suite.config_hash
    except (OSError, ValueError, AttributeError):
        pass
    if same:
        raise ZsbenchError(f"{run_dir}: already holds a run of this suite. Fix: continue it "
                           f"with --resume {run_dir}, or pass --force to overwrite it.")
    raise ZsbenchError(f"{run_dir}: the folder is not empty (it holds another run or other "
                       "files), and a run would overwrite them. Fix: give --out a new folder, "
                       "or pass --force to write into it anyway.")


def clean_temporary_files(run_dir: Path) -> int:
    """Remove the temporary files an interrupted atomic write left behind; return how many."""
    n = 0
    for tmp in run_dir.rglob(".*.tmp"):
        try:
            if tmp.is_file():
                tmp.unlink()
                n += 1
        except OSError:
            pass
    return n


def plugins_used(suite: Suite, registry: Registry) -> list[dict[str, Any]]:
    """Each plugin the suite names with its distribution, version, entry point and the
    versions of its declared dependencies (:attr:`Configurable.depends_on`)."""
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
                    "version": info.version, "source": info.source,
                    "dependencies": info.cls.dependencies()})
    return out


def build_manifest(suite: Suite, registry: Registry, *, results: list[JobResult],
                   counts: dict[str, int], timings: dict[str, float],
                   deterministic: bool, argv: list[str] | None, executor: Executor,
                   cache: Cache | None, reused: set[str], state: str,
                   threads: int, layout: dict[str, Any] | None = None) -> dict[str, Any]:
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
        "layout": layout or {"workers": 1, "threads_per_job": threads},
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


def _resumed_results(run_dir: Path, suite: Suite) -> dict[str, JobResult]:
    """The finished (ok) results of an earlier, interrupted run of the same suite (every one
    of them, whatever seeds this call asks for: ``suite.seeds`` grows to include the earlier
    run's seeds, and the log says so)."""
    if not run_dir.is_dir():
        raise ZsbenchError(f"{run_dir}: cannot resume: no such run folder. Fix: give the "
                           "folder that the interrupted `zsbench run` printed.")
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        copy = run_dir / "suite.toml"
        try:
            same = copy.is_file() and copy.read_text(encoding="utf-8") == suite.text
        except (OSError, UnicodeDecodeError):
            same = False
        if same:  # interrupted before the first job: nothing finished yet
            logger.info("%s was interrupted before its first job; starting it afresh", run_dir)
            return {}
        raise ZsbenchError(f"{run_dir}: cannot resume: no {MANIFEST} there. Fix: give the run "
                           "folder that the interrupted `zsbench run` created, or start a new "
                           "run without --resume.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        old_hash = manifest.get("suite", {}).get("config_hash")
        old_profile = manifest.get("suite", {}).get("profile")
        old_seeds = [int(x) for x in manifest.get("seeds", [])]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ZsbenchError(f"{manifest_path}: is damaged ({type(exc).__name__}: {exc}), so the "
                           "run cannot be resumed. Fix: start a new run.") from None
    if old_hash != suite.config_hash or old_profile != suite.profile:
        raise ZsbenchError(f"{run_dir}: cannot resume: that run used another configuration "
                           f"(profile {old_profile!r}, config hash {old_hash}; this suite and "
                           f"profile give {suite.profile!r}, {suite.config_hash}). Fix: resume "
                           "with the same suite file and --profile, or start a new run.")
    added = [x for x in suite.seeds if x not in old_seeds]
    missing = [x for x in old_seeds if x not in suite.seeds]
    if added or missing:
        suite.seeds = old_seeds + added
        logger.info("resuming: the run had seeds %s; every finished result is kept%s; the run "
                    "now covers seeds %s", old_seeds,
                    f" and seed(s) {added} are added" if added else "", suite.seeds)
    if not (run_dir / METRICS).is_file():
        return {}
    _, results = load_results(run_dir)
    wanted = {j.key for j in jobs_of(suite)}
    return {f"{r.label}/seed{r.seed}": r for r in results
            if r.status == "ok" and f"{r.label}/seed{r.seed}" in wanted}


def run_suite(suite: Suite, *, registry: Registry | None = None,
              results_root: Path = DEFAULT_RESULTS, run_dir: Path | None = None,
              resume: bool = False, executor: Executor | None = None,
              cache: Cache | None = None, plugin_modules: Sequence[str] = (),
              threads: int | None = None,
              argv: list[str] | None = None, force: bool = False) -> RunOutcome:
    """Run every model x seed of ``suite`` and write the run folder.

    ``resume=True`` continues the run in ``run_dir``: its finished jobs are kept, the rest
    run. ``executor`` defaults to ``pool`` (the whole machine); ``cache`` (None: no cache)
    supplies datasets and trained models by content; ``plugin_modules`` names modules
    registered in code that worker processes must import too (the registry's own
    in-code modules are added); every job runs with ``threads`` torch threads (None: the
    executor's layout decides; the count changes the last bits of results, so the layout
    is recorded)."""
    registry = registry or Registry()
    executor = executor or registry.create("executor", "pool", {})
    t0 = time.perf_counter()
    if resume and run_dir is None:
        raise ZsbenchError("resume needs the run folder to continue.")
    if run_dir is None:
        run_dir = new_run_dir(Path(results_root), suite)
    elif not resume:
        check_out_dir(Path(run_dir), suite, force)
    run_dir = Path(run_dir)
    kept = _resumed_results(run_dir, suite) if resume else {}
    jobs = jobs_of(suite)
    if resume:
        clean_temporary_files(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            (run_dir / "suite.toml").write_text(suite.text, encoding="utf-8")
    except OSError as exc:
        raise ZsbenchError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc}). "
                           "Fix: give --results/--out a writable folder path (no file in "
                           "its way).") from None
    refuse_files_in_the_way(run_dir)
    try:
        return _run(suite, registry, run_dir, jobs, kept, executor, cache, plugin_modules,
                    threads, argv, t0)
    except KeyboardInterrupt:
        raise RunInterrupted(str(suite.path), suite.profile, str(run_dir), len(kept),
                             len(jobs)) from None
    except ZsbenchError:
        raise
    except Exception as exc:
        exc.zsbench_run_dir = run_dir  # type: ignore[attr-defined]  # where the CLI logs it
        raise


def _run(suite: Suite, registry: Registry, run_dir: Path, jobs: list[Job],
         kept: dict[str, JobResult], executor: Executor, cache: Cache | None,
         plugin_modules: Sequence[str], threads: int, argv: list[str] | None,
         t0: float) -> RunOutcome:
    info = RunInfo(suite=suite, run_dir=run_dir, jobs=jobs)
    for problem in registry.call_observers("zsbench_run_start", run=info):
        logger.warning("%s", problem)
    logger.info("suite %s%s: preparing dataset %s", suite.name,
                f" (profile {suite.profile})" if suite.profile else "", suite.dataset.plugin)
    data = prepare_data(suite, registry, cache=cache)
    logger.info("splits %s", ", ".join(f"{k} {v}" for k, v in data.counts.items()))
    timings: dict[str, float] = {"prepare_s": time.perf_counter() - t0}
    results: dict[str, JobResult] = dict(kept)
    pending = [j for j in jobs if j.key not in kept]
    if kept:
        logger.info("resuming: %d finished job(s) kept, %d to run", len(kept), len(pending))
    columns, sort = suite.leaderboard.get("columns"), suite.leaderboard.get("sort")

    def ordered() -> list[JobResult]:
        return [results[j.key] for j in jobs if j.key in results]

    def save(state: str) -> tuple[dict[str, Any], pd.DataFrame, str]:
        timings["total_s"] = time.perf_counter() - t0
        manifest = build_manifest(suite, registry, results=ordered(), counts=data.counts,
                                  timings=timings, deterministic=True, argv=argv,
                                  executor=executor, cache=cache, reused=set(kept), state=state,
                                  threads=threads, layout=layout.to_dict())
        board, text = write_results(run_dir, ordered(), columns, sort)
        write_json(run_dir / MANIFEST, manifest)
        return manifest, board, text

    # a run driven beside others (variants side by side) names its suite on each line
    beside = f"{suite.name}: " if threading.current_thread() is not threading.main_thread() \
        else ""

    def on_result(job: Job, result: JobResult) -> None:
        done = len(results) + 1
        status = "ok" if result.status == "ok" else f"FAILED: {result.error}"
        logger.info("[%d/%d] %s%s (seed %d) %s (%.1f s)", done, len(jobs), beside, job.label,
                    job.seed, status, result.timings.get("total_s", 0))
        for warning in result.warnings:  # the job's own (a worker's are told here)
            logger.warning("%s: %s", job.key, warning)
        results[job.key] = result
        save("running")
        for problem in registry.call_observers("zsbench_result_recorded", run=info,
                                               result=result):
            logger.warning("%s", problem)

    modules = list(plugin_modules) + [m for m in getattr(registry, "code_modules", [])
                                      if m not in plugin_modules]
    layout = executor.layout(len(pending), threads,
                             portable=not getattr(registry, "code_objects", False))
    threads = layout.threads
    task = JobTask(suite=suite, run_dir=str(run_dir),
                   cache_root=str(cache.root) if cache is not None else None,
                   plugin_modules=modules, threads=layout.threads, workers=layout.workers)
    task.attach(suite, registry, data, cache)
    with deterministic_algorithms():  # every job runs under it too (JobTask)
        save("running")
        logger.info("%d job(s) on executor %s: %d side by side, %d torch thread(s) each",
                    len(pending), executor.name, layout.workers, layout.threads)
        try:
            executor.map(pending, task, on_result)
        except KeyboardInterrupt:
            save("interrupted")
            raise RunInterrupted(str(suite.path), suite.profile, str(run_dir), len(results),
                                 len(jobs)) from None
        manifest, board, text = save("finished")
    for what, reason, labels in skip_notes(ordered()):
        logger.info("note: %s does not apply to %s (n/a, not a failure): %s", what,
                    ", ".join(labels), reason)
    try:
        from zsbench.report import write_report

        write_report(run_dir)
    except Exception as exc:  # the report is a convenience: never fail a finished run
        logger.warning("report.html not written: %s: %s", type(exc).__name__, exc)
    for problem in registry.call_observers("zsbench_run_end", run=info, leaderboard=board):
        logger.warning("%s", problem)
    return RunOutcome(run_dir=run_dir, results=ordered(), leaderboard=text, manifest=manifest)
