"""Regression checks: compare two runs, or a run against a committed baseline.

A run folder (or a baseline file) is first reduced to a :class:`Summary`: for each model,
its status, its seeds and, for each score, the mean and the spread (population std) over the
seeds that succeeded. Two summaries are then compared score by score under the tolerances
declared in the suite's ``[tolerances]`` table::

    [tolerances]
    default = { relative = 0.10, absolute = 1e-3 }   # every score not named below
    hole_bce = { absolute = 0.02 }                   # one score, by name
    probe = { relative = 0.25 }                      # every score of one metric plugin
    transect_in_bce = { relative = 0.05, spread = 2.0 }

A change counts against a score only in its *worse* direction (``higher_is_better`` decides
which way that is). The allowed worsening is ``absolute + relative * |baseline mean| +
spread * max(baseline std, new std)``; the most specific entry wins entirely (score name,
then metric plugin, then ``default``, then :data:`BUILTIN_TOLERANCE`), and keys it leaves out
are 0. Verdicts: ``same`` (equal), ``better``, ``worse within tolerance``, ``REGRESSION``. A
model or seed that failed in the new run but succeeded in the baseline is a regression too, as
is a score whose metric plugin raised in the new run.

A score that declares a ``target`` (e.g. 1 for a hole/rim ratio) is worse when it moves
away from its target, whatever its direction.

**Paired comparisons.** When both sides hold per-image scores of the same images (same
data seed and experiment; a run folder's ``items/``, a baseline's ``NAME.items.npz``
written by ``zsbench baseline``) and those values reproduce the recorded scores, a score
is compared image by image: the difference of its means over seeds, with a paired 95 %
bootstrap interval (one resample of the images shared by every seed of both sides:
:func:`zsbench.intervals.paired_difference`). It is a ``REGRESSION`` only if it is worse by
more than ``absolute + spread * std`` of its tolerance plus the seed allowance
``2 sigma sqrt(1/n_base + 1/n_new)`` (``sigma``: the larger sample std over seeds; 0 with
one seed each) *and* the paired interval excludes zero on the worse side. Pairing says
whether two trained models differ on these images; the seed allowance whether the
difference exceeds what another training seed gives. The ``relative`` part of a tolerance
stands in for noise the tolerance rule cannot measure, so the paired rule leaves it out: a
5 % change on the same images is caught, a rerun with other training seeds that moves
within the recorded seed spread is not. Scores without per-image values on both sides
(old run folders and baselines) keep the tolerance rule.

Usage errors (exit code 2, :class:`ComparisonError`): runs of different suites (name,
profile, or configuration apart from ``[tolerances]`` and ``[leaderboard]``), unless
``allow_suite_change``; a model or a score present on one side only (named).

The determinism contract: on CPU, with the same environment (device, torch, numpy, number
of torch threads, deterministic algorithms on), a rerun of the same code with the same seeds
gives bit-identical scores; the table's ``identical`` column shows it. Exact equality is
reported, never required: the tolerances decide, and when the environments differ (another
device, another torch) the report says how.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.errors import RegressionError, ZsbenchError, did_you_mean
from zsbench.intervals import Items, paired_difference
from zsbench.seeds import derive_seed

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

BASELINE_FORMAT = 1
BUILTIN_TOLERANCE: dict[str, float] = {"relative": 0.10, "absolute": 1e-3, "spread": 0.0}
"""Used for every score when a suite's ``[tolerances]`` has no entry for it and no
``default``."""
TOLERANCE_KEYS = ("relative", "absolute", "spread")
SAME, BETTER, WORSE_OK, REGRESSION = "same", "better", "worse within tolerance", "REGRESSION"
FAILED, METRIC_FAILED, UNDEFINED = "FAILED", "METRIC FAILED", "REGRESSION (now NaN)"
REGRESSION_VERDICTS = {REGRESSION, FAILED, METRIC_FAILED, UNDEFINED}
# What decides whether two runs can be bit-identical (besides the code and the seeds).
IDENTITY_KEYS = ("device", "torch", "numpy", "deterministic", "threads")
ENV_KEYS = ("zsbench", "python", "torch", "numpy", "device", "deterministic", "threads",
            "platform")
OPTIONAL_ENV_KEYS = ("threads",)  # compared only when both sides recorded them
# Sections that may change without making a baseline stale.
NON_EXPERIMENT_SECTIONS = ("tolerances", "leaderboard", "profiles")


class ComparisonError(ZsbenchError):
    """Two results that cannot be compared (different suites, a missing model or score):
    a usage error, exit code 2."""

    exit_code = 2


# ---------------------------------------------------------------------------------------
# Tolerances
@dataclass(frozen=True)
class Tolerance:
    """How much a score may worsen: ``absolute + relative * |baseline| + spread * std``."""

    relative: float = 0.0
    absolute: float = 0.0
    spread: float = 0.0
    source: str = "builtin"

    def allowed(self, baseline: float, std: float = 0.0) -> float:
        s = std if math.isfinite(std) else 0.0
        b = abs(baseline) if math.isfinite(baseline) else 0.0
        return self.absolute + self.relative * b + self.spread * s

    def describe(self) -> str:
        parts = []
        if self.relative:
            parts.append(f"{self.relative:.3g}×")
        if self.absolute:
            parts.append(f"{self.absolute:.3g}")
        if self.spread:
            parts.append(f"{self.spread:.3g}σ")
        return " + ".join(parts) if parts else "exact"


def parse_tolerances(table: Mapping[str, Any], where: str = "[tolerances]"
                     ) -> dict[str, Tolerance]:
    """Validate a suite's ``[tolerances]`` table: each key (``default``, a score name or a
    metric plugin name) maps to a table of non-negative ``relative``, ``absolute`` and
    ``spread`` numbers."""
    out: dict[str, Tolerance] = {}
    if not isinstance(table, Mapping):
        raise ComparisonError(f"{where}: expected a table of tolerances, got {table!r}. Fix: "
                              "write e.g. default = { relative = 0.1, absolute = 1e-6 }.")
    for key, entry in table.items():
        if not isinstance(entry, Mapping):
            raise ComparisonError(
                f"{where}.{key}: expected a table like {{ relative = 0.1 }} or "
                f"{{ absolute = 0.02 }}, got {entry!r}. Fix: write {key} = {{ absolute = "
                f"{entry!r} }} or {key} = {{ relative = {entry!r} }}.")
        values: dict[str, float] = {}
        for k, v in entry.items():
            if k not in TOLERANCE_KEYS:
                guess = did_you_mean(k, TOLERANCE_KEYS)
                hint = f'did you mean "{guess}"? ' if guess else ""
                raise ComparisonError(f"{where}.{key}.{k}: unknown key. Fix: {hint}allowed: "
                                      f"{', '.join(TOLERANCE_KEYS)}.")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ComparisonError(f"{where}.{key}.{k}: expected a non-negative number, "
                                      f"got {v!r}.")
            values[k] = float(v)
        out[str(key)] = Tolerance(**values, source=f"[tolerances].{key}")
    return out


def resolve_tolerance(tolerances: Mapping[str, Tolerance], score: str,
                      metric: str | None) -> Tolerance:
    """The most specific entry: the score's name, its metric plugin, ``default``, builtin."""
    for key in (score, metric, "default"):
        if key is not None and key in tolerances:
            return tolerances[key]
    return Tolerance(**BUILTIN_TOLERANCE, source="the builtin default")


def check_tolerance_keys(tolerances: Mapping[str, Tolerance], scores: Iterable[str],
                         metrics: Iterable[str], where: str) -> None:
    """A tolerance naming neither a score nor a metric plugin is a typo: a usage error."""
    known = set(scores) | {m for m in metrics if m} | {"default"}
    for key in tolerances:
        if key not in known:
            guess = did_you_mean(key, known)
            hint = f'did you mean "{guess}"? ' if guess else ""
            raise ComparisonError(
                f'{where}.{key}: "{key}" is neither a score nor a metric plugin of these runs. '
                f"Fix: {hint}use a score name (see metrics.csv), a metric plugin name or "
                f"default.")


# ---------------------------------------------------------------------------------------
# Summaries (of a run folder or a baseline file)
@dataclass
class ScoreSummary:
    mean: float
    std: float
    higher_is_better: bool
    headline: bool = False
    metric: str | None = None
    n: int = 0
    target: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"mean": _num(self.mean), "std": _num(self.std),
               "higher_is_better": self.higher_is_better, "headline": self.headline,
               "metric": self.metric, "n": self.n}
        if self.target is not None:
            out["target"] = self.target
        return out


@dataclass
class ModelSummary:
    status: str
    seeds: list[int]
    failed_seeds: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    metric_failures: dict[str, str] = field(default_factory=dict)
    scores: dict[str, ScoreSummary] = field(default_factory=dict)


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
    blob = json.dumps({"config": base, "profile": profile, "overrides": overrides},
                      sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


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
            target = first.get("target")
            m.scores[name] = ScoreSummary(mean=mean, std=std,
                                          higher_is_better=bool(first["higher_is_better"]),
                                          headline=bool(first.get("headline", False)),
                                          metric=first.get("metric"), n=len(values),
                                          target=None if target is None else float(target))
        if not m.seeds:
            m.status = "failed"
        elif m.failed_seeds:
            m.status = "partial"
    loader = None
    if run_dir is not None:
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
                if it is None or not _matches(it, r.scores[score].get("value")):
                    return None
                out.append(it)
            return out or None

    return Summary(source=source, kind="run", suite=suite, environment=environment_of(manifest),
                   tolerances=tolerances, models=models, plugins=plugins_of(manifest),
                   items=loader)


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


def load_summary(path: str | Path) -> Summary:
    """A run folder or a baseline JSON file, whichever ``path`` is."""
    path = Path(path)
    if path.is_file() or (not path.exists() and path.suffix == ".json"):
        return load_baseline(path)
    return summarize_run(path)


# ---------------------------------------------------------------------------------------
# Baselines
def baseline_scores(summary: Summary, *, all_scores: bool = False,
                    scores: Sequence[str] | None = None) -> list[str]:
    """The scores a baseline keeps: ``scores`` if given, every score with ``all_scores``,
    else the headline scores plus the suite's leaderboard columns."""
    present: list[str] = []
    for m in summary.models.values():
        present += [n for n in m.scores if n not in present]
    if scores:
        missing = [s for s in scores if s not in present]
        if missing:
            guess = did_you_mean(missing[0], present)
            hint = f' (did you mean "{guess}"?)' if guess else ""
            raise ComparisonError(f'score "{missing[0]}"{hint} is not in {summary.source}. '
                                  f"Fix: choose among: {', '.join(present)}.")
        return list(scores)
    if all_scores:
        return present
    wanted = set(summary.suite.get("columns") or [])
    return [n for n in present if n in wanted or any(
        n in m.scores and m.scores[n].headline for m in summary.models.values())]


def make_baseline(summary: Summary, *, all_scores: bool = False,
                  scores: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON-ready baseline of a run summary (see :func:`write_baseline`)."""
    keep = baseline_scores(summary, all_scores=all_scores, scores=scores)
    models = {}
    for label, m in summary.models.items():
        models[label] = {
            "status": m.status,
            "seeds": sorted(m.seeds),
            "failed_seeds": sorted(m.failed_seeds),
            "scores": {n: m.scores[n].to_json() for n in keep if n in m.scores},
        }
    env = {k: summary.environment.get(k) for k in (*ENV_KEYS, "git_revision")}
    return {
        "format": BASELINE_FORMAT,
        "suite": {k: summary.suite.get(k) for k in
                  ("name", "profile", "config_hash", "experiment_hash", "seeds", "data_seed")},
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "source_run": Path(summary.source).name,
        "environment": env,
        "tolerances": summary.tolerances,
        "scores": keep,
        "models": models,
        # one line per plugin: dependencies as "distribution==version" strings
        "plugins": {key: {**facts, "dependencies": [f"{d}=={v}" for d, v in sorted(
            (facts.get("dependencies") or {}).items())]}
            for key, facts in summary.plugins.items()},
    }


def write_baseline(run_dir: str | Path, out: str | Path, *, all_scores: bool = False,
                   scores: Sequence[str] | None = None) -> dict[str, Any]:
    """Write a compact, reviewable baseline of a run: suite identity, environment,
    tolerances, and for each model and kept score the mean and std over seeds (full float
    precision, sorted keys). Refuses a run in which every seed of some model failed."""
    summary = summarize_run(run_dir)
    broken = [label for label, m in summary.models.items() if m.status == "failed"]
    if broken:
        raise ComparisonError(f'{run_dir}: model "{broken[0]}" failed on every seed, so it '
                              "cannot be a baseline. Fix: repair it and rerun the suite.")
    data = make_baseline(summary, all_scores=all_scores, scores=scores)
    from zsbench.results import atomic_write_text

    out = Path(out)
    atomic_write_text(out, dump_baseline(data))
    write_baseline_items(out, summary, data["scores"])
    return data


def baseline_items_path(path: str | Path) -> Path:
    """The per-item values beside a baseline: ``NAME.items.npz`` next to ``NAME.json``."""
    path = Path(path)
    return path.with_name(path.stem + ".items.npz")


def write_baseline_items(path: str | Path, summary: Summary, keep: Sequence[str]) -> Path | None:
    """Write the per-item values of the kept scores of every model and seed beside the
    baseline (:func:`baseline_items_path`), so that ``check`` can pair a run with it image by
    image; an old sidecar is removed when there is nothing to write."""
    from zsbench.results import atomic_write_bytes

    index: list[list[Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for label in summary.models:
        for name in keep:
            per_seed = summary.seed_items(label, name)
            for j, it in enumerate(per_seed or []):
                for g, part in enumerate(it.parts):
                    arrays[f"a{len(index)}"] = part
                    index.append([label, name, j, it.kind, g])
    target = baseline_items_path(path)
    if not index:
        target.unlink(missing_ok=True)
        return None
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, __index__=np.array(json.dumps(index)), **arrays)
    atomic_write_bytes(target, buf.getvalue())
    return target


def read_baseline_items(path: str | Path) -> Callable[[str, str], list[Items] | None] | None:
    """A loader of the per-item values stored beside a baseline, or None without them."""
    target = baseline_items_path(path)
    if not target.is_file():
        return None
    try:
        with np.load(target, allow_pickle=False) as data:
            index = json.loads(str(data["__index__"]))
            parts: dict[tuple[str, str, int], dict[int, np.ndarray]] = {}
            kinds: dict[tuple[str, str, int], str] = {}
            for i, (label, name, j, kind, g) in enumerate(index):
                parts.setdefault((label, name, j), {})[g] = np.asarray(data[f"a{i}"], np.float64)
                kinds[(label, name, j)] = kind
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise ComparisonError(f"{target}: the baseline's per-item values cannot be read "
                              f"({type(exc).__name__}: {exc}). Fix: regenerate the baseline, "
                              "or delete this file to compare by tolerances alone.") from None
    table: dict[tuple[str, str], list[Items]] = {}
    for (label, name, j) in sorted(parts, key=lambda k: k[2]):
        got = parts[(label, name, j)]
        table.setdefault((label, name), []).append(
            Items(kinds[(label, name, j)], tuple(got[g] for g in sorted(got))))
    return lambda label, name: table.get((label, name))


def dump_baseline(data: Mapping[str, Any]) -> str:
    """JSON with sorted keys, one line per leaf table (a score, the environment's values),
    so that a baseline reads well and diffs line by line in review. Floats keep full
    precision (``repr``), so a value read back is bit-identical."""

    def dump(obj: Any, depth: int) -> str:
        if isinstance(obj, Mapping) and any(isinstance(v, Mapping) for v in obj.values()):
            pad = "  " * (depth + 1)
            items = [f"{pad}{json.dumps(str(k))}: {dump(obj[k], depth + 1)}"
                     for k in sorted(obj)]
            return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
        return json.dumps(obj, sort_keys=True, allow_nan=False)

    return dump(data, 0) + "\n"


def _check_baseline(path: Path, data: Any) -> None:
    """A baseline must be of this format version and hold, for every model, numbers for its
    scores: a missing or non-numeric value is an error, and so is a model (or a whole
    baseline) whose every mean is undefined, since comparing with it would pass anything."""
    fix = f"Fix: regenerate it with `zsbench baseline RUN_DIR --out {path}`."
    if not isinstance(data, dict):
        raise ComparisonError(f"{path}: not a zsbench baseline (a JSON object expected). {fix}")
    version = data.get("format")
    if version != BASELINE_FORMAT:
        raise ComparisonError(f"{path}: baseline format {version!r}, this zsbench reads format "
                              f"{BASELINE_FORMAT}. {fix}")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ComparisonError(f'{path}: "models" is missing or empty. {fix}')
    defined = 0
    for label, m in models.items():
        scores = m.get("scores") if isinstance(m, dict) else None
        if not isinstance(scores, dict):
            raise ComparisonError(f'{path}: models.{label}: "scores" is missing. {fix}')
        ok = [s for s in (m.get("seeds") or []) if isinstance(s, int)]
        finite = 0
        for name, sc in scores.items():
            where = f"models.{label}.scores.{name}"
            if not isinstance(sc, dict) or "mean" not in sc:
                raise ComparisonError(f'{path}: {where}: "mean" is missing. {fix}')
            for key in ("mean", "std"):
                v = sc.get(key)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise ComparisonError(f"{path}: {where}.{key}: {v!r} is not a number. {fix}")
                if isinstance(v, float) and math.isinf(v):
                    raise ComparisonError(f"{path}: {where}.{key}: {v!r} is not finite. {fix}")
                if isinstance(v, float) and math.isnan(v):
                    raise ComparisonError(f"{path}: {where}.{key}: NaN (a baseline writes an "
                                          f"undefined value as null). {fix}")
            if not isinstance(sc.get("higher_is_better"), bool):
                raise ComparisonError(f'{path}: {where}: "higher_is_better" must be true or '
                                      f"false. {fix}")
            finite += sc["mean"] is not None
        if scores and ok and finite == 0:
            raise ComparisonError(f'{path}: models.{label}: every score is undefined (null), so '
                                  f"a check against it would pass anything. {fix}")
        defined += finite
    if defined == 0:
        raise ComparisonError(f"{path}: no score of any model has a value, so a check against "
                              f"it would pass anything. {fix}")


def load_baseline(path: str | Path) -> Summary:
    path = Path(path)
    if not path.is_file():
        raise ComparisonError(f"{path}: no such baseline file. Fix: write one with "
                              f"`zsbench baseline RUN_DIR --out {path}`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        _check_baseline(path, data)
        models = {}
        for label, m in data["models"].items():
            scores = {n: ScoreSummary(mean=_float(s["mean"]), std=_float(s["std"]),
                                      higher_is_better=bool(s["higher_is_better"]),
                                      headline=bool(s.get("headline", False)),
                                      metric=s.get("metric"), n=int(s.get("n", 0)),
                                      target=None if s.get("target") is None
                                      else float(s["target"]))
                      for n, s in m["scores"].items()}
            models[label] = ModelSummary(status=m.get("status", "ok"), seeds=list(m["seeds"]),
                                         failed_seeds=list(m.get("failed_seeds", [])),
                                         scores=scores)
        loader = read_baseline_items(path)
        if loader is not None:
            stored = loader

            def loader(label: str, name: str) -> list[Items] | None:
                got = stored(label, name)
                sc = models.get(label).scores.get(name) if label in models else None
                if not got or sc is None or len(got) != len(models[label].seeds):
                    return None
                mean = float(np.mean([it.statistic() for it in got]))
                if not (math.isfinite(sc.mean) and abs(mean - sc.mean)
                        <= 1e-9 * max(1.0, abs(sc.mean))):
                    return None
                return got

        return Summary(source=str(path), kind="baseline", suite=dict(data["suite"]),
                       environment=dict(data.get("environment", {})),
                       tolerances=dict(data.get("tolerances", {})), models=models,
                       selected=list(data.get("scores", [])) or None,
                       plugins={key: {**facts, "dependencies": dict(
                           d.split("==", 1) for d in facts.get("dependencies", []))}
                           for key, facts in data.get("plugins", {}).items()},
                       items=loader)
    except ComparisonError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ComparisonError(f"{path}: cannot be read ({type(exc).__name__}: {exc}). Fix: check "
                              "the file and its permissions.") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ComparisonError(f"{path}: not a zsbench baseline ({type(exc).__name__}: {exc}). "
                              "Fix: regenerate it with `zsbench baseline RUN_DIR --out "
                              f"{path}`.") from exc


# ---------------------------------------------------------------------------------------
# Comparison
@dataclass
class Row:
    """One model x score of a comparison."""

    model: str
    score: str
    higher_is_better: bool | None
    base_mean: float = math.nan
    base_std: float = math.nan
    new_mean: float = math.nan
    new_std: float = math.nan
    allowed: float = math.nan
    tolerance: str = ""
    identical: bool = False
    verdict: str = SAME
    detail: str = ""
    tolerance_source: str = "builtin"
    target: float | None = None
    rule: str = "tolerance"  # or "paired": both runs hold per-image scores of the same images
    paired_diff: float = math.nan  # new - base (for a target score: of |x - target|)
    paired_lo: float = math.nan
    paired_hi: float = math.nan
    seed_allowance: float = 0.0

    @property
    def change(self) -> float:
        return self.new_mean - self.base_mean

    @property
    def relative_change(self) -> float:
        if not (math.isfinite(self.base_mean) and math.isfinite(self.new_mean)):
            return math.nan
        if self.base_mean == 0:
            return 0.0 if self.new_mean == 0 else math.inf * math.copysign(1, self.change)
        return self.change / abs(self.base_mean)

    @property
    def regression(self) -> bool:
        return self.verdict in REGRESSION_VERDICTS

    def describe(self) -> str:
        """One line naming the model and score, for messages."""
        if self.verdict in (FAILED, METRIC_FAILED):
            return f'model "{self.model}": {self.detail}'
        rel = self.relative_change
        rel_text = f" ({rel:+.1%})" if math.isfinite(rel) else ""
        way = "higher" if self.higher_is_better else "lower"
        if self.target is not None:
            way = f"closest to {self.target:g} is best"
        else:
            way = f"{way} is better"
        text = (f'model "{self.model}", score "{self.score}" ({way}): '
                f"{_fmt(self.base_mean)} -> {_fmt(self.new_mean)}{rel_text}, worse by "
                f"{_fmt(abs(_worse_by(self)))} where {_fmt(self.allowed)} is allowed "
                f"(tolerance {self.tolerance}, from {self.tolerance_source})")
        if self.rule == "paired":
            text += (f"; paired change {_signed(self.paired_diff)} "
                     f"[{_signed(self.paired_lo)}, {_signed(self.paired_hi)}] on the same images")
        return text


@dataclass
class Comparison:
    """The outcome: one :class:`Row` per model x score, plus notes about the two sides."""

    base: Summary
    new: Summary
    rows: list[Row]
    notes: list[str]
    same_environment: bool
    environment_differences: list[str]
    plugin_differences: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    @property
    def identical(self) -> bool:
        return all(r.identical for r in self.rows)

    def frame(self) -> Any:
        """The rows as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([{
            "model": r.model, "score": r.score, "higher_is_better": r.higher_is_better,
            "baseline": r.base_mean, "baseline_std": r.base_std, "new": r.new_mean,
            "new_std": r.new_std, "change": r.change, "relative_change": r.relative_change,
            "allowed": r.allowed, "tolerance": r.tolerance, "identical": r.identical,
            "rule": r.rule, "paired_change": r.paired_diff, "paired_lo": r.paired_lo,
            "paired_hi": r.paired_hi, "verdict": r.verdict} for r in self.rows])

    def raise_for_regressions(self) -> None:
        """Raise :class:`RegressionError` (exit code 1) naming every regression."""
        bad = self.regressions
        if bad:
            raise RegressionError([r.describe() for r in bad], self.new.source,
                                  self.base.source)


def environment_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    diffs = []
    for k in ENV_KEYS:
        if k in OPTIONAL_ENV_KEYS and (a.get(k) is None or b.get(k) is None):
            continue
        if a.get(k) != b.get(k):
            diffs.append(f"{k} {a.get(k)} vs {b.get(k)}")
    return diffs


def _same_suite(base: Summary, new: Summary, allow_change: bool, notes: list[str]) -> None:
    a, b = base.suite, new.suite
    problems = []
    for key in ("name", "profile"):
        if a.get(key) != b.get(key):
            problems.append(f"suite {key} {a.get(key)!r} vs {b.get(key)!r}")
    ha, hb = a.get("experiment_hash"), b.get("experiment_hash")
    if ha and hb:
        if ha != hb:
            problems.append(f"configuration {ha} vs {hb}")
        elif a.get("config_hash") != b.get("config_hash"):
            notes.append("only [tolerances] or [leaderboard] differ between the two suites; "
                         "the new run's tolerances apply.")
    elif a.get("config_hash") != b.get("config_hash"):
        problems.append(f"config hash {a.get('config_hash')} vs {b.get('config_hash')}")
    if a.get("seeds") and b.get("seeds") and list(a["seeds"]) != list(b["seeds"]):
        notes.append(f"seeds differ: {a['seeds']} vs {b['seeds']}; means over different "
                     "seeds are compared.")
    if problems:
        text = "; ".join(problems)
        if allow_change:
            notes.append(f"different suites ({text}); compared anyway (--allow-suite-change).")
            return
        raise ComparisonError(
            f"{base.source} and {new.source} are runs of different suites ({text}). Fix: "
            "compare runs of the same suite and profile; if the suite changed on purpose, "
            "regenerate the baseline (`zsbench baseline RUN --out FILE`) or pass "
            "--allow-suite-change.")


def seed_allowance(base_std: float, base_n: int, new_std: float, new_n: int) -> float:
    """How far two runs' means over seeds may differ by the choice of training seeds alone:
    ``2 sigma sqrt(1/n_base + 1/n_new)``, ``sigma`` the larger sample std over seeds of the
    sides with two seeds or more (from the recorded population std); 0 when neither has."""
    sigmas = [std * math.sqrt(n / (n - 1)) for std, n in ((base_std, base_n), (new_std, new_n))
              if n >= 2 and math.isfinite(std)]
    if not sigmas:
        return 0.0
    return 2.0 * max(sigmas) * math.sqrt(1.0 / max(base_n, 1) + 1.0 / max(new_n, 1))


def _worse_by(row: Row) -> float:
    """How much worse the new mean is (negative: better): farther from the target for a
    score with one, else in the score's worse direction."""
    a, b = row.base_mean, row.new_mean
    if row.target is not None:
        return abs(b - row.target) - abs(a - row.target)
    return (a - b) if row.higher_is_better else (b - a)


def _score_verdict(row: Row, tol: Tolerance, paired: tuple[float, float, float] | None = None,
                   counts: tuple[int, int] = (0, 0)) -> None:
    """The verdict of one score. Without ``paired`` (the tolerance rule): worse by more than
    the tolerance. With ``paired`` (``(difference, lo, hi)`` of the score between the two
    runs on the same images, a paired bootstrap; for a target score the change of the
    distance to it) the paired rule: worse by more than ``absolute + spread x std`` plus
    :func:`seed_allowance`, *and* the paired interval excludes zero on the worse side."""
    a, b = row.base_mean, row.new_mean
    std = max(x for x in (row.base_std, row.new_std, 0.0) if math.isfinite(x))
    row.allowed = tol.allowed(a, std)
    row.tolerance = tol.describe()
    row.tolerance_source = tol.source
    row.identical = (_bits(a) == _bits(b)) and (_bits(row.base_std) == _bits(row.new_std))
    if paired is not None and math.isfinite(a) and math.isfinite(b):
        row.rule = "paired"
        row.paired_diff, row.paired_lo, row.paired_hi = paired
        row.seed_allowance = seed_allowance(row.base_std, counts[0], row.new_std, counts[1])
        row.allowed = tol.absolute + tol.spread * std + row.seed_allowance
        row.tolerance = " + ".join(p for p in (
            f"{tol.absolute:.3g}" if tol.absolute else "",
            f"{tol.spread:.3g}σ" if tol.spread else "",
            "seed spread" if row.seed_allowance else "") if p) or "exact"
        row.tolerance += ", paired"
        if a == b:
            row.verdict = SAME
            return
        worse_by = _worse_by(row)
        # the worse side of the difference: up for a lower-is-better or target score
        worse_lo = row.paired_lo if (row.target is not None or not row.higher_is_better) \
            else -row.paired_hi
        significant = math.isfinite(worse_lo) and worse_lo > 0
        if worse_by < 0:
            row.verdict = BETTER
        elif worse_by > row.allowed and significant:
            row.verdict = REGRESSION
        else:
            row.verdict = WORSE_OK
            row.detail = ("within the seed spread" if significant else
                          "the paired interval of the change includes 0")
        return
    if math.isnan(a) and math.isnan(b):
        row.verdict = SAME
    elif math.isnan(b):
        row.verdict = UNDEFINED
        row.detail = f'score "{row.score}" is NaN (undefined) in the new run, ' \
                     f"{_fmt(a)} in the baseline"
    elif math.isnan(a):
        row.verdict = BETTER
        row.detail = "undefined (NaN) in the baseline"
    elif a == b:
        row.verdict = SAME
    else:
        worse_by = _worse_by(row)
        if worse_by < 0:
            row.verdict = BETTER
        elif worse_by <= row.allowed:
            row.verdict = WORSE_OK
        else:
            row.verdict = REGRESSION


def _same_images(base: Summary, new: Summary) -> bool:
    """Whether the two sides evaluated the same images: same data seed and the same
    experiment (configuration apart from tolerances and leaderboard)."""
    a, b = base.suite, new.suite
    if a.get("data_seed") is None or a.get("data_seed") != b.get("data_seed"):
        return False
    ha, hb = a.get("experiment_hash"), b.get("experiment_hash")
    if ha and hb:
        return ha == hb
    return bool(a.get("config_hash")) and a.get("config_hash") == b.get("config_hash")


def _paired(base: Summary, new: Summary, label: str, name: str,
            target: float | None) -> tuple[float, float, float] | None:
    """The paired difference of a score between the two sides, or None without per-item
    values on both (or when they do not line up)."""
    a, b = base.seed_items(label, name), new.seed_items(label, name)
    if not a or not b:
        return None
    try:
        return paired_difference(a, b, derive_seed(0, f"paired:{label}:{name}"),
                                 target=target)
    except ValueError:
        return None


def _first_line(text: str, limit: int = 240) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _bits(x: float) -> Any:
    return "nan" if x is None or math.isnan(x) else float(x).hex()


def compare(base: Summary, new: Summary, *, scores: Sequence[str] | None = None,
            all_scores: bool = False, allow_suite_change: bool = False,
            tolerances: Mapping[str, Any] | None = None) -> Comparison:
    """Compare ``new`` against ``base`` (see the module docstring).

    Scores compared: ``scores`` if given; else those a baseline keeps; else (two runs) the
    headline scores and the suite's leaderboard columns, or every score with
    ``all_scores``. Tolerances: ``tolerances`` if given, else the new run's suite's, else the
    baseline's."""
    notes: list[str] = []
    _same_suite(base, new, allow_suite_change, notes)

    # which tolerances
    if tolerances is not None:
        raw_tol, where = dict(tolerances), "tolerances"
    elif new.tolerances or not base.tolerances:
        raw_tol, where = new.tolerances, f"{new.source}: [tolerances]"
    else:
        raw_tol, where = base.tolerances, f"{base.source}: [tolerances]"
    tol_table = parse_tolerances(raw_tol, where)
    all_names = {n for s in (base, new) for m in s.models.values() for n in m.scores}
    all_metrics = {sc.metric for s in (base, new) for m in s.models.values()
                   for sc in m.scores.values()}
    check_tolerance_keys(tol_table, all_names, all_metrics, where)

    # which models
    only_base = [m for m in base.models if m not in new.models]
    only_new = [m for m in new.models if m not in base.models]
    if only_base or only_new:
        parts = []
        if only_base:
            parts.append(f"model(s) {', '.join(repr(m) for m in only_base)} only in {base.source}")
        if only_new:
            parts.append(f"model(s) {', '.join(repr(m) for m in only_new)} only in {new.source}")
        if not allow_suite_change:
            raise ComparisonError(f"{'; '.join(parts)}. Fix: compare runs with the same "
                                  "models (same suite), or pass --allow-suite-change to "
                                  "compare the models they share.")
        notes.append("; ".join(parts) + " (not compared).")

    # which scores
    if scores:
        wanted = list(scores)
        for name in wanted:
            if name not in all_names:
                guess = did_you_mean(name, all_names)
                hint = f'did you mean "{guess}"? ' if guess else ""
                raise ComparisonError(f'score "{name}" is in neither {base.source} nor '
                                      f"{new.source}. Fix: {hint}scores: "
                                      f"{', '.join(sorted(all_names))}.")
    elif base.selected is not None:
        wanted = list(base.selected)
    else:
        wanted = baseline_scores(base, all_scores=all_scores)
        if not all_scores:  # a score that is headline in either run
            wanted += [n for n in baseline_scores(new) if n not in wanted]

    rows: list[Row] = []
    pairable = _same_images(base, new)
    n_paired = 0
    for label, bm in base.models.items():
        nm = new.models.get(label)
        if nm is None:
            continue
        lost = [s for s in bm.seeds if s in nm.failed_seeds]
        if lost:
            errors = "; ".join(f"seed {s}: {_first_line(nm.errors.get(s, 'failed'))}"
                               for s in lost)
            what = "failed" if not nm.seeds else f"failed on {len(lost)} seed(s)"
            rows.append(Row(model=label, score="(model)", higher_is_better=None,
                            verdict=FAILED, detail=f"{what} in the new run ({errors}); it "
                            "succeeded in the baseline"))
            if not nm.seeds:
                continue
        if not bm.seeds:  # failed in the baseline too: nothing to compare
            notes.append(f'model "{label}" failed in the baseline; its scores are not compared.')
            continue
        for name in wanted:
            bs, ns = bm.scores.get(name), nm.scores.get(name)
            if bs is None and ns is None:
                if not scores:
                    continue  # a score this model does not have on either side
            if bs is None or ns is None:
                metric = (bs or ns).metric if (bs or ns) else None
                if ns is None and metric in nm.metric_failures:
                    rows.append(Row(model=label, score=name,
                                    higher_is_better=bs.higher_is_better if bs else None,
                                    base_mean=bs.mean if bs else math.nan, verdict=METRIC_FAILED,
                                    detail=f'score "{name}" is missing because '
                                           f"{_first_line(nm.metric_failures[metric])}"))
                    continue
                side = new.source if ns is None else base.source
                present = bm.scores if ns is None else nm.scores
                if allow_suite_change:
                    notes.append(f'score "{name}" of model "{label}" is missing from {side} '
                                 "(not compared).")
                    continue
                guess = did_you_mean(name, present)
                hint = f'did you mean "{guess}"? ' if guess else ""
                raise ComparisonError(
                    f'score "{name}" of model "{label}" is missing from {side}'
                    + (f' (metric plugin "{metric}")' if metric else "") +
                    f". Fix: {hint}run the same metrics on both sides, choose the scores with "
                    "--scores, or regenerate the baseline.")
            if bs.higher_is_better != ns.higher_is_better:
                raise ComparisonError(
                    f'score "{name}" changed direction between {base.source} and {new.source} '
                    f"(higher_is_better {bs.higher_is_better} vs {ns.higher_is_better}). Fix: "
                    "regenerate the baseline.")
            target = ns.target if ns.target is not None else bs.target
            row = Row(model=label, score=name, higher_is_better=bs.higher_is_better,
                      base_mean=bs.mean, base_std=bs.std, new_mean=ns.mean, new_std=ns.std,
                      target=target)
            paired = _paired(base, new, label, name, target) if pairable else None
            if paired is not None:
                n_paired += 1
            _score_verdict(row, resolve_tolerance(tol_table, name, ns.metric or bs.metric),
                           paired, (bs.n or len(bm.seeds), ns.n or len(nm.seeds)))
            rows.append(row)

    diffs = environment_differences(base.environment, new.environment)
    identity = [d for d in diffs if d.split(" ")[0] in IDENTITY_KEYS]
    same_env = not identity and bool(new.environment.get("deterministic"))
    if diffs:
        notes.insert(0, "environments differ: " + "; ".join(diffs) + (
            ". Results need not be bit-identical: the tolerances decide." if identity else
            "."))
    plugin_diffs = plugin_differences(base.plugins, new.plugins)
    if plugin_diffs:
        notes.insert(0, "plugin versions differ: " + "; ".join(plugin_diffs) + ".")
    score_rows = [r for r in rows if r.score != "(model)"]
    if score_rows:
        if n_paired:
            notes.append(f"{n_paired} of {len(score_rows)} score(s) compared image by image "
                         "(paired bootstrap over the same images): a regression must be worse "
                         "than the tolerance's absolute part plus the seed spread, and its "
                         "paired 95 % interval must exclude 0; the others by tolerance.")
        elif not pairable:
            notes.append("no paired comparison (the two sides are not known to hold the same "
                         "images: data seeds or configurations differ, or one side is a "
                         "baseline of an older format): tolerances decide.")
        else:
            notes.append("no per-image scores on both sides (an old run folder or a baseline "
                         "without its .items.npz): tolerances decide.")
    if same_env and score_rows:
        n_same = sum(r.identical for r in score_rows)
        device = str(new.environment.get("device"))
        if device.startswith("cpu"):
            notes.append(f"same environment ({device}, torch {new.environment.get('torch')}, "
                         f"deterministic algorithms on): {n_same} of {len(score_rows)} values "
                         "bit-identical" + ("." if n_same == len(score_rows) else
                                            " (the code or the data changed, the number of "
                                            "torch threads differs, or something is "
                                            "nondeterministic)."))
    return Comparison(base=base, new=new, rows=rows, notes=notes, same_environment=same_env,
                      environment_differences=diffs, plugin_differences=plugin_diffs)


def check_run(run: str | Path, baseline: str | Path, **kwargs: Any) -> Comparison:
    """Compare a run folder against a baseline file (or another run folder)."""
    return compare(load_summary(baseline), summarize_run(run), **kwargs)


def compare_runs(run_a: str | Path, run_b: str | Path, **kwargs: Any) -> Comparison:
    """Compare run ``run_b`` (new) against run ``run_a`` (reference); either may be a
    baseline file."""
    return compare(load_summary(run_a), load_summary(run_b), **kwargs)


# ---------------------------------------------------------------------------------------
# Formatting
def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4f}"
    return f"{x:.3e}"


def _signed(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return "0" if x == 0 else f"{x:+.3g}"


def _pm(mean: float, std: float, n_seeds: int) -> str:
    text = _fmt(mean)
    if n_seeds > 1 and math.isfinite(mean) and math.isfinite(std):
        text += f" ± {_fmt(std)}"
    return text


def format_comparison(cmp: Comparison) -> str:
    """The comparison as a Markdown table, then the notes and a one-line verdict."""
    from tabulate import tabulate

    from zsbench.results import markdown_cell

    nb = max((len(m.seeds) for m in cmp.base.models.values()), default=0)
    nn = max((len(m.seeds) for m in cmp.new.models.values()), default=0)
    table = []
    for r in cmp.rows:
        if r.score == "(model)":
            table.append([markdown_cell(r.model), "(model)", "", "ok", "failed", "", "", "",
                          "", r.verdict])
            continue
        arrow = f"→ {r.target:g}" if r.target is not None else (
            "↑" if r.higher_is_better else "↓")
        paired = "-"
        if r.rule == "paired":
            paired = (f"{_signed(r.paired_diff)} [{_signed(r.paired_lo)}, "
                      f"{_signed(r.paired_hi)}]")
        rel = r.relative_change
        change = "0" if r.change == 0 else (
            f"{r.change:+.3g}" + (f" ({rel:+.1%})" if math.isfinite(rel) else ""))
        if not (math.isfinite(r.base_mean) and math.isfinite(r.new_mean)):
            change = "-"
        table.append([markdown_cell(r.model), f"{markdown_cell(r.score)} {arrow}", _pm(r.base_mean, r.base_std, nb),
                      _pm(r.new_mean, r.new_std, nn), change, paired,
                      f"±{_fmt(r.allowed)}" if math.isfinite(r.base_mean) else "",
                      r.tolerance, "yes" if r.identical else "no", r.verdict])
    headers = ["model", "score", "baseline", "new", "change", "paired change [95 %]",
               "allowed", "tolerance", "identical", "verdict"]
    lines = [f"baseline: {cmp.base.source}", f"new:      {cmp.new.source}", ""]
    lines.append(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)
                 if table else "(nothing to compare)")
    if cmp.notes:
        lines.append("")
        lines += [f"note: {n}" for n in cmp.notes]
    lines.append("")
    bad = cmp.regressions
    if bad:
        lines.append(f"{len(bad)} regression(s):")
        lines += [f"  - {r.describe()}" for r in bad]
    else:
        counts: dict[str, int] = {}
        for r in cmp.rows:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        lines.append("no regression (" + ", ".join(f"{v} {k}" for k, v in counts.items())
                     + ")" if counts else "no regression")
    return "\n".join(lines)


def default_baseline_path(run_dir: str | Path, root: str | Path = "results/baselines") -> Path:
    """``results/baselines/SUITE-PROFILE.json`` (or ``SUITE.json`` without a profile)."""
    from zsbench.results import load_results

    from zsbench.suite import plain_name

    manifest, _ = load_results(Path(run_dir))
    suite = manifest.get("suite", {}) if isinstance(manifest, dict) else {}
    name = str(suite.get("name") or "suite")
    if suite.get("profile"):
        name += f"-{suite['profile']}"
    if not plain_name(name):
        raise ComparisonError(f"{run_dir}: the manifest's suite name or profile {name!r} is not "
                              "a plain name, so it cannot name a baseline file. Fix: give "
                              "--out FILE.")
    return Path(root) / f"{name}.json"
