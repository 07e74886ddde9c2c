"""Run folders: what a run writes, how to read it back, and the leaderboard.

A run folder holds ``suite.toml`` (the suite as given), ``manifest.json``, ``metrics.json``
and ``metrics.csv`` (every score of every job), ``leaderboard.md`` and ``leaderboard.csv``,
``checkpoints/`` and ``pictures/``. Files are written atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from zsbench.errors import ZsbenchError
from zsbench.jobs import JobResult

MANIFEST = "manifest.json"
METRICS = "metrics.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never
    half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def scores_frame(results: Sequence[JobResult]) -> pd.DataFrame:
    """Long table: one row per (label, seed, score)."""
    rows = []
    for r in results:
        for name, s in r.scores.items():
            rows.append({"label": r.label, "plugin": r.plugin, "seed": r.seed,
                         "metric": s["metric"], "score": name, "value": s["value"],
                         "higher_is_better": s["higher_is_better"], "headline": s["headline"]})
    return pd.DataFrame(rows, columns=["label", "plugin", "seed", "metric", "score", "value",
                                       "higher_is_better", "headline"])


def leaderboard_frame(results: Sequence[JobResult],
                      columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per model label (in first-seen order): ``status``, ``seeds``, and for each
    score ``S`` the columns ``S`` (mean over successful seeds) and ``S_std``.
    ``df.attrs["directions"]`` maps each score to higher_is_better."""
    labels: list[str] = []
    for r in results:
        if r.label not in labels:
            labels.append(r.label)
    directions: dict[str, bool] = {}
    headline: list[str] = []
    for r in results:
        for name, s in r.scores.items():
            directions.setdefault(name, s["higher_is_better"])
            if s["headline"] and name not in headline:
                headline.append(name)
    wanted = list(columns) if columns else headline
    rows = []
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
        rows.append(row)
    df = pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()
    df.attrs["directions"] = {k: directions.get(k, False) for k in wanted}
    df.attrs["columns"] = wanted
    return df


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4f}"
    return f"{x:.3e}"


def markdown_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: ``|`` and backslashes escaped, line
    breaks shown as spaces."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.replace("\r", "\n").split("\n"))


def format_leaderboard(df: pd.DataFrame, *, sort: str | None = None) -> str:
    """A Markdown (GitHub) table: mean ± std per score, the best value per column in bold
    (higher or lower, as the score declares)."""
    if df.empty:
        return "(no results)"
    columns: list[str] = df.attrs.get("columns", [])
    directions: dict[str, bool] = df.attrs.get("directions", {})
    if sort and sort in df.columns:
        df = df.sort_values(sort, ascending=not directions.get(sort, False), na_position="last")
    best: dict[str, float] = {}
    for c in columns:
        vals = df[c].dropna()
        if len(vals):
            best[c] = vals.max() if directions.get(c) else vals.min()
    table = []
    for label, row in df.iterrows():
        line = [markdown_cell(label), row["seeds"]]
        for c in columns:
            text = _fmt(row[c])
            if row["seeds"].split("/")[0] not in ("0", "1") and not math.isnan(row[c]):
                text += f" ± {_fmt(row[f'{c}_std'])}"
            if c in best and row[c] == best[c] and len(df) > 1:
                text = f"**{text}**"
            line.append(text)
        line.append(markdown_cell(row["status"]))
        table.append(line)
    headers = ["model", "seeds"] + [f"{markdown_cell(c)} {'↑' if directions.get(c) else '↓'}"
                                    for c in columns]
    headers.append("status")
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def load_results(run_dir: Path) -> tuple[dict[str, Any], list[JobResult]]:
    """The manifest and job results of a run folder."""
    run_dir = Path(run_dir)
    mpath, rpath = run_dir / MANIFEST, run_dir / METRICS
    if not rpath.is_file() or not mpath.is_file():
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
    board = leaderboard_frame(results, columns)
    text = format_leaderboard(board, sort=sort)
    atomic_write_text(run_dir / "leaderboard.md", text + "\n")
    atomic_write_text(run_dir / "leaderboard.csv", board.to_csv())
    return board, text
