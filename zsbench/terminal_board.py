"""The leaderboard as a terminal prints it: a table that fits the terminal's width.

``leaderboard.md`` and ``leaderboard.csv`` keep every column with its full interval
(:func:`zsbench.results.format_leaderboard`); on the terminal each cell is compact
(``0.047±0.004``: :func:`zsbench.results.format_compact`), long headers are abbreviated
(a legend under the table names them) and, when the table still does not fit, the last
columns are left out with a note. ``zsbench run/leaderboard --wide`` prints the full table.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from zsbench.jobs import JobResult
from zsbench.results import (
    best_marks,
    cell_text,
    direction_mark,
    format_leaderboard,
    leaderboard_frame,
    sort_frame,
)
from zsbench.ties import uncertainty_notes

DEFAULT_WIDTH = 120
"""The width when ``COLUMNS`` is unset and the output is no terminal."""
GAP = "  "
LABEL_MAX, STATUS_MAX, MIN_HEADER = 28, 28, 8


def terminal_width() -> int:
    """``$COLUMNS`` when it is a positive integer, else the terminal's width, else
    :data:`DEFAULT_WIDTH` (output to a file or a pipe)."""
    value = os.environ.get("COLUMNS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"


def abbreviate(name: str, budget: int) -> str:
    """``name`` shortened word by word (its ``_``-separated words, the longest first, to
    one letter at least) to ``budget`` characters, or as near as it goes."""
    words = name.split("_")
    while len("_".join(words)) > budget:
        i = max(range(len(words)), key=lambda k: (len(words[k]), k))
        if len(words[i]) <= 1:
            break
        words[i] = words[i][:-1]
    return "_".join(words)


def two_lines(name: str, mark: str) -> tuple[str, str]:
    """``name`` and its direction ``mark`` as a header of two lines, broken after an
    ``_`` where the longer line is shortest (``("hole_rim_", "factor_err_ratio →1")``)."""
    words = name.split("_")
    splits = [("_".join(words[:k]) + "_" if k else "", f"{'_'.join(words[k:])} {mark}")
              for k in range(len(words))]
    return min(splits, key=lambda s: (max(len(s[0]), len(s[1])), len(s[0])))


def _headers(df: pd.DataFrame, columns: Sequence[str], cells: dict[str, list[str]]
             ) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """Per column its header of two lines (the name, abbreviated where it does not fit
    its cells' width, and its direction) and the legend of the abbreviated ones
    ``(short, full)``."""
    headers: dict[str, tuple[str, str]] = {}
    legend: list[tuple[str, str]] = []
    for c in columns:
        mark = direction_mark(df, c).replace("→ ", "→")
        room = max(MIN_HEADER, *(len(t) for t in cells[c]))
        short = c
        for budget in range(len(c) - 1, 0, -1):
            if max(map(len, two_lines(short, mark))) <= room:
                break
            short = abbreviate(c, budget)
        taken = {full for full, _ in legend}
        n = 2
        while short != c and short in taken:
            short = f"{abbreviate(c, len(short) - 1)}{n}"
            n += 1
        if short != c:
            legend.append((short, c))
        headers[c] = two_lines(short, mark)
    return headers, legend


def _width(table: list[list[str]], keep: Sequence[int]) -> int:
    return sum(max(len(row[j]) for row in table) for j in keep) + len(GAP) * (len(keep) - 1)


def _render(table: list[list[str]], keep: Sequence[int], left: set[int]) -> list[str]:
    """The table's lines: its first two rows are the header, then a rule, then the rest."""
    widths = {j: max(len(row[j]) for row in table) for j in keep}
    lines = []
    for i, row in enumerate(table):
        parts = [row[j].ljust(widths[j]) if j in left else row[j].rjust(widths[j])
                 for j in keep]
        lines.append(GAP.join(parts).rstrip())
        if i == 1:
            lines.append(GAP.join("-" * widths[j] for j in keep))
    return [line for line in lines if line]


def fit_leaderboard(df: pd.DataFrame, *, sort: str | None = None,
                    width: int = DEFAULT_WIDTH) -> str:
    """The leaderboard ``df`` (:func:`zsbench.results.leaderboard_frame`) as a plain table
    of at most ``width`` characters a line, the legend under it: compact cells, ``*`` on
    the best model of each column and every model tied with it (as
    :func:`zsbench.results.best_marks` decides), abbreviated headers, and the last score
    columns (never the sort column) left out with a note while it does not fit."""
    if df.empty:
        return "(no results)"
    columns: list[str] = list(df.attrs.get("columns", []))
    df = sort_frame(df, sort)
    marks = best_marks(df)
    cells: dict[str, list[str]] = {c: [] for c in columns}
    rows: list[list[str]] = []
    for label, row in df.iterrows():
        line = [_clip(str(label), LABEL_MAX), str(row["seeds"])]
        for c in columns:
            mark = marks.get(c, {}).get(label)
            text = cell_text(df, label, c, mark, compact=True)
            text = f"*{text}" if mark in ("best", "tie") else text
            cells[c].append(text)
            line.append(text)
        line.append(_clip(str(row["status"]), STATUS_MAX))
        rows.append(line)
    headers, legend = _headers(df, columns, cells)
    table = [["", "", *(headers[c][0] for c in columns), ""],
             ["model", "seeds", *(headers[c][1] for c in columns), "status"], *rows]
    status = len(columns) + 2
    keep = list(range(len(table[0])))
    for j, same in ((status, "ok"), (1, rows[0][1])):  # the notes below say what they hold
        if _width(table, keep) > width and all(r[j] == same for r in rows):
            keep.remove(j)
    dropped: list[str] = []
    for j in range(len(columns) + 1, 1, -1):
        if _width(table, keep) <= width:
            break
        if columns[j - 2] != sort:
            keep.remove(j)
            dropped.insert(0, columns[j - 2])
    lines = _render(table, keep, left={0, status})
    notes = _notes(df, columns, marks, legend, dropped, keep, status, width)
    return "\n".join([*lines, *(textwrap.fill(n, width, subsequent_indent="  ")
                                for n in notes)])


def _notes(df: pd.DataFrame, columns: Sequence[str], marks: dict[str, dict[Any, str]],
           legend: Sequence[tuple[str, str]], dropped: Sequence[str], keep: Sequence[int],
           status: int, width: int) -> list[str]:
    """The lines under the table: what the cells mean, the abbreviations, what is left out."""
    shown = [c for j, c in enumerate(columns, start=2) if j in keep]
    meaning = ("mean over seeds ± the larger half of its 95 % interval; *: the best, or "
               "tied with it (a paired comparison on the same images does not show it "
               "worse); ↑/↓: higher/lower is better, →t: closest to t is best")
    if any(m == "control failed" for c in shown for m in marks.get(c, {}).values()):
        meaning += "; †: its control failed (not ranked)"
    if any(df.attrs.get("valid", {}).get(c) for c in shown):
        meaning += ("; v2%: an error over the valid images only, of which there were 2 % "
                    "(shown under 50 %)")
    notes = [meaning, *uncertainty_notes(df)]
    used = [(s, f) for s, f in legend if f in shown]
    if used:
        notes.append("columns: " + ", ".join(f"{s} = {f}" for s, f in used))
    if status not in keep:
        notes.append("status: every job ok")
    if 1 not in keep:
        notes.append(f"seeds: {df['seeds'].iloc[0]} for every model")
    if dropped:
        notes.append(f"not shown at width {width}: {', '.join(dropped)} (--wide, or "
                     "leaderboard.md and leaderboard.csv, show every column)")
    return notes


def leaderboard_text(df: pd.DataFrame, *, sort: str | None = None, wide: bool = False,
                     width: int | None = None) -> str:
    """The full Markdown table (``wide``) or one that fits ``width`` (default
    :func:`terminal_width`)."""
    if wide:
        return format_leaderboard(df, sort=sort)
    return fit_leaderboard(df, sort=sort, width=width or terminal_width())


def run_leaderboard_text(results: Sequence[JobResult], run_dir: Path,
                         board: dict[str, Any], *, wide: bool = False) -> str:
    """The terminal leaderboard of a finished run: its results and its suite's
    ``[leaderboard]`` table (``columns``, ``sort``)."""
    frame = leaderboard_frame(results, board.get("columns"), run_dir=Path(run_dir))
    sort = board.get("sort")
    return leaderboard_text(frame, sort=sort if isinstance(sort, str) else None, wide=wide)
