"""The plugin module named by the ``baselines-jsonl`` entry point: an observer that appends
one JSON line per event of a run (start, each model x seed result, end) to a log file.

The file is ``$ZSBENCH_JSONL_LOG`` when that environment variable is set, and otherwise
``events.jsonl`` in the run folder, so the log never lands in the working directory
unasked. Point the variable at one file to collect every run in one place, or tail it
from an external tracker. Non-finite numbers are written as ``null`` (strict JSON).
Switch the logger off alone with ``ZSBENCH_DISABLE_PLUGINS=baselines-jsonl``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

from zsbench import hookimpl

ENV = "ZSBENCH_JSONL_LOG"
DEFAULT_NAME = "events.jsonl"


def log_path(run: Any) -> Path | None:
    """Where events of ``run`` (a :class:`zsbench.runner.RunInfo`) go, or None."""
    given = os.environ.get(ENV, "").strip()
    if given:
        return Path(given).expanduser()
    run_dir = getattr(run, "run_dir", None)
    return Path(run_dir) / DEFAULT_NAME if run_dir is not None else None


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def append_event(run: Any, event: str, data: dict[str, Any]) -> None:
    """Append ``{"event": event, "time": ..., **data}`` as one line."""
    path = log_path(run)
    if path is None:
        return
    record = {"event": event, "time": _dt.datetime.now().isoformat(timespec="seconds"),
              "suite": run.suite.name, "run_dir": str(run.run_dir), **data}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(_plain(record), sort_keys=True) + "\n")


@hookimpl
def zsbench_run_start(run: Any) -> None:
    """Log the suite, its profile and configuration hash, and the jobs to come."""
    append_event(run, "run_start", {"profile": run.suite.profile,
                                    "config_hash": run.suite.config_hash,
                                    "jobs": [job.key for job in run.jobs]})


@hookimpl
def zsbench_result_recorded(run: Any, result: Any) -> None:
    """Log one model x seed result: status, error, every score and the timings."""
    append_event(run, "result", {
        "label": result.label, "plugin": result.plugin, "seed": result.seed,
        "status": result.status, "error": result.error,
        "scores": {name: s["value"] for name, s in result.scores.items()},
        "timings": result.timings})


@hookimpl
def zsbench_run_end(run: Any, leaderboard: Any) -> None:
    """Log the leaderboard: one row per model label."""
    rows = leaderboard.reset_index().to_dict(orient="records") if len(leaderboard) else []
    append_event(run, "run_end", {"leaderboard": rows})
