"""Run folders: what a run writes, how to read it back, and the leaderboard.

A run folder holds ``suite.toml`` (the suite as given), ``manifest.json``, ``metrics.json``
and ``metrics.csv`` (every score of every job, with its interval), ``leaderboard.md`` and
``leaderboard.csv``, ``items/`` (per job and metric, the per-item values behind its scores:
``items/LABEL-seedN/METRIC.npz``), ``checkpoints/`` and ``pictures/``. Files are written
atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from zsbench.errors import ZsbenchError
from zsbench.intervals import (
    Items,
    distance_interval,
    interval_over_seeds,
    load_items,
    seed_interval,
)
from zsbench.jobs import JobResult
from zsbench.seeds import derive_seed
from zsbench.ties import paired_key_differences, sample_sizes
from zsbench.valid_share import share_note, valid_shares

MANIFEST = "manifest.json"
METRICS = "metrics.json"
ITEMS = "items"


def _umask() -> int:
    """The process's file-creation mask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``fill(file)`` so that readers see the old file or the new
    one, never half of it (a temporary file in the same folder, renamed into place). The
    file gets the permissions a plain ``open`` would give it (``0o666`` less the umask),
    not the private ``0o600`` of a temporary file, so a shared results folder or a CI
    artifact stays readable to the team."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def scores_frame(results: Sequence[JobResult]) -> pd.DataFrame:
    """Long table: one row per (label, seed, score), with the score's 95 % interval over
    items (``lo``, ``hi``; empty without one) and how it was made (``interval``)."""
    rows = []
    for r in results:
        for name, s in r.scores.items():
            rows.append({"label": r.label, "plugin": r.plugin, "seed": r.seed,
                         "metric": s["metric"], "score": name, "value": s["value"],
                         "lo": s.get("lo"), "hi": s.get("hi"),
                         "interval": s.get("interval", "none"),
                         "higher_is_better": s["higher_is_better"], "headline": s["headline"]})
    return pd.DataFrame(rows, columns=["label", "plugin", "seed", "metric", "score", "value",
                                       "lo", "hi", "interval", "higher_is_better", "headline"])


def items_path(run_dir: Path, label: str, seed: int, metric: str) -> Path:
    """Where a job's per-item values of one metric live: ``items/LABEL-seedN/METRIC.npz``."""
    from zsbench.names import file_safe

    return Path(run_dir) / ITEMS / f"{file_safe(label)}-seed{int(seed)}" / f"{file_safe(metric)}.npz"


def write_items(run_dir: Path, label: str, seed: int, metric: str,
                arrays: dict[str, np.ndarray]) -> Path:
    """Write one job's per-item values of one metric (``{key: float [N]}``, keys as
    :meth:`zsbench.intervals.Items.arrays` names them), compressed and atomically; return
    the path."""
    path = items_path(run_dir, label, seed, metric)
    atomic_write(path, lambda fh: np.savez_compressed(
        fh, **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}))
    return path


_ITEMS_CACHE: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def read_items(run_dir: Path, label: str, seed: int, metric: str) -> dict[str, np.ndarray]:
    """The per-item values a job stored for one metric (empty when there are none: an old
    run folder, or a metric without per-item scores). Read files are cached by path, size
    and modification time."""
    path = items_path(run_dir, label, seed, metric)
    try:
        st = path.stat()
    except OSError:
        return {}
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _ITEMS_CACHE:
        try:
            with np.load(path, allow_pickle=False) as data:
                _ITEMS_CACHE[key] = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return {}
        if len(_ITEMS_CACHE) > 256:
            _ITEMS_CACHE.pop(next(iter(_ITEMS_CACHE)))
    return _ITEMS_CACHE[key]


def job_items(run_dir: Path | None, result: JobResult, name: str) -> Items | None:
    """The :class:`~zsbench.intervals.Items` of score ``name`` of one job, or None."""
    if run_dir is None or name not in result.scores:
        return None
    metric = result.scores[name].get("metric")
    if not metric:
        return None
    return load_items(read_items(Path(run_dir), result.label, result.seed, metric), name)


def _interval_over_seeds(label: str, name: str, ok: Sequence[JobResult],
                         run_dir: Path | None) -> tuple[float, float, str]:
    """``(lo, hi, method)`` of the mean over the seeds ``ok`` of score ``name`` (method:
    a key of :data:`zsbench.intervals.METHODS`): one seed, its stored interval (image
    noise only); several with per-item values, :func:`zsbench.intervals.interval_over_seeds`;
    else a t interval over the seeds' values."""
    have = [r for r in ok if name in r.scores and r.scores[name].get("value") is not None]
    if not have:
        return math.nan, math.nan, "none"
    if len(have) == 1:
        s = have[0].scores[name]
        lo, hi = _num(s.get("lo")), _num(s.get("hi"))
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi, s.get("interval", "bootstrap")
        return math.nan, math.nan, "none"
    per_seed = [job_items(run_dir, r, name) for r in have]
    if all(it is not None for it in per_seed):
        lo, hi, method = interval_over_seeds(per_seed, [r.seed for r in have],
                                             derive_seed(0, f"seeds:{label}:{name}"))
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi, method
    lo, hi = seed_interval([_num(r.scores[name]["value"]) for r in have])
    return (lo, hi, "seeds") if math.isfinite(lo) else (math.nan, math.nan, "none")


def _paired_ties(df: pd.DataFrame, results: Sequence[JobResult],
                 run_dir: Path | None) -> dict[str, dict[Any, tuple[float, float, float]]]:
    """``column -> label -> (difference, lo, hi)``: each model's ranking key minus the
    column's best one's, paired on their shared images and seeds at the Bonferroni level
    (:func:`zsbench.ties.paired_key_differences`); empty without per-item values."""
    out: dict[str, dict[Any, tuple[float, float, float]]] = {}
    if run_dir is None or df.empty:
        return out
    for c in df.attrs.get("columns", []):
        _, keys, best = _ranked(df, c)
        if best is None or len(keys) < 2:
            continue
        items: dict[Any, list[Items]] = {}
        for label in keys:
            jobs = sorted((r for r in results if r.label == label and r.status == "ok"
                           and c in r.scores), key=lambda r: r.seed)
            got = [job_items(run_dir, r, c) for r in jobs]
            if got and all(it is not None for it in got):
                items[label] = got
        if best in items:
            out[c] = paired_key_differences(
                items[best], {lb: v for lb, v in items.items() if lb != best},
                compared=len(keys) - 1, seed=derive_seed(0, f"ties:{c}"),
                higher_is_better=bool(df.attrs["directions"].get(c)),
                target=df.attrs.get("targets", {}).get(c))
    return out


def _num(x: Any) -> float:
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


def leaderboard_frame(results: Sequence[JobResult], columns: Sequence[str] | None = None,
                      *, run_dir: Path | None = None) -> pd.DataFrame:
    """One row per model label (in first-seen order): ``status``, ``seeds``, and for each
    score ``S`` the columns ``S`` (mean over successful seeds), ``S_std`` (population std
    over seeds), ``S_lo`` and ``S_hi`` (its 95 % interval: see :mod:`zsbench.intervals`;
    NaN when there is none). With several seeds the interval holds the images (one
    resample shared by the seeds) and the seeds (a t interval) when ``run_dir`` holds the
    jobs' per-item values, else it is a t interval over the seeds.

    ``df.attrs``: ``directions`` (score -> higher_is_better), ``columns``, ``targets``
    (score -> target), ``controls`` (score -> (control score, limit)), ``control``
    (score -> label -> "ok", "failed" or "unknown"), ``methods`` (score -> label ->
    "bootstrap", "images+seeds", "seeds" or "none": :data:`zsbench.intervals.METHODS`),
    ``n`` (score -> label -> items), ``paired`` (score -> label -> the paired key
    difference with the best: :func:`_paired_ties`) and ``na`` (score -> label -> the
    reason the score does not apply to that model: its metric was skipped)."""
    labels: list[str] = []
    for r in results:
        if r.label not in labels:
            labels.append(r.label)
    directions: dict[str, bool] = {}
    headline: list[str] = []
    metric_of: dict[str, str] = {}
    targets: dict[str, float] = {}
    controls: dict[str, tuple[str, float]] = {}
    for r in results:
        for name, s in r.scores.items():
            directions.setdefault(name, s["higher_is_better"])
            metric_of.setdefault(name, s.get("metric"))
            if s.get("target") is not None:
                targets.setdefault(name, float(s["target"]))
            if s.get("control"):
                controls.setdefault(name, (str(s["control"][0]), float(s["control"][1])))
            if s["headline"] and name not in headline:
                headline.append(name)
    wanted = list(columns) if columns else headline
    rows = []
    control_state: dict[str, dict[str, str]] = {c: {} for c in wanted if c in controls}
    methods: dict[str, dict[str, str]] = {c: {} for c in wanted}
    na: dict[str, dict[str, str]] = {c: {} for c in wanted}
    for label in labels:
        mine = [r for r in results if r.label == label]
        ok = [r for r in mine if r.status == "ok"]
        row: dict[str, Any] = {"model": label, "seeds": f"{len(ok)}/{len(mine)}"}
        if not ok:
            first = next(r for r in mine if r.error)
            row["status"] = f"failed: {first.error}"
        elif len(ok) < len(mine):
            row["status"] = f"{len(mine) - len(ok)} seed(s) failed"
        else:
            row["status"] = "ok"
        for name in wanted:
            values = [r.scores[name]["value"] for r in ok if name in r.scores]
            values = [v for v in values if v is not None]
            series = pd.Series(values, dtype=float)
            row[name] = float(series.mean()) if len(series) else math.nan
            row[f"{name}_std"] = float(series.std(ddof=0)) if len(series) else math.nan
            lo, hi, method = _interval_over_seeds(label, name, ok, run_dir)
            row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
            methods[name][label] = method
            if name in controls:
                control_state[name][label] = _control_state(ok, *controls[name])
            if not len(series) and ok:
                reason = _skip_reason(ok, metric_of.get(name))
                if reason:
                    na[name][label] = reason
        rows.append(row)
    df = pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()
    df.attrs["directions"] = {k: directions.get(k, False) for k in wanted}
    df.attrs["columns"] = wanted
    df.attrs["targets"] = {k: targets[k] for k in wanted if k in targets}
    df.attrs["controls"] = {k: controls[k] for k in wanted if k in controls}
    df.attrs["control"] = control_state
    df.attrs["methods"] = methods
    df.attrs["na"] = na
    df.attrs["n"] = sample_sizes(results, wanted)  # column -> label -> items (fewest)
    df.attrs["paired"] = _paired_ties(df, results, run_dir)  # column -> label -> paired
    df.attrs["valid"] = valid_shares(results, wanted)  # column -> label -> valid share
    return df


#: Appended to a score whose control failed (leaderboard, variants table, ``compare``).
CONTROL_FAILED = " (control failed)"


def control_failed(mean: float, higher_is_better: bool, limit: float) -> bool:
    """Whether a control score of mean ``mean`` fails its ``limit``: worse than it in its
    own direction, or undefined (NaN). A generator failing more than half of its seen-class
    (or rim) requests (``test_gen_fail_rate`` > 0.5) has learned nothing its hole scores
    could be compared against: they are marked "(control failed)" and never ranked."""
    if not math.isfinite(mean):
        return True
    return not (mean >= limit if higher_is_better else mean <= limit)


def _control_state(ok: Sequence[JobResult], control: str, limit: float) -> str:
    """"ok" when the mean over seeds of score ``control`` is at least as good as ``limit``
    (in its own direction), "failed" when not (or undefined: :func:`control_failed`),
    "unknown" without it."""
    values = [_num(r.scores[control]["value"]) for r in ok if control in r.scores]
    if not values:
        return "unknown"
    higher = bool(next(r.scores[control]["higher_is_better"] for r in ok
                       if control in r.scores))
    return "failed" if control_failed(float(np.mean(values)), higher, limit) else "ok"


def _skip_reason(ok: Sequence[JobResult], metric: str | None) -> str | None:
    """Why ``metric`` does not apply to this model (its first seed's skip note), or None."""
    if not metric:
        return None
    for r in ok:
        reason = (getattr(r, "skipped", None) or {}).get(f"metric {metric}")
        if reason:
            return reason
    return None


def _key_interval(df: pd.DataFrame, label: Any, c: str) -> tuple[float, float, float] | None:
    """``(key, key_lo, key_hi)`` of a cell, lower is better: the distance to the column's
    target, or the value signed by its direction; None for an empty cell. Without an
    interval, ``key_lo = key_hi = key``."""
    v = float(df.at[label, c])
    if math.isnan(v):
        return None
    lo, hi = float(df.at[label, f"{c}_lo"]), float(df.at[label, f"{c}_hi"])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = v
    lo, hi = min(lo, v), max(hi, v)
    target = df.attrs.get("targets", {}).get(c)
    if target is not None:
        klo, khi = distance_interval(lo, hi, target)
        return abs(v - target), klo, khi
    if df.attrs.get("directions", {}).get(c):
        return -v, -hi, -lo
    return v, lo, hi


def _has_interval(df: pd.DataFrame, label: Any, c: str) -> bool:
    return bool(math.isfinite(float(df.at[label, f"{c}_lo"]))
                and math.isfinite(float(df.at[label, f"{c}_hi"])))


def _ranked(df: pd.DataFrame, c: str) -> tuple[dict[Any, str], dict[Any, tuple[float, float,
                                                                              float]], Any]:
    """Column ``c``'s cells whose control failed (marked), the keys of the others
    (:func:`_key_interval`) and the best of them (None with fewer than two models)."""
    states = df.attrs.get("control", {}).get(c, {})
    cell: dict[Any, str] = {label: "control failed" for label in df.index
                            if states.get(label) == "failed"
                            and not math.isnan(float(df.at[label, c]))}
    keys = {label: k for label in df.index if label not in cell
            and (k := _key_interval(df, label, c)) is not None}
    best = min(keys, key=lambda lb: keys[lb][0]) if len(df) > 1 and keys else None
    return cell, keys, best


def best_marks(df: pd.DataFrame) -> dict[str, dict[Any, str]]:
    """Per column, the marked cells: ``"best"`` (the best value), ``"tie"`` (not
    distinguishable from it) and ``"control failed"`` (the column's control score is worse
    than its limit for that model: never ranked). Best means highest or lowest as the score
    declares, or closest to its target. A model is tied with the best when its paired
    comparison with it on the same images and seeds (``df.attrs["paired"]``:
    :mod:`zsbench.ties`, Bonferroni over the models compared with the best) does not
    show it worse; without one, when its interval overlaps the best one's (as distances to
    a target) or either has no interval: a margin no interval supports is a tie. Nothing
    is marked with fewer than two models."""
    marks: dict[str, dict[Any, str]] = {}
    if df.empty:
        return marks
    for c in df.attrs.get("columns", []):
        cell, keys, best = _ranked(df, c)
        paired = df.attrs.get("paired", {}).get(c, {})
        for label, (_, klo, _) in keys.items() if best is not None else ():
            if label == best:
                cell[label] = "best"
            elif label in paired:
                if paired[label][1] <= 0:
                    cell[label] = "tie"
            elif (klo <= keys[best][2] or not _has_interval(df, label, c)
                  or not _has_interval(df, best, c)):
                cell[label] = "tie"
        marks[c] = cell
    return marks


def sort_frame(df: pd.DataFrame, sort: str | None) -> pd.DataFrame:
    """``df`` sorted by column ``sort`` (if it is one), best first as :func:`best_marks`
    ranks it: by distance to the target for a score with one, models whose control
    failed after the others, empty cells last; ties broken by the other columns in their
    order (a blank frame failing every draw sorts under a model failing every draw with
    valid images)."""
    if df.empty or not sort or sort not in df.columns:
        return df
    state = df.attrs.get("control", {}).get(sort, {})

    def rank(label: Any) -> tuple[float, ...]:
        ties = tuple(math.inf if (k := _key_interval(df, label, c)) is None else k[0]
                     for c in df.attrs.get("columns", []) if c != sort)
        if sort not in df.attrs.get("columns", []):
            v = float(df.at[label, sort])
            if math.isnan(v):
                return (2, 0.0, *ties)
            return (0, -v if df.attrs.get("directions", {}).get(sort) else v, *ties)
        k = _key_interval(df, label, sort)
        if k is None:
            return (2, 0.0, *ties)
        return (1 if state.get(label) == "failed" else 0, k[0], *ties)

    order = sorted(df.index, key=rank)
    out = df.loc[order]
    out.attrs = df.attrs
    return out


def format_interval(value: float, lo: float, hi: float) -> str:
    """``value [lo, hi]``, or the value alone without an interval."""
    text = format_number(value)
    if math.isfinite(value) and math.isfinite(lo) and math.isfinite(hi):
        text += f" [{format_number(lo)}, {format_number(hi)}]"
    return text


def format_compact(value: float, lo: float, hi: float) -> str:
    """``value±h`` for a terminal: ``h`` the larger distance from the value to an end of
    its 95 % interval, to one significant digit (two when it starts with 1), the value
    rounded to the same decimal (``0.047±0.004``); 3 significant digits without an
    interval; :func:`format_number` for NaN and infinities."""
    if not math.isfinite(value):
        return format_number(value)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{value:.3g}"
    half = max(hi - value, value - lo, 0.0)
    if half == 0:
        return f"{value:.3g}±0"
    digits = -math.floor(math.log10(half))
    if f"{half:.1e}".startswith("1"):
        digits += 1
    if digits > 6 or abs(value) >= 1e6:
        return f"{value:.2e}±{half:.0e}"
    digits = max(digits, 0)
    return f"{value:.{digits}f}±{half:.{digits}f}"


def cell_text(df: pd.DataFrame, label: Any, c: str, mark: str | None, *,
              compact: bool = False) -> str:
    """The text of a leaderboard cell (without emphasis): ``value [lo, hi]``
    (``value±h`` when ``compact``: :func:`format_compact`), "n/a" for a score that does
    not apply to the model, "(control failed)" after a value whose control failed ("†"
    when compact), and the valid share after an error over valid images only when it is
    under half (" (2 % valid)", compact " v2%": :mod:`zsbench.valid_share`)."""
    value = float(df.at[label, c])
    if math.isnan(value) and label in df.attrs.get("na", {}).get(c, {}):
        return "n/a"
    lo, hi = float(df.at[label, f"{c}_lo"]), float(df.at[label, f"{c}_hi"])
    text = format_compact(value, lo, hi) if compact else format_interval(value, lo, hi)
    if mark == "control failed":
        text += "†" if compact else CONTROL_FAILED
    if math.isfinite(value):
        text += share_note(df.attrs.get("valid", {}).get(c, {}).get(label), compact=compact)
    return text


LEGEND = ("value [95 % interval]: with one seed the interval covers image noise only, not "
          "another training seed (rates: mid-p on the effective sample size; other means: "
          "studentized bootstrap over images, draws resampled by request); with several "
          "seeds, one image resample shared by the seeds plus a t interval over the seeds; "
          "a value without [ ] has no interval. Bold: the best model and every model tied "
          "with it: a paired comparison on the same images and seeds (Bonferroni over the "
          "models compared with the best) does not show it worse or, without per-image "
          "values, its interval overlaps the best one's or either has none; ↑/↓: "
          "higher/lower is better, → t: closest to t is best")
"""The leaderboard's legend; :func:`zsbench.ties.uncertainty_notes` adds what a given
leaderboard's intervals cover (its seeds, sample sizes, scores without an interval)."""

def format_number(x: float | None) -> str:
    """A score for tables and messages: ``-`` for None or NaN, ``inf``/``-inf``, 4 decimals
    for 0 and between 1e-3 and 1e4 in magnitude, else scientific notation."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4f}"
    return f"{x:.3e}"  # also "inf" and "-inf"


def markdown_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: ``|`` and backslashes escaped, line
    breaks shown as spaces."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.replace("\r", "\n").split("\n"))


def direction_mark(df: pd.DataFrame, c: str) -> str:
    """A column's direction: ``↑``, ``↓``, or ``→ t`` for a target."""
    target = df.attrs.get("targets", {}).get(c)
    if target is not None:
        return f"→ {target:g}"
    return "↑" if df.attrs.get("directions", {}).get(c) else "↓"


def column_header(df: pd.DataFrame, c: str) -> str:
    """A column's name with its direction (:func:`direction_mark`)."""
    return f"{c} {direction_mark(df, c)}"


def format_leaderboard(df: pd.DataFrame, *, sort: str | None = None) -> str:
    """A Markdown (GitHub) table: per score the mean over seeds and its 95 % interval
    ``value [lo, hi]``; bold on the best value of each column and on every value whose
    interval overlaps the best one's (ties), as :func:`best_marks` decides (see
    :data:`LEGEND`)."""
    if df.empty:
        return "(no results)"
    columns: list[str] = df.attrs.get("columns", [])
    df = sort_frame(df, sort)
    marks = best_marks(df)
    table = []
    for label, row in df.iterrows():
        line = [markdown_cell(label), row["seeds"]]
        for c in columns:
            mark = marks.get(c, {}).get(label)
            text = markdown_cell(cell_text(df, label, c, mark))
            if mark in ("best", "tie"):
                text = f"**{text}**"
            line.append(text)
        line.append(markdown_cell(row["status"]))
        table.append(line)
    headers = ["model", "seeds"] + [markdown_cell(column_header(df, c)) for c in columns]
    headers.append("status")
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def skip_notes(results: Sequence[JobResult]) -> list[tuple[str, str, list[str]]]:
    """``(what, reason, models)`` once per metric or output that did not apply and reason
    (the models it did not apply to, in first-seen order): not failures."""
    seen: dict[tuple[str, str], list[str]] = {}
    for r in results:
        for what, reason in (getattr(r, "skipped", None) or {}).items():
            labels = seen.setdefault((what, reason), [])
            if r.label not in labels:
                labels.append(r.label)
    return [(what, reason, labels) for (what, reason), labels in seen.items()]


def load_results(run_dir: Path) -> tuple[dict[str, Any], list[JobResult]]:
    """The manifest and job results of a run folder."""
    run_dir = Path(run_dir)
    mpath, rpath = run_dir / MANIFEST, run_dir / METRICS
    if not rpath.is_file() or not mpath.is_file():
        if (run_dir / "variants.json").is_file():  # zsbench.variants.INDEX
            names = sorted(p.name for p in run_dir.iterdir() if (p / MANIFEST).is_file())
            raise ZsbenchError(f"{run_dir}: a folder of variant runs, one run folder per "
                               f"variant ({', '.join(names) or 'none finished yet'}); their "
                               "leaderboard over all is variants.md. Fix: give one "
                               f"variant's folder, e.g. {run_dir / (names or ['NAME'])[0]}.")
        raise ZsbenchError(f"{run_dir}: not a zsbench run folder (no {METRICS} or {MANIFEST}). "
                           "Fix: give the folder that `zsbench run` printed at its end.")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        results = [JobResult.from_dict(d)
                   for d in json.loads(rpath.read_text(encoding="utf-8"))["results"]]
        if not isinstance(manifest, dict):
            raise TypeError("the manifest is not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError,
            AttributeError) as exc:
        raise ZsbenchError(f"{run_dir}: the run folder's {METRICS} or {MANIFEST} is damaged "
                           f"({exc}). Fix: rerun the suite with --resume or from scratch.") from exc
    return manifest, results


def write_results(run_dir: Path, results: Sequence[JobResult],
                  columns: Sequence[str] | None, sort: str | None) -> tuple[pd.DataFrame, str]:
    """Write metrics.json/.csv and leaderboard.md/.csv; return the leaderboard frame and
    its text."""
    write_json(run_dir / METRICS, {"results": [r.to_dict() for r in results]})
    atomic_write_text(run_dir / "metrics.csv", scores_frame(results).to_csv(index=False))
    board = leaderboard_frame(results, columns, run_dir=run_dir)
    text = format_leaderboard(board, sort=sort)
    atomic_write_text(run_dir / "leaderboard.md", text + "\n")
    atomic_write_text(run_dir / "leaderboard.csv", board.to_csv())
    return board, text
