"""Run summaries: a run folder (or its job results and manifest) reduced to what a
comparison needs, per model and score the mean and spread over seeds, plus the suite's
identity and the environment facts of the run."""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zsbench.cache import content_key
from zsbench.intervals import Items
from zsbench.tolerances import ComparisonError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# What decides whether two runs can be bit-identical (besides the code and the seeds).
IDENTITY_KEYS = ("device", "torch", "numpy", "deterministic", "threads")
ENV_KEYS = ("zsbench", "python", "torch", "numpy", "device", "deterministic", "threads",
            "platform")
OPTIONAL_ENV_KEYS = ("threads",)  # compared only when both sides recorded them
# Sections that may change without making a baseline stale.
NON_EXPERIMENT_SECTIONS = ("tolerances", "leaderboard", "profiles")


SPREAD_SEEDS: int = 3
"""Fewest seeds a recorded seed spread is measured with."""


# Summaries (of a run folder or a baseline file)
@dataclass
class ScoreSummary:
    """One score of one model: ``mean`` and ``std`` (population) over ``n`` seeds, and,
    in a baseline, ``seed_sd``: the sample std between training seeds measured on
    ``seed_sd_seeds`` (at least :data:`SPREAD_SEEDS`) seeds, for a check with one seed."""

    mean: float
    std: float
    higher_is_better: bool
    headline: bool = False
    metric: str | None = None
    n: int = 0
    target: float | None = None
    control: tuple[str, float] | None = None  # (control score, limit): see results.best_marks
    seed_sd: float | None = None
    seed_sd_seeds: int = 0

    @property
    def sample_sd(self) -> float | None:
        """The sample std over this summary's own seeds when there are at least
        :data:`SPREAD_SEEDS` of them, else None."""
        if self.n < SPREAD_SEEDS or not math.isfinite(self.std):
            return None
        return self.std * math.sqrt(self.n / (self.n - 1))

    def to_json(self) -> dict[str, Any]:
        out = {"mean": _num(self.mean), "std": _num(self.std),
               "higher_is_better": self.higher_is_better, "headline": self.headline,
               "metric": self.metric, "n": self.n}
        if self.target is not None:
            out["target"] = self.target
        if self.control is not None:
            out["control"] = [self.control[0], self.control[1]]
        if self.seed_sd is not None and math.isfinite(self.seed_sd):
            out["seed_sd"] = float(self.seed_sd)
            out["seed_sd_seeds"] = int(self.seed_sd_seeds)
        return out


@dataclass
class ModelSummary:
    status: str
    seeds: list[int]
    failed_seeds: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    metric_failures: dict[str, str] = field(default_factory=dict)
    scores: dict[str, ScoreSummary] = field(default_factory=dict)
    # seed -> the training trajectory's fingerprint (:func:`trajectory_of`), where known
    trajectories: dict[int, str] = field(default_factory=dict)


@dataclass
class Summary:
    """What a comparison needs of one side: suite identity, environment, tolerances, models."""

    source: str
    kind: str  # "run" or "baseline"
    suite: dict[str, Any]
    environment: dict[str, Any]
    tolerances: dict[str, Any]
    models: dict[str, ModelSummary]
    selected: list[str] | None = None  # the scores a baseline keeps (None: all)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)  # "kind name" -> facts
    # (label, score) -> the per-item values of each seed (Items), or None when missing
    items: Callable[[str, str], list[Items] | None] | None = field(default=None, repr=False)

    def seed_items(self, label: str, score: str) -> list[Items] | None:
        """The per-item values of ``score`` of model ``label``, one :class:`Items` per
        successful seed (in seed order), when every seed has them and they average to the
        recorded scores; else None (an old run folder or baseline: tolerances decide)."""
        return self.items(label, score) if self.items is not None else None


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def trajectory_of(training: Mapping[str, Any] | None) -> str | None:
    """A fingerprint of a job's training trajectory: its steps and final training loss,
    bit for bit (another trajectory, even a neutral one, ends on another loss); None for a
    model without a recorded training loss."""
    loss = (training or {}).get("final_train_loss")
    if not isinstance(loss, (int, float)) or isinstance(loss, bool):
        return None
    return f"{training.get('steps')}:{float(loss).hex()}"


def same_training(a: ModelSummary, b: ModelSummary) -> bool:
    """Whether two sides trained the same models: the same seeds, each with the same
    known trajectory fingerprint (a change outside training, e.g. in evaluation, keeps
    it; a change of the training code or its random draws does not)."""
    return (bool(a.seeds) and sorted(a.seeds) == sorted(b.seeds)
            and all(a.trajectories.get(s) is not None
                    and a.trajectories.get(s) == b.trajectories.get(s) for s in a.seeds))


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return math.nan, math.nan
    if any(not math.isfinite(v) for v in vals):
        return math.nan, math.nan
    mean = math.fsum(vals) / len(vals)
    var = math.fsum((v - mean) ** 2 for v in vals) / len(vals)
    return mean, math.sqrt(var)


def experiment_hash(config: Mapping[str, Any], profile: str | None) -> str:
    """A hash of what a suite *computes*: its raw configuration without ``[tolerances]``,
    ``[leaderboard]`` and ``[profiles]``, plus the overrides of the profile used (again
    without tolerances and leaderboard). Tuning a tolerance keeps baselines valid."""
    base = {k: v for k, v in config.items() if k not in NON_EXPERIMENT_SECTIONS}
    overrides = {}
    if profile is not None:
        overrides = {k: v for k, v in config.get("profiles", {}).get(profile, {}).items()
                     if k not in NON_EXPERIMENT_SECTIONS}
    return content_key({"config": base, "profile": profile, "overrides": overrides},
                       length=16, spaced=True)


def suite_tolerances(config: Mapping[str, Any], profile: str | None) -> dict[str, Any]:
    """``[tolerances]`` with the profile's ``tolerances.KEY = ...`` overrides applied (a
    shallow update, as profiles do for every table section)."""
    tol = copy.deepcopy(dict(config.get("tolerances", {})))
    if profile is not None:
        tol.update(copy.deepcopy(config.get("profiles", {}).get(profile, {})
                                 .get("tolerances", {})))
    return tol


def environment_of(manifest: Mapping[str, Any]) -> dict[str, Any]:
    versions = manifest.get("versions", {}) or {}
    return {"zsbench": manifest.get("zsbench_version"), "python": versions.get("python"),
            "torch": versions.get("torch"), "numpy": versions.get("numpy"),
            "platform": versions.get("platform"), "device": manifest.get("device"),
            "deterministic": manifest.get("deterministic_algorithms"),
            "threads": manifest.get("torch_threads", versions.get("torch_threads")),
            "git_revision": manifest.get("git_revision")}


def plugins_of(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"model NAME": {"distribution", "version", "dependencies"}}`` from a manifest's
    ``plugins`` list."""
    out = {}
    for p in manifest.get("plugins", []) or []:
        out[f"{p.get('kind')} {p.get('name')}"] = {
            "distribution": p.get("distribution"), "version": p.get("version"),
            "dependencies": dict(p.get("dependencies") or {})}
    return out


def plugin_differences(a: Mapping[str, Mapping[str, Any]],
                       b: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per plugin used on both sides whose distribution, version or declared
    dependency versions differ (nothing when one side recorded no plugins)."""
    if not a or not b:
        return []
    diffs = []
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        kind, _, name = key.partition(" ")
        where = f'{kind} "{name}"'
        if (x.get("distribution"), x.get("version")) != (y.get("distribution"), y.get("version")):
            diffs.append(f"{where}: {x.get('distribution')} {x.get('version')} vs "
                         f"{y.get('distribution')} {y.get('version')}")
        dx, dy = x.get("dependencies") or {}, y.get("dependencies") or {}
        for dist in sorted(set(dx) | set(dy)):
            if dx.get(dist) != dy.get(dist):
                diffs.append(f"{where} depends on {dist} {dx.get(dist, '(not recorded)')} vs "
                             f"{dy.get(dist, '(not recorded)')}")
    return diffs


def summarize_results(results: Sequence[Any], manifest: Mapping[str, Any],
                      suite_config: Mapping[str, Any] | None, *, source: str = "(in memory)",
                      run_dir: Path | None = None) -> Summary:
    """Reduce job results (``JobResult`` objects) and their manifest to a :class:`Summary`;
    with ``run_dir``, the summary can read the jobs' per-item values for paired
    comparisons."""
    msuite = dict(manifest.get("suite", {}))
    profile = msuite.get("profile")
    suite = {"name": msuite.get("name"), "profile": profile,
             "config_hash": msuite.get("config_hash")}
    tolerances: dict[str, Any] = {}
    if suite_config is not None:
        suite["experiment_hash"] = experiment_hash(suite_config, profile)
        tolerances = suite_tolerances(suite_config, profile)
        columns = suite_config.get("leaderboard", {}).get("columns")
        suite["columns"] = list(columns) if isinstance(columns, list) else None
    suite["seeds"] = list(manifest.get("seeds", []))
    suite["data_seed"] = manifest.get("data_seed")
    models: dict[str, ModelSummary] = {}
    for r in results:
        m = models.setdefault(r.label, ModelSummary(status="ok", seeds=[]))
        if r.status == "ok":
            m.seeds.append(r.seed)
            if (fingerprint := trajectory_of(getattr(r, "training", None))) is not None:
                m.trajectories[int(r.seed)] = fingerprint
        else:
            m.failed_seeds.append(r.seed)
            m.errors[r.seed] = r.error or "failed"
        failures = getattr(r, "failures", None) or {}
        for what, message in failures.items():
            kind, _, name = what.partition(" ")
            if kind == "metric":
                m.metric_failures.setdefault(name, f'metric "{name}" failed: {message}')
        if not failures:  # an old run folder: the failures only in the warning text
            for w in r.warnings:
                if w.startswith('metric "') and '" failed' in w:
                    m.metric_failures.setdefault(w.split('"')[1], w)
    for label, m in models.items():
        ok = [r for r in results if r.label == label and r.status == "ok"]
        names: list[str] = []
        for r in ok:
            names += [n for n in r.scores if n not in names]
        for name in names:
            first = next(r.scores[name] for r in ok if name in r.scores)
            values = [_float(r.scores[name]["value"]) for r in ok if name in r.scores]
            mean, std = _mean_std(values)
            target, control = first.get("target"), first.get("control")
            m.scores[name] = ScoreSummary(mean=mean, std=std,
                                          higher_is_better=bool(first["higher_is_better"]),
                                          headline=bool(first.get("headline", False)),
                                          metric=first.get("metric"), n=len(values),
                                          target=None if target is None else float(target),
                                          control=None if not control else
                                          (str(control[0]), float(control[1])))
        if not m.seeds:
            m.status = "failed"
        elif m.failed_seeds:
            m.status = "partial"
    loader = None if run_dir is None else _items_loader(results, run_dir)
    return Summary(source=source, kind="run", suite=suite, environment=environment_of(manifest),
                   tolerances=tolerances, models=models, plugins=plugins_of(manifest),
                   items=loader)


def _items_loader(results: Sequence[Any], run_dir: Path
                  ) -> Callable[[str, str], list[Items] | None]:
    """``(label, score) -> [Items per successful seed]`` read from ``run_dir``'s per-item
    values (None when a seed has none, or they do not give its recorded value)."""
    by_label: dict[str, list[Any]] = {}
    for r in results:
        if r.status == "ok":
            by_label.setdefault(r.label, []).append(r)

    def loader(label: str, score: str) -> list[Items] | None:
        from zsbench.results import job_items

        jobs = sorted(by_label.get(label, []), key=lambda r: r.seed)
        out = []
        for r in jobs:
            if score not in r.scores:
                continue
            it = job_items(run_dir, r, score)
            if it is None:
                _refuse_damaged_items(run_dir, r, score)
            if it is None or not _matches(it, r.scores[score].get("value")):
                return None
            out.append(it)
        return out or None

    return loader


def _refuse_damaged_items(run_dir: Path, result: Any, score: str) -> None:
    """A :class:`ComparisonError` when the per-item values file that holds ``score`` of
    ``result`` exists but cannot be read (truncated, overwritten): the comparison would
    otherwise fall back from pairing to tolerances without a word."""
    import zipfile
    import zlib

    import numpy as np

    from zsbench.results import items_path

    metric = result.scores[score].get("metric")
    path = items_path(run_dir, result.label, result.seed, str(metric)) if metric else None
    if path is None or not path.is_file():
        return
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                np.asarray(data[key])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ComparisonError(
            f"{path}: the run's per-item values of {result.label} (seed {result.seed}) "
            f"cannot be read ({type(exc).__name__}: {exc}), so its scores cannot be paired "
            "image by image. Fix: run the job again (zsbench run SUITE --out NEW_DIR), or "
            f"delete {path.parent.parent} to compare this run by tolerances alone.") from None


def _matches(items: Items, value: Any) -> bool:
    """Whether per-item values give the recorded ``value`` (a hand-edited or damaged
    results file breaks the pairing, never the check)."""
    v, stat = _float(value), items.statistic()
    return math.isfinite(v) and math.isfinite(stat) and abs(stat - v) <= 1e-9 * max(1.0, abs(v))


def summarize_run(run_dir: str | Path) -> Summary:
    """Read a run folder (``manifest.json``, ``metrics.json``, ``suite.toml``)."""
    from zsbench.results import load_results

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ComparisonError(f"{run_dir}: no such run folder. Fix: give the folder that "
                              "`zsbench run` printed at its end (or a baseline with "
                              "--baseline FILE).")
    manifest, results = load_results(run_dir)
    state = manifest.get("state", "finished")
    if state != "finished":
        raise ComparisonError(f"{run_dir}: the run is not finished (state {state!r}). Fix: "
                              "finish it with `zsbench run SUITE --resume RUN_DIR`, "
                              "then compare.")
    config = None
    suite_file = run_dir / "suite.toml"
    if suite_file.is_file():
        try:
            config = tomllib.loads(suite_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ComparisonError(f"{suite_file}: is not valid TOML ({exc}).") from exc
    return summarize_results(results, manifest, config, source=str(run_dir), run_dir=run_dir)
