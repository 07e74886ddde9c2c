"""``zsbench site RUN_DIR... --out DIR``: one static site over many runs.

The site is a folder of plain files that opens from ``file://`` and can be published as
it is on any static host (nothing is fetched from the network: the style, the script and
the plots are in the pages):

- ``index.html``: the suites, the runs the site holds, and the folders left out (each with
  a one-line reason: no run folder, a damaged one);
- ``suite-NAME.html`` per suite: one leaderboard over every given run x model (a row per
  model of each run: its label, the run's folder name, zsbench version and date), each
  cell the mean over seeds with its 95 % interval, the best and the ties marked as a run's
  own leaderboard marks them (:func:`zsbench.results.best_marks`, over all the rows);
  sortable by a click on a column header and filterable; per score a dot-and-interval
  plot of every row. Runs whose suite content differs (its ``config_hash``) are ranked in
  separate groups, and the page says so;
- ``runs/RUN/report.html``: each run's own report (copied, or built with its pictures
  embedded when the run folder has none that stands alone), which every row links to;
- ``zsbench-site.json``: what the site was built from (a rebuild replaces what it lists).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zsbench import __version__
from zsbench.errors import ZsbenchError
from zsbench.jobs import JobResult
from zsbench.report import REPORT, render_report
from zsbench.results import (
    LEGEND,
    atomic_write_text,
    best_marks,
    cell_text,
    column_header,
    leaderboard_frame,
    load_results,
    sort_frame,
    write_json,
)
from zsbench.site_assets import SCRIPT, STYLE, Dot, interval_plot
from zsbench.valid_share import SHOW_BELOW

MARK = "zsbench-site.json"
RUNS = "runs"


@dataclass
class SiteRun:
    """One run folder the site holds: where it is, its key (its folder under ``runs/``),
    its manifest, results and ``[leaderboard]`` table."""

    path: Path
    key: str
    manifest: dict[str, Any]
    results: list[JobResult]
    board: dict[str, Any]

    @property
    def suite(self) -> str:
        return str(self.manifest["suite"]["name"])

    @property
    def config(self) -> str:
        return str(self.manifest["suite"].get("config_hash") or "unknown")

    @property
    def profile(self) -> str | None:
        return self.manifest["suite"].get("profile")

    @property
    def created(self) -> str:
        return str(self.manifest.get("created") or "")

    @property
    def date(self) -> str:
        return self.created.replace("T", " ")[:16]

    @property
    def version(self) -> str:
        return str(self.manifest.get("zsbench_version") or "?")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _first_line(exc: Exception, folder: Path | None = None) -> str:
    """An error as one line, without its "Fix:" advice (nor the folder it starts with)."""
    text = " ".join(str(exc).split(" Fix:")[0].split())
    return text[len(f"{folder}: "):] if folder and text.startswith(f"{folder}: ") else text


def _board(run_dir: Path) -> dict[str, Any]:
    """The ``[leaderboard]`` table of the run's ``suite.toml`` (empty when it is missing
    or damaged: the columns fall back to the headline scores)."""
    from zsbench.suite import tomllib

    try:
        table = tomllib.loads((run_dir / "suite.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    board = table.get("leaderboard", {})
    return board if isinstance(board, dict) else {}


def _read(run_dir: Path) -> tuple[dict[str, Any], list[JobResult]]:
    """A run folder's manifest and results; :class:`ZsbenchError` for anything that is
    not a finished or partial zsbench run."""
    if not run_dir.is_dir():
        raise ZsbenchError(f"{run_dir}: no such folder")
    manifest, results = load_results(run_dir)
    suite = manifest.get("suite")
    if not isinstance(suite, dict) or not isinstance(suite.get("name"), str):
        raise ZsbenchError(f"{run_dir}: its manifest.json names no suite (not written by "
                           "zsbench run)")
    if not results:
        raise ZsbenchError(f"{run_dir}: no finished job yet")
    return manifest, results


def gather(run_dirs: Sequence[Path]) -> tuple[list[SiteRun], list[tuple[str, str]]]:
    """The usable runs among ``run_dirs`` (a folder of variant runs gives each variant)
    and ``(folder, reason)`` for each one left out."""
    runs: list[SiteRun] = []
    skipped: list[tuple[str, str]] = []
    keys: set[str] = set()
    seen: set[Path] = set()
    folders: list[Path] = []
    for given in run_dirs:
        given = Path(given)
        if (given / "variants.json").is_file() and not (given / "metrics.json").is_file():
            folders += sorted(p for p in given.iterdir() if (p / "manifest.json").is_file())
        else:
            folders.append(given)
    for folder in folders:
        where = folder.resolve()
        if where in seen:
            continue
        seen.add(where)
        try:
            manifest, results = _read(folder)
        except ZsbenchError as exc:
            skipped.append((str(folder), _first_line(exc, folder)))
            continue
        base = re.sub(r"[^A-Za-z0-9_.=-]+", "_", folder.name) or "run"
        if folder.parent.joinpath("variants.json").is_file():
            base = f"{re.sub(r'[^A-Za-z0-9_.=-]+', '_', folder.parent.name)}-{base}"
        key, n = base, 2
        while key in keys:
            key, n = f"{base}-{n}", n + 1
        keys.add(key)
        runs.append(SiteRun(folder, key, manifest, results, _board(folder)))
    return runs, skipped


def _columns(runs: Sequence[SiteRun]) -> tuple[list[str], str | None]:
    """A group's columns (every run's ``[leaderboard]`` columns, or headline scores, in
    first-seen order) and its sort (the newest run's)."""
    columns: list[str] = []
    for run in runs:
        given = run.board.get("columns")
        if not (isinstance(given, list) and all(isinstance(c, str) for c in given)):
            given = [n for r in run.results for n, s in r.scores.items() if s.get("headline")]
        for c in given:
            if c not in columns:
                columns.append(c)
    sort = max(runs, key=lambda r: r.created).board.get("sort")
    return columns, sort if isinstance(sort, str) and sort in columns else None


class SharedAttr(dict):  # type: ignore[type-arg]
    """A dict in a frame's ``attrs`` that pandas shares instead of copying: pandas
    deep-copies ``attrs`` each time a cell or column is read, which makes reading every
    cell of a large leaderboard quadratic in its size (read-only use only)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedAttr:
        return self


def _merge_attrs(frames: Sequence[tuple[pd.DataFrame, dict[Any, str], set[str]]],
                 columns: list[str]) -> dict[str, Any]:
    """The ``attrs`` of the frames' union: per-label maps under the rows' new keys, the
    rest (directions, targets, controls) from the first run that has the score."""
    merged: dict[str, Any] = {"columns": columns}
    for df, keys, scores in frames:
        for name, value in df.attrs.items():
            if name == "columns" or not isinstance(value, dict):
                continue
            out = merged.setdefault(name, {})
            for k, v in value.items():
                if isinstance(v, dict) and set(v) <= set(keys):
                    out.setdefault(k, {}).update({keys[label]: x for label, x in v.items()})
                elif k in scores and k not in out:
                    out[k] = v
    merged.setdefault("directions", {})
    for c in columns:
        merged["directions"].setdefault(c, False)
    return {k: SharedAttr(v) if isinstance(v, dict) else v for k, v in merged.items()}


RowOf = dict[Any, tuple[SiteRun, str]]
"""A combined frame's row key -> its run and model label."""


def combined_frame(runs: Sequence[SiteRun], columns: list[str]) -> tuple[pd.DataFrame, RowOf]:
    """One leaderboard frame over the runs (:func:`zsbench.results.leaderboard_frame` of
    each, rows keyed ``RUN/LABEL``) and each row's run and model label."""
    parts, frames, rows = [], [], {}
    for run in runs:
        df = leaderboard_frame(run.results, columns, run_dir=run.path)
        if df.empty:
            continue
        keys = {label: f"{run.key}/{label}" for label in df.index}
        rows.update({keys[label]: (run, str(label)) for label in df.index})
        scores = {n for r in run.results for n in r.scores}
        frames.append((df, keys, scores))
        parts.append(df.rename(index=keys))
    if not parts:
        return pd.DataFrame(), rows
    out = pd.concat(parts)
    out.attrs = _merge_attrs(frames, columns)
    return out, rows


def _rank(df: pd.DataFrame, key: Any, c: str, mark: str | None) -> tuple[int, float]:
    """A cell's place when its column is sorted best first: ``(group, key)``, group 0 for a
    value, 1 for a value whose control failed, 2 for an empty cell."""
    v = float(df.at[key, c])
    if math.isnan(v):
        return 2, 0.0
    target = df.attrs.get("targets", {}).get(c)
    k = abs(v - target) if target is not None else (-v if df.attrs["directions"].get(c) else v)
    return (1 if mark == "control failed" else 0), k


def _anchor(text: str) -> str:  # as report.html names its sections
    return "".join(c if c.isalnum() else "-" for c in text)


def _table(df: pd.DataFrame, rows: RowOf, reports: dict[str, str],
           table_id: str, sort: str | None) -> str:
    """The leaderboard table of one group, sorted by ``sort`` (best first) and sortable by
    any column (the page's script), the marks as classes."""
    columns: list[str] = df.attrs["columns"]
    marks = best_marks(df)
    heads = ["model", "run", "zsbench", "date", "seeds"] + [column_header(df, c)
                                                            for c in columns] + ["status"]
    body = []
    for key in df.index:
        run, label = rows[key]
        link = reports.get(run.key)
        model = (f'<a href="{_e(link)}#{_e(_anchor("model-" + label))}">{_e(label)}</a>'
                 if link else _e(label))
        runcell = f'<a href="{_e(link)}">{_e(run.key)}</a>' if link else _e(run.key)
        cells = [f'<td class="text">{model}</td>', f'<td class="text">{runcell}</td>',
                 f'<td class="text">{_e(run.version)}</td>',
                 f'<td class="text">{_e(run.date)}</td>',
                 f'<td class="text">{_e(df.at[key, "seeds"])}</td>']
        for c in columns:
            mark = marks.get(c, {}).get(key)
            group, order = _rank(df, key, c, mark)
            cls = ("best" if mark in ("best", "tie") else "control" if mark == "control failed"
                   else "na" if key in df.attrs.get("na", {}).get(c, {}) else "")
            value = "Infinity" if order == math.inf else "-Infinity" if order == -math.inf \
                else repr(order)
            text = cell_text(df, key, c, mark)
            cls = f"{cls} few-valid".strip() if "% valid)" in text else cls
            cells.append(f'<td class="{cls}" data-g="{group}" data-v="{value}">{_e(text)}</td>')
        status = str(df.at[key, "status"])
        cells.append(f'<td class="{"text" if status == "ok" else "failed"}">{_e(status)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    sorted_by = 5 + columns.index(sort) if sort in columns else -1
    head = "".join(f'<th aria-sort="ascending">{_e(h)}</th>' if j == sorted_by
                   else f'<th class="text">{_e(h)}</th>' if j < 5 else f"<th>{_e(h)}</th>"
                   for j, h in enumerate(heads))
    return (f'<div class="scroll"><table class="board" id="{table_id}"><thead><tr>{head}'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _plots(df: pd.DataFrame, rows: RowOf) -> str:
    """Per score a dot-and-interval plot of every row (in the table's first order)."""
    marks = best_marks(df)
    parts = []
    for c in df.attrs["columns"]:
        valid = df.attrs.get("valid", {}).get(c, {})
        dots = []
        for key in df.index:
            run, label = rows[key]
            share = valid.get(key)
            note = (f"(over {100 * share:.0f} % valid images)" if share is not None
                    and share < SHOW_BELOW else "")
            dots.append(Dot(f"{label} · {run.key}", float(df.at[key, c]),
                            float(df.at[key, f"{c}_lo"]), float(df.at[key, f"{c}_hi"]),
                            marks.get(c, {}).get(key) or "", note))
        target = df.attrs.get("targets", {}).get(c)
        parts.append(f"<figure>{interval_plot(column_header(df, c), dots, target=target)}"
                     f"<figcaption>{_e(column_header(df, c))}: the mean over seeds (dot) and "
                     "its 95 % interval (line); green: the best and its ties; hollow: control "
                     "failed or few valid images</figcaption></figure>")
    return "".join(parts)


def _group_section(suite: str, n: int, runs: Sequence[SiteRun], reports: dict[str, str],
                   several: bool) -> str:
    """A group of runs that agree on the suite's content: its table, legend and plots."""
    columns, sort = _columns(runs)
    df, rows = combined_frame(runs, columns)
    config = runs[0].config
    profile = runs[0].profile
    head = (f"<h2 id=\"group-{n}\">Suite content {_e(config[:12])}"
            f"{_e(f' (profile {profile})') if profile else ''}: {len(runs)} run(s)</h2>")
    if several:
        head += ('<p class="warn">Ranked on its own: its suite content differs from the other '
                 "group(s) on this page.</p>")
    if df.empty:
        return head + "<p>(no results)</p>"
    df = sort_frame(df, sort)
    table_id = f"board-{n}"
    return (f'{head}<p><input class="filter" type="search" data-table="{table_id}" '
            f'placeholder="filter rows (model, run, date, ...)" aria-label="filter"></p>'
            f"{_table(df, rows, reports, table_id, sort)}"
            f'<p class="meta">Mean over seeds, {_e(LEGEND)}; marks over every row of this '
            f"group. A click on a column header sorts by it (best first; again: reverse). "
            f'"n/a": the score does not apply to the model; "(N % valid)": an error over the '
            f"valid images only, of which there were N % (shown under "
            f"{100 * SHOW_BELOW:.0f} %).</p>"
            f"<h3>Every row, per score</h3>{_plots(df, rows)}")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{body}"
            f"<script>{SCRIPT}</script></body></html>\n")


def suite_page_name(suite: str) -> str:
    return f"suite-{re.sub(r'[^A-Za-z0-9_.=-]+', '_', suite)}.html"


def suite_page(suite: str, runs: Sequence[SiteRun], reports: dict[str, str]) -> str:
    """The page of one suite: a group per content (config hash), newest first."""
    groups: dict[str, list[SiteRun]] = {}
    for run in sorted(runs, key=lambda r: r.created, reverse=True):
        groups.setdefault(run.config, []).append(run)
    several = len(groups) > 1
    note = (f'<p class="warn">The runs disagree on the suite\'s content: {len(groups)} '
            "config hashes (another dataset, model or metric setting), each group ranked "
            "apart below; scores of different groups are not comparable.</p>"
            if several else "")
    sections = "".join(_group_section(suite, n, group, reports, several)
                       for n, group in enumerate(groups.values(), start=1))
    body = (f'<nav><a href="index.html">all suites</a></nav><h1>{_e(suite)}</h1>'
            f'<p class="meta">{len(runs)} run(s); rows: every model of every run.</p>'
            f"{note}{sections}")
    return _page(f"zsbench: {suite}", body)


def index_page(runs: Sequence[SiteRun], skipped: Sequence[tuple[str, str]],
               reports: dict[str, str]) -> str:
    """The site's first page: its suites, its runs and the folders left out."""
    suites: dict[str, list[SiteRun]] = {}
    for run in runs:
        suites.setdefault(run.suite, []).append(run)
    rows = "".join(
        f'<tr><td class="text"><a href="{_e(suite_page_name(s))}">{_e(s)}</a></td>'
        f"<td>{len(rs)}</td><td>{len({r.config for r in rs})}</td>"
        f"<td>{sum(len({j.label for j in r.results}) for r in rs)}</td>"
        f'<td class="text">{_e(max(r.date for r in rs))}</td></tr>'
        for s, rs in sorted(suites.items()))
    run_rows = "".join(
        f'<tr><td class="text">{_e(r.key)}</td><td class="text">{_e(r.suite)}</td>'
        f'<td class="text">{_e(r.date)}</td><td class="text">{_e(r.version)}</td>'
        f'<td class="text">{_e(r.config[:12])}</td><td class="text">'
        + (f'<a href="{_e(reports[r.key])}">report</a>' if r.key in reports else "–")
        + "</td></tr>" for r in sorted(runs, key=lambda r: r.created, reverse=True))
    left_out = ("<h2>Left out</h2><ul>" + "".join(
        f"<li><code>{_e(folder)}</code>: {_e(reason)}</li>" for folder, reason in skipped)
        + "</ul>") if skipped else ""
    body = (f"<h1>zsbench leaderboards</h1><p class=\"meta\">Built "
            f"{_e(_dt.datetime.now().isoformat(timespec='seconds'))} by zsbench "
            f"{_e(__version__)} from {len(runs)} run folder(s).</p><h2>Suites</h2>"
            '<table class="board"><thead><tr><th>suite</th><th>runs</th><th>contents</th>'
            f"<th>rows</th><th>latest</th></tr></thead><tbody>{rows}</tbody></table>"
            '<h2>Runs</h2><table class="board"><thead><tr><th>run</th><th>suite</th>'
            "<th>date</th><th>zsbench</th><th>config</th><th>report</th></tr></thead>"
            f"<tbody>{run_rows}</tbody></table>{left_out}")
    return _page("zsbench leaderboards", body)


def _report_text(run: SiteRun) -> str:
    """The run's report.html as it stands alone: its own file when every picture is in it,
    else one built with the pictures embedded."""
    own = run.path / REPORT
    if own.is_file():
        text = own.read_text(encoding="utf-8", errors="replace")
        if not re.search(r'<img src="(?!data:)', text):
            return text
    return render_report(run.path, embed=True)


def _prepare_out(out: Path) -> None:
    """Make ``out`` ready: new, empty, or a site written before (what it lists goes)."""
    if out.exists() and not out.is_dir():
        raise ZsbenchError(f"--out {out}: is a file. Fix: give a folder for the site.")
    if not out.is_dir() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    try:
        old = json.loads((out / MARK).read_text(encoding="utf-8"))
        files = [str(f) for f in old["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise ZsbenchError(f"--out {out}: the folder holds other files, not a site zsbench "
                           "wrote. Fix: give a new or empty folder.") from None
    for name in files:
        path = (out / name).resolve()
        if out.resolve() in path.parents and path.is_file():
            path.unlink()
    shutil.rmtree(out / RUNS, ignore_errors=True)


def build_site(run_dirs: Sequence[Path], out: Path) -> tuple[list[SiteRun],
                                                             list[tuple[str, str]]]:
    """Write the site of ``run_dirs`` into ``out`` (see the module's docstring); return
    the runs it holds and the folders left out with their reasons. Raises
    :class:`ZsbenchError` when no folder is a usable run (nothing is written then)."""
    out = Path(out)
    runs, skipped = gather(run_dirs)
    if not runs:
        reasons = "; ".join(f"{folder}: {why}" for folder, why in skipped) or "no folder given"
        raise ZsbenchError(f"no usable run folder ({reasons}). Fix: give run folders that "
                           "`zsbench run` wrote (each holds manifest.json and metrics.json).")
    _prepare_out(out)
    reports: dict[str, str] = {}
    for run in runs:
        try:
            text = _report_text(run)
        except (ZsbenchError, OSError, ValueError) as exc:
            skipped.append((str(run.path), "kept, without its report, which could not be "
                            f"built: {_first_line(exc)}"))
            continue
        atomic_write_text(out / RUNS / run.key / REPORT, text)
        reports[run.key] = f"{RUNS}/{run.key}/{REPORT}"
    files = ["index.html"]
    for suite in sorted({r.suite for r in runs}):
        name = suite_page_name(suite)
        atomic_write_text(out / name, suite_page(suite, [r for r in runs if r.suite == suite],
                                                 reports))
        files.append(name)
    atomic_write_text(out / "index.html", index_page(runs, skipped, reports))
    write_json(out / MARK, {
        "zsbench_version": __version__,
        "built": _dt.datetime.now().isoformat(timespec="seconds"),
        "runs": [{"key": r.key, "path": str(r.path), "suite": r.suite, "config_hash": r.config,
                  "created": r.created} for r in runs],
        "skipped": [{"path": p, "reason": why} for p, why in skipped],
        "files": [*files, MARK]})
    return runs, skipped


def site_command(run_dirs: Sequence[Path], out: Path) -> int:
    """``zsbench site``: build the site, say what was left out (one line each, on stderr)
    and where the site is; 0, or :class:`ZsbenchError` (exit 2) when nothing was usable."""
    runs, skipped = build_site(run_dirs, out)
    for folder, reason in skipped:
        print(f"zsbench site: skipped {folder}: {reason}", file=sys.stderr)
    suites = sorted({r.suite for r in runs})
    print(f"wrote {Path(out) / 'index.html'}: {len(suites)} suite(s) ({', '.join(suites)}), "
          f"{len(runs)} run(s)")
    return 0
