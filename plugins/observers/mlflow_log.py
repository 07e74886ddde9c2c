"""The ``standard-mlflow`` observer: each zsbench run as an MLflow run.

**Off unless switched on** with ``ZSBENCH_MLFLOW=1`` (``on``/``true``/``yes``; ``0``,
``off``, ``false``, ``no`` or unset: off). Off, each hook reads one environment variable
and returns: mlflow is never imported, nothing is written. ``MLFLOW_TRACKING_URI`` alone
does not switch it on (a user may set it for other tools); it only says where to log.

Where: ``MLFLOW_TRACKING_URI`` when set (a server ``http://host:5000``, ``databricks``,
any SQL database MLflow takes), else the local SQLite store ``sqlite:///mlruns.db`` in the
current directory, with the artifacts as files under ``./mlruns/`` (MLflow's default
artifact root for a database store). The experiment is ``$ZSBENCH_MLFLOW_EXPERIMENT``, or
the suite's name; it is created when missing.

What (see :func:`zsbench_run_start`, :func:`zsbench_result_recorded`,
:func:`zsbench_run_end`):

- the **run** (named after the run folder): params ``suite``, ``profile``, ``seeds``,
  ``data_seed``, ``dataset``, ``models``, ``jobs``, ``config_hash``, ``zsbench_version``
  and, at the end, ``plugin.KIND.NAME`` = "distribution version" of every plugin the suite
  used; tags ``zsbench.*`` (run folder, suite file, git revision as
  ``mlflow.source.git.commit``, device, failed jobs); metrics ``jobs_ok``, ``jobs_failed``,
  ``total_s``; artifacts ``suite.toml``, ``manifest.json``, ``metrics.json``,
  ``metrics.csv``, ``leaderboard.md``, ``leaderboard.csv`` and ``report.html``.
- one **nested run** per model x seed (named ``LABEL/seedN``, status FINISHED or FAILED):
  params ``label``, ``plugin``, ``seed``, ``weighting`` and the model's suite parameters as
  ``model.KEY``; every finite score as a metric of its own name; ``timing/*`` (seconds),
  ``training/*`` (the numbers of the training summary: epochs_run, final losses, ...);
  step metrics ``history/train_loss``, ``history/val_loss``, ``history/lr`` per epoch when
  the result's ``training`` holds a ``history`` (one dict per epoch), and
  ``emergence/<split>_fail_rate``, ``emergence/<split>_valid_share`` per training step for
  a conditional generator's emergence curve; the error of a failed job as the tag
  ``zsbench.error``. A run continued with ``--resume`` logs the kept results too, at its
  end (tag ``zsbench.resumed``).

A tracker that fails (mlflow missing, a server that does not answer, a deleted experiment)
warns once, in one line naming the cause and the fix, stops tracking that run and never
fails it. The first contact with an HTTP server is bounded (no retries, 10 s) unless
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``/``MLFLOW_HTTP_REQUEST_TIMEOUT`` are set, so a server
that is down costs seconds, not MLflow's minutes of retries. A run that ends early
(Ctrl-C, an internal error) is marked KILLED when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zsbench import hookimpl

SWITCH = "ZSBENCH_MLFLOW"
EXPERIMENT = "ZSBENCH_MLFLOW_EXPERIMENT"
URI = "MLFLOW_TRACKING_URI"
DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
INSTALL = 'pip install "zsbench[mlflow]"'
ARTIFACTS = ("suite.toml", "manifest.json", "metrics.json", "metrics.csv", "leaderboard.md",
             "leaderboard.csv", "report.html")
_ON = {"1", "on", "true", "yes"}
_OFF = {"", "0", "off", "false", "no"}
_HISTORY = ("train_loss", "val_loss", "lr")
_FIRST_CONTACT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}

logger = logging.getLogger("zsbench.mlflow")

_trackers: dict[int, _Tracker] = {}  # id(RunInfo) -> its tracker, while the run is open
_warned: set[str] = set()  # process-wide one-time warnings
_atexit_registered = False


class _Problem(Exception):
    """A tracker failure whose cause and fix are known."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(cause)
        self.cause, self.fix = cause, fix


def enabled() -> bool:
    """Whether ``ZSBENCH_MLFLOW`` switches tracking on (a value that is neither on nor off
    warns once and counts as off)."""
    raw = os.environ.get(SWITCH, "")
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value not in _OFF:
        _warn_once("switch", f"{SWITCH}={raw!r} is neither on nor off, so MLflow tracking "
                             f"stays off. Fix: {SWITCH}=1 to track runs, {SWITCH}=0 not to.")
    return False


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, or the local SQLite store ``sqlite:///mlruns.db``. A
    relative SQLite path is made absolute here, against the current directory: MLflow
    keeps one store per URI text, so a relative one would stay in the first directory."""
    uri = os.environ.get(URI, "").strip() or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path, sep, query = uri[len("sqlite:///"):].partition("?")
        if path and path != ":memory:" and not Path(path).is_absolute():
            uri = f"sqlite:///{Path(path).resolve().as_posix()}{sep}{query}"
    return uri


def experiment_name(run: Any) -> str:
    """``$ZSBENCH_MLFLOW_EXPERIMENT``, or the suite's name."""
    return os.environ.get(EXPERIMENT, "").strip() or str(run.suite.name)


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning("%s", message)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(name: str) -> str:
    """``name`` as an MLflow metric/param/tag key (letters, digits, ``_-. /``; no empty or
    relative path parts)."""
    name = re.sub(r"[^\w\-. /]", "_", str(name))
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    return "/".join(parts)[:250] or "_"


def _text(value: Any) -> str:
    """A param or tag value as text (lists and tables as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, NaN, inf)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def _first_contact(uri: str) -> Iterator[None]:
    """Bound the first requests to an HTTP tracking server (no retries, 10 s timeout) unless
    the user set MLflow's own limits: a server that is down must not hold up the run."""
    if not uri.lower().startswith(("http://", "https://")):
        yield
        return
    added = [name for name in _FIRST_CONTACT if name not in os.environ]
    for name in added:
        os.environ[name] = _FIRST_CONTACT[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class _Tracker:
    """The MLflow side of one zsbench run: the parent run and its nested runs."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.uri = tracking_uri()
        self.client: Any = None
        self.experiment_id = ""
        self.parent_id = ""
        self.logged: set[str] = set()  # job keys with a nested run
        self.broken = False
        self.lock = threading.Lock()

    # -- the three events ------------------------------------------------------------------
    def start(self) -> None:
        from mlflow.tracking import MlflowClient

        run, suite = self.run, self.run.suite
        with _first_contact(self.uri):
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment()
            run_dir = Path(run.run_dir).resolve() if run.run_dir is not None else None
            tags = {"zsbench.suite": suite.name, "zsbench.profile": suite.profile or "",
                    "zsbench.config_hash": suite.config_hash,
                    "zsbench.suite_path": str(suite.path),
                    "zsbench.run_dir": str(run_dir) if run_dir is not None else "",
                    "mlflow.note.content": getattr(suite, "description", "") or ""}
            parent = self.client.create_run(
                self.experiment_id, start_time=int(getattr(run, "started", time.time()) * 1000),
                tags={k: _text(v) for k, v in tags.items() if v != ""},
                run_name=run_dir.name if run_dir is not None else suite.name)
        self.parent_id = parent.info.run_id
        import zsbench

        models = list(dict.fromkeys(job.label for job in run.jobs))
        self._log(self.parent_id, params={
            "suite": suite.name, "profile": suite.profile or "default",
            "seeds": ",".join(str(s) for s in suite.seeds), "data_seed": suite.data_seed,
            "dataset": suite.dataset.plugin, "models": ",".join(models),
            "jobs": len(run.jobs), "config_hash": suite.config_hash,
            "zsbench_version": zsbench.__version__})

    def record(self, result: Any, *, resumed: bool = False) -> None:
        """One nested run for one model x seed result."""
        key = f"{result.label}/seed{result.seed}"
        if key in self.logged:
            return
        job = next((j for j in self.run.jobs if j.key == key), None)
        end = _now_ms()
        total = _number(result.timings.get("total_s"))
        tags = {"mlflow.parentRunId": self.parent_id, "zsbench.label": result.label,
                "zsbench.plugin": result.plugin, "zsbench.seed": result.seed,
                "zsbench.status": result.status}
        if result.error:
            tags["zsbench.error"] = _one_line(result.error, 5000)
        if resumed:
            tags["zsbench.resumed"] = "true"
        child = self.client.create_run(
            self.experiment_id, start_time=end - int(1000 * total) if total else end,
            tags={k: _text(v) for k, v in tags.items()}, run_name=key)
        child_id = child.info.run_id
        params: dict[str, Any] = {"label": result.label, "plugin": result.plugin,
                                  "seed": result.seed}
        if job is not None:
            params["weighting"] = job.weighting or "none"
            params.update({f"model.{k}": v for k, v in sorted(job.params.items())})
        metrics: list[tuple[str, float, int]] = []
        for name, score in result.scores.items():
            value = _number(score.get("value") if isinstance(score, dict) else score)
            if value is not None:
                metrics.append((name, value, 0))
        for name, value in result.timings.items():
            if (v := _number(value)) is not None:
                metrics.append((f"timing/{name}", v, 0))
        training = result.training if isinstance(result.training, dict) else {}
        more_tags: dict[str, Any] = {}
        for name, value in training.items():
            if name in ("history", "emergence"):
                continue
            if (v := _number(value)) is not None:
                metrics.append((f"training/{name}", v, 0))
            elif isinstance(value, (str, bool)):
                more_tags[f"zsbench.training.{name}"] = value
        metrics += _history(training.get("history"))
        emergence = training.get("emergence")
        if isinstance(emergence, dict):
            metrics += _emergence(emergence.get("curve"))
            for name in ("control", "tolerance"):
                if name in emergence:
                    params[f"emergence.{name}"] = emergence[name]
        self._log(child_id, params=params, metrics=metrics, tags=more_tags, time_ms=end)
        self.client.set_terminated(child_id, "FINISHED" if result.status == "ok" else "FAILED",
                                   end_time=end)
        self.logged.add(key)

    def finish(self) -> None:
        run_dir = Path(self.run.run_dir) if self.run.run_dir is not None else None
        manifest: dict[str, Any] = {}
        if run_dir is not None and (run_dir / "manifest.json").is_file():
            manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        if run_dir is not None and (run_dir / "metrics.json").is_file():
            from zsbench.results import load_results

            for result in load_results(run_dir)[1]:  # kept by --resume: not recorded yet
                self.record(result, resumed=True)
        params = {f"plugin.{p.get('kind')}.{p.get('name')}":
                  f"{p.get('distribution')} {p.get('version')}".strip()
                  for p in manifest.get("plugins", []) if isinstance(p, dict)}
        jobs = manifest.get("jobs", [])
        failed = sum(1 for j in jobs if isinstance(j, dict) and j.get("status") != "ok")
        tags = {"mlflow.source.git.commit": manifest.get("git_revision"),
                "zsbench.device": manifest.get("device"), "zsbench.state": manifest.get("state"),
                "zsbench.failed_jobs": failed}
        metrics = [("jobs_ok", float(len(jobs) - failed), 0), ("jobs_failed", float(failed), 0)]
        if (total := _number(manifest.get("timings", {}).get("total_s"))) is not None:
            metrics.append(("total_s", total, 0))
        self._log(self.parent_id, params=params, metrics=metrics,
                  tags={k: v for k, v in tags.items() if v is not None})
        for name in ARTIFACTS:
            if run_dir is not None and (run_dir / name).is_file():
                self.client.log_artifact(self.parent_id, str(run_dir / name))
        self.client.set_terminated(self.parent_id, "FINISHED")

    # -- helpers -----------------------------------------------------------------------
    def _experiment(self) -> str:
        name = experiment_name(self.run)
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                return str(self.client.create_experiment(name))
            except Exception:  # another process created it meanwhile
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            raise _Problem(f'the MLflow experiment "{name}" at {self.uri} is deleted',
                           f"restore it (mlflow experiments restore --experiment-id "
                           f"{exp.experiment_id}) or name another one with {EXPERIMENT}=NAME")
        return str(exp.experiment_id)

    def _log(self, run_id: str, *, params: dict[str, Any] | None = None,
             metrics: list[tuple[str, float, int]] | None = None,
             tags: dict[str, Any] | None = None, time_ms: int | None = None) -> None:
        """Log in batches within MLflow's limits (100 params or tags, 1000 metrics)."""
        from mlflow.entities import Metric, Param, RunTag

        stamp = time_ms or _now_ms()
        plist = [Param(_key(k), _text(v)[:6000]) for k, v in (params or {}).items()]
        tlist = [RunTag(_key(k), _text(v)[:5000]) for k, v in (tags or {}).items()]
        mlist = [Metric(_key(k), v, stamp, step) for k, v, step in (metrics or [])]
        for i in range(0, len(plist), 100):
            self.client.log_batch(run_id, params=plist[i:i + 100])
        for i in range(0, len(tlist), 100):
            self.client.log_batch(run_id, tags=tlist[i:i + 100])
        for i in range(0, len(mlist), 1000):
            self.client.log_batch(run_id, metrics=mlist[i:i + 1000])

    def fail(self, exc: BaseException) -> None:
        """Warn once (one line: cause and fix) and stop tracking this run."""
        self.broken = True
        if isinstance(exc, _Problem):
            cause, fix = exc.cause, exc.fix
        elif isinstance(exc, ImportError):
            cause = f"a package MLflow needs is missing ({_one_line(str(exc), 200)})"
            fix = INSTALL
        else:
            cause = (f"could not log to {self.uri}: {type(exc).__name__}: "
                     f"{_one_line(str(exc), 200)}")
            fix = (f"check {URI} (unset, it logs to the local {DEFAULT_TRACKING_URI}) or switch "
                   f"tracking off with {SWITCH}=0")
        logger.warning("MLflow tracking stopped for this run (the run goes on): %s. Fix: %s.",
                       cause, fix)
        if self.parent_id and self.client is not None:  # best effort, bounded, silent
            with _first_contact(self.uri), contextlib.suppress(Exception):
                self.client.set_terminated(self.parent_id, "FAILED")


def _history(history: Any) -> list[tuple[str, float, int]]:
    """Per-epoch step metrics from ``[{"epoch", "train_loss", "val_loss", "lr", ...}]``."""
    out = []
    for i, row in enumerate(history if isinstance(history, list) else []):
        if not isinstance(row, dict):
            continue
        step = int(row.get("epoch", i + 1))
        for name in _HISTORY:
            if (value := _number(row.get(name))) is not None:
                out.append((f"history/{name}", value, step))
    return out


def _emergence(curve: Any) -> list[tuple[str, float, int]]:
    """Step metrics from an emergence curve ``[{"step", "hole_fail_rate", ...}]``."""
    out = []
    for i, row in enumerate(curve if isinstance(curve, list) else []):
        if not isinstance(row, dict):
            continue
        step = int(row.get("step", i))
        for name, value in row.items():
            if name != "step" and (v := _number(value)) is not None:
                out.append((f"emergence/{name}", v, step))
    return out


def _close_open_runs() -> None:
    """At exit: a run that never reached its end (Ctrl-C, an error) is marked KILLED."""
    for tracker in list(_trackers.values()):
        if tracker.parent_id and not tracker.broken:
            with contextlib.suppress(Exception):
                tracker.client.set_terminated(tracker.parent_id, "KILLED")
    _trackers.clear()


def _tracker(run: Any) -> _Tracker | None:
    """The open, working tracker of ``run``, or None."""
    tracker = _trackers.get(id(run))
    return tracker if tracker is not None and not tracker.broken else None


@hookimpl
def zsbench_run_start(run: Any) -> None:
    """Open the MLflow run (when ``ZSBENCH_MLFLOW`` is on)."""
    global _atexit_registered
    if not enabled():
        return
    try:
        import mlflow  # noqa: F401
    except ImportError as exc:
        _warn_once("import", f"{SWITCH} is on but mlflow cannot be imported ({exc}), so this "
                             f"run is not tracked. Fix: {INSTALL}, or unset {SWITCH}.")
        return
    tracker = _Tracker(run)
    _trackers[id(run)] = tracker
    if not _atexit_registered:
        atexit.register(_close_open_runs)
        _atexit_registered = True
    try:
        tracker.start()
    except Exception as exc:
        tracker.fail(exc)


@hookimpl
def zsbench_result_recorded(run: Any, result: Any) -> None:
    """One nested run per model x seed result."""
    tracker = _tracker(run)
    if tracker is None:
        return
    with tracker.lock:
        try:
            tracker.record(result)
        except Exception as exc:
            tracker.fail(exc)


@hookimpl
def zsbench_run_end(run: Any) -> None:
    """Kept results, plugin versions, artifacts; close the MLflow run."""
    tracker = _tracker(run)
    _trackers.pop(id(run), None)
    if tracker is None:
        return
    with tracker.lock:
        try:
            tracker.finish()
        except Exception as exc:
            tracker.fail(exc)
