"""Baselines: a run's summary written as a compact, reviewable JSON file (plus its
per-item values beside it), read back and checked."""
from __future__ import annotations

import datetime as _dt
import json
import math
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.errors import did_you_mean_hint
from zsbench.intervals import Items
from zsbench.names import plain_name
from zsbench.summaries import (
    ENV_KEYS,
    SPREAD_SEEDS,
    ModelSummary,
    ScoreSummary,
    Summary,
    _float,
    summarize_run,
)
from zsbench.tolerances import ComparisonError

BASELINE_FORMAT = 1


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
            hint = did_you_mean_hint(missing[0], present, ' (did you mean "{}"?)')
            raise ComparisonError(f'score "{missing[0]}"{hint} is not in {summary.source}. '
                                  f"Fix: choose among: {', '.join(present)}.")
        return list(scores)
    if all_scores:
        return present
    wanted = set(summary.suite.get("columns") or [])
    return [n for n in present if n in wanted or any(
        n in m.scores and m.scores[n].headline for m in summary.models.values())]


def record_seed_spread(summary: Summary, spread: Summary | None = None) -> int:
    """Record in ``summary``'s scores the sample std between training seeds (``seed_sd``,
    ``seed_sd_seeds``) measured on at least :data:`~zsbench.summaries.SPREAD_SEEDS`
    seeds: from ``spread`` (a run of the same suite with more seeds) when given, else from
    ``summary``'s own seeds when it has that many. Return how many scores got one."""
    source = spread if spread is not None else summary
    done = 0
    for label, m in summary.models.items():
        other = source.models.get(label)
        for name, sc in m.scores.items():
            got = other.scores.get(name) if other is not None else None
            sd = got.sample_sd if got is not None else None
            if sd is not None:
                sc.seed_sd, sc.seed_sd_seeds = sd, got.n
                done += 1
    return done


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
        if m.trajectories:  # seed -> training fingerprint: was the same model trained?
            models[label]["trajectories"] = {str(s): t for s, t in sorted(m.trajectories.items())}
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
                   scores: Sequence[str] | None = None,
                   seed_spread: str | Path | None = None) -> dict[str, Any]:
    """Write a compact, reviewable baseline of a run: suite identity, environment,
    tolerances, and for each model and kept score the mean and std over seeds (full float
    precision, sorted keys), plus the seed spread (``seed_sd``) measured on at least
    three seeds: the run's own, or those of ``seed_spread`` (a run of the same suite with
    more seeds, e.g. ``--seeds 0,1,2``), so that a check with one seed knows how far
    another training seed moves each score. Refuses a run in which every seed of some
    model failed."""
    summary = summarize_run(run_dir)
    spread = None
    if seed_spread is not None:
        spread = summarize_run(seed_spread)
        _same_experiment(summary, spread)
    record_seed_spread(summary, spread)
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


def _same_experiment(summary: Summary, spread: Summary) -> None:
    """A :class:`ComparisonError` unless ``spread`` is a run of the same suite, profile
    and configuration as ``summary`` (seeds aside) with at least three seeds."""
    a, b = summary.suite, spread.suite
    keys = ("name", "profile", "experiment_hash", "data_seed")
    apart = [k for k in keys if a.get(k) != b.get(k)]
    fewest = min((len(m.seeds) for m in spread.models.values()), default=0)
    if apart or fewest < SPREAD_SEEDS:
        what = (f"its {', '.join(apart)} differ" if apart else
                f"a model has {fewest} seed(s) that succeeded")
        raise ComparisonError(
            f"{spread.source}: cannot give the seed spread of {summary.source} ({what}). Fix: "
            f"run the same suite and profile with {SPREAD_SEEDS} seeds or more (zsbench run "
            "SUITE --profile PROFILE --seeds 0,1,2) and pass that run folder.")


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
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            zlib.error) as exc:
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
            spread, k = sc.get("seed_sd"), sc.get("seed_sd_seeds")
            if spread is not None and (isinstance(spread, bool) or not isinstance(
                    spread, (int, float)) or not spread >= 0 or not math.isfinite(spread)
                    or not isinstance(k, int) or k < SPREAD_SEEDS):
                raise ComparisonError(f"{path}: {where}: seed_sd {spread!r} over "
                                      f"seed_sd_seeds {k!r}: a std of 0 or more over at least "
                                      f"{SPREAD_SEEDS} seeds expected. {fix}")
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
                                      else float(s["target"]),
                                      control=None if not s.get("control") else
                                      (str(s["control"][0]), float(s["control"][1])))
                      for n, s in m["scores"].items()}
            for n, s in m["scores"].items():
                if s.get("seed_sd") is not None:
                    scores[n].seed_sd = float(s["seed_sd"])
                    scores[n].seed_sd_seeds = int(s["seed_sd_seeds"])
            models[label] = ModelSummary(status=m.get("status", "ok"), seeds=list(m["seeds"]),
                                         failed_seeds=list(m.get("failed_seeds", [])),
                                         scores=scores, trajectories={
                                             int(k): str(v) for k, v in
                                             (m.get("trajectories") or {}).items()})
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


def load_summary(path: str | Path) -> Summary:
    """A run folder or a baseline JSON file, whichever ``path`` is."""
    path = Path(path)
    if path.is_file() or (not path.exists() and path.suffix == ".json"):
        return load_baseline(path)
    return summarize_run(path)


def default_baseline_path(run_dir: str | Path, root: str | Path = "results/baselines") -> Path:
    """``results/baselines/SUITE-PROFILE.json`` (or ``SUITE.json`` without a profile)."""
    from zsbench.results import load_results

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
