"""``report.html``: one self-contained page per run folder.

The page holds the leaderboard, every score grouped by the metric that produced it
(reconstruction, factor recovery, reachability, prior coverage, latent health, ...), the
failed jobs and warnings, and per model and seed the pictures the run's outputs wrote
(transect strips, reachable strips, error and coverage maps, latent pictures), embedded as
base64 ``data:`` URIs so the file opens offline, from anywhere, with nothing beside it.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zsbench.errors import ZsbenchError
from zsbench.jobs import JobResult
from zsbench.results import (
    LEGEND,
    atomic_write_text,
    best_marks,
    cell_text,
    column_header,
    leaderboard_frame,
    load_results,
    skip_notes,
    sort_frame,
)
from zsbench.ties import uncertainty_notes

REPORT = "report.html"

PICTURE_ORDER: tuple[str, ...] = (
    "transect_", "reachable_", "error_map", "coverage_map", "latent_scatter", "trajectory",
    "traversal",
)
"""Pictures of a model are shown in this order (by file-name prefix), the rest after them."""

METRIC_ORDER: tuple[str, ...] = (
    "holdout_reconstruction", "factor_recovery", "reachability", "prior_coverage",
    "latent_health", "latent_covariance", "probe", "transect",
)
"""Score tables are shown in this order (by metric plugin), the rest after them."""

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
th { background: #f3f3f3; }
td.best { font-weight: bold; background: #eaf6ea; }
td.failed { color: #b00; text-align: left; }
td.control { color: #8a5300; }
td.na { color: #777; }
td.few-valid { color: #8a5300; }
.meta { color: #555; font-size: 0.9em; }
.meta code { background: #f3f3f3; padding: 0 0.3em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85em; }
.warn { color: #8a5300; }
nav a { margin-right: 1em; }
details { margin: 0.5em 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if math.isnan(v):
        return "–"
    if v == 0 or 1e-3 <= abs(v) < 1e4:
        return f"{v:.4f}"
    return f"{v:.3e}"


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)


def check_run_dir(run_dir: Path) -> Path:
    """``run_dir`` as a Path, or :class:`ZsbenchError` when it is no run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ZsbenchError(f"{run_dir}: no such folder. Fix: give the run folder that "
                           "`zsbench run` printed at its end (under results/runs/).")
    load_results(run_dir)  # raises a clear error for a folder that is not a run folder
    return run_dir


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]],
           classes: Sequence[Sequence[str]] | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            cls = classes[i][j] if classes is not None else ""
            cells.append(f'<td class="{cls}">{cell}</td>' if cls else f"<td>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _leaderboard(results: Sequence[JobResult], columns: Sequence[str] | None,
                 sort: str | None, run_dir: Path | None = None) -> str:
    df = leaderboard_frame(results, columns, run_dir=run_dir)
    if df.empty:
        return "<p>(no results)</p>"
    cols: list[str] = df.attrs.get("columns", [])
    df = sort_frame(df, sort)
    marks = best_marks(df)
    na = df.attrs.get("na", {})
    rows, classes = [], []
    for label, row in df.iterrows():
        cells = [f'<a href="#{_anchor("model-" + str(label))}">{_e(label)}</a>', _e(row["seeds"])]
        cls = ["", ""]
        for c in cols:
            mark = marks.get(c, {}).get(label)
            text = _e(cell_text(df, label, c, mark))
            reason = na.get(c, {}).get(label)
            if reason and text == "n/a":
                text = f'<span title="{_e(reason)}">n/a</span>'
            cells.append(text)
            cls.append("best" if mark in ("best", "tie") else
                       "control" if mark == "control failed" else "na" if reason else "")
            if "% valid)" in text:  # an error over few valid images: flagged
                cls[-1] = f"{cls[-1]} few-valid".strip()
        status = str(row["status"])
        cells.append(_e(status))
        cls.append("" if status == "ok" else "failed")
        rows.append(cells)
        classes.append(cls)
    headers = ["model", "seeds"] + [_e(column_header(df, c)) for c in cols] + ["status"]
    notes = " ".join(uncertainty_notes(df))  # what these intervals cover
    return _table(headers, rows, classes) + (f'<p class="meta">{_e(notes)}</p>' if notes else "")


def _skip_reason(r: JobResult, metric: str) -> str | None:
    return (getattr(r, "skipped", None) or {}).get(f"metric {metric}")


def _score_tables(results: Sequence[JobResult]) -> str:
    """One table per metric plugin: a row per model x seed, a column per score (value and
    its 95 % interval over items, when it has one); "n/a" (the reason on hover) for a
    model the metric does not apply to."""
    by_metric: dict[str, list[str]] = {}
    directions: dict[str, bool] = {}
    for r in results:
        for name, s in r.scores.items():
            names = by_metric.setdefault(str(s.get("metric", "?")), [])
            if name not in names:
                names.append(name)
            directions.setdefault(name, bool(s.get("higher_is_better")))
    order = [m for m in METRIC_ORDER if m in by_metric] + sorted(
        m for m in by_metric if m not in METRIC_ORDER)
    parts = []
    for metric in order:
        names = by_metric[metric]
        rows = []
        for r in results:
            if r.status != "ok":
                continue
            reason = _skip_reason(r, metric)
            if reason and not any(n in r.scores for n in names):
                rows.append([_e(r.label), str(r.seed),
                             f'<span title="{_e(reason)}">n/a</span>: {_e(reason)}']
                            + [""] * (len(names) - 1))
                continue
            rows.append([_e(r.label), str(r.seed)] + [_score_cell(r.scores.get(n)) for n in names])
        headers = ["model", "seed"] + [f"{_e(n)} {'↑' if directions[n] else '↓'}" for n in names]
        parts.append(f'<h3 id="{_anchor("metric-" + metric)}">{_e(metric)}</h3>'
                     + _table(headers, rows))
    return "".join(parts) if parts else "<p>(no scores)</p>"


def _score_cell(score: dict[str, Any] | None) -> str:
    if score is None:
        return "–"
    text = _fmt(score.get("value"))
    lo, hi = score.get("lo"), score.get("hi")
    if lo is not None and hi is not None:
        text += f" [{_fmt(lo)}, {_fmt(hi)}]"
    return text


def _notes(results: Sequence[JobResult]) -> str:
    """Metrics and outputs that do not apply (n/a, once per reason) and those that failed."""
    parts = []
    skips = skip_notes(results)
    if skips:
        parts.append("<h2 id=\"notes\">Not applicable (n/a)</h2><ul>" + "".join(
            f"<li>{_e(what)}: n/a for {_e(', '.join(labels))}: {_e(reason)}</li>"
            for what, reason, labels in skips) + "</ul>")
    failures = [(r, what, msg) for r in results
                for what, msg in (getattr(r, "failures", None) or {}).items()]
    if failures:
        parts.append("<h2>Failed metrics and outputs</h2>" + _table(
            ["model", "seed", "what", "error"],
            [[_e(r.label), str(r.seed), _e(what), _e(msg)] for r, what, msg in failures],
            [["", "", "", "failed"] for _ in failures]))
    return "".join(parts)


def _picture_key(path: Path) -> tuple[int, str]:
    for i, prefix in enumerate(PICTURE_ORDER):
        if path.name.startswith(prefix):
            return i, path.name
    return len(PICTURE_ORDER), path.name


def _img(run_dir: Path, path: Path, *, embed: bool) -> str:
    rel = path.relative_to(run_dir).as_posix()
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = "/".join(_e(part) for part in rel.split("/"))
    return (f'<figure><img src="{src}" alt="{_e(rel)}" loading="eager">'
            f"<figcaption>{_e(rel)}</figcaption></figure>")


def _model_sections(run_dir: Path, results: Sequence[JobResult], *, embed: bool) -> str:
    parts = []
    seen: set[str] = set()
    for r in results:
        anchor = _anchor("model-" + r.label)
        head = f'<h3 id="{anchor}">' if r.label not in seen else "<h3>"
        seen.add(r.label)
        parts.append(f"{head}{_e(r.label)} <small>(seed {r.seed}, {_e(r.plugin)})</small></h3>")
        if r.status != "ok":
            parts.append(f'<p class="failed">failed: {_e(r.error)}</p>')
        failed_what = {f'{k.split(" ", 1)[0]} "{k.split(" ", 1)[-1]}" failed'
                       for k in (getattr(r, "failures", None) or {})}
        for w in r.warnings:
            if not any(w.startswith(f) for f in failed_what):  # listed under the failures
                parts.append(f'<p class="warn">note: {_e(w)}</p>')
        folder = run_dir / "pictures" / _safe(r.label) / f"seed{r.seed}"
        pictures = sorted(folder.glob("*.png"), key=_picture_key) if folder.is_dir() else []
        if not pictures:
            parts.append("<p>(no pictures)</p>")
        for p in pictures:
            parts.append(_img(run_dir, p, embed=embed))
    return "".join(parts)


def render_report(run_dir: Path, *, embed: bool = True) -> str:
    """The HTML text of the report of ``run_dir`` (see :func:`write_report`)."""
    run_dir = check_run_dir(run_dir)
    manifest, results = load_results(run_dir)
    board_cfg: dict[str, Any] = {}
    suite_file = run_dir / "suite.toml"
    if suite_file.is_file():
        from zsbench.suite import tomllib

        try:
            board_cfg = tomllib.loads(suite_file.read_text()).get("leaderboard", {})
        except Exception:  # a damaged suite copy only loses the column choice
            board_cfg = {}
    suite = manifest.get("suite", {})
    title = f"zsbench: {suite.get('name', run_dir.name)}" + (
        f" ({suite['profile']})" if suite.get("profile") else "")
    meta = [
        ("run folder", run_dir.name), ("state", manifest.get("state")),
        ("created", manifest.get("created")), ("zsbench", manifest.get("zsbench_version")),
        ("git", manifest.get("git_revision")), ("device", manifest.get("device")),
        ("seeds", manifest.get("seeds")), ("data seed", manifest.get("data_seed")),
        ("splits", ", ".join(f"{k} {v}" for k, v in (manifest.get("splits") or {}).items())),
        ("total time", f"{manifest.get('timings', {}).get('total_s', float('nan')):.1f} s"),
    ]
    meta_html = " · ".join(f"{_e(k)} <code>{_e(v)}</code>" for k, v in meta if v is not None)
    failed = [r for r in results if r.status != "ok"]
    failed_html = ""
    if failed:
        failed_html = "<h2>Failed jobs</h2>" + _table(
            ["model", "seed", "error"], [[_e(r.label), str(r.seed), _e(r.error)] for r in failed])
    timing_rows = [[_e(r.label), str(r.seed)] + [_fmt(r.timings.get(k)) for k in
                                                 ("train_s", "evaluate_s", "metrics_s",
                                                  "outputs_s", "total_s")] for r in results]
    body = f"""
<h1>{_e(title)}</h1>
<p class="meta">{meta_html}</p>
<nav><a href="#leaderboard">leaderboard</a><a href="#scores">all scores</a>
<a href="#models">pictures per model</a><a href="#timings">timings</a></nav>
<h2 id="leaderboard">Leaderboard</h2>
{_leaderboard(results, board_cfg.get("columns"), board_cfg.get("sort"), run_dir)}
<p class="meta">Mean over seeds, {_e(LEGEND)}. "n/a": the score does not apply to the model
(the reason on hover, and below); "control failed": the score's control (e.g. the rim's
fail rate for a hole/rim ratio) is too poor for the score to be ranked; "(N % valid)": an
error over the valid images only, of which there were N % (shown under 50 %).</p>
{failed_html}
{_notes(results)}
<h2 id="scores">All scores, by metric</h2>
{_score_tables(results)}
<h2 id="models">Pictures per model</h2>
{_model_sections(run_dir, results, embed=embed)}
<h2 id="timings">Timings (seconds)</h2>
{_table(["model", "seed", "train", "evaluate", "metrics", "outputs", "total"], timing_rows)}
"""
    return _page(title, body)


def _page(title: str, body: str) -> str:
    """A whole self-contained HTML page."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def write_report(run_dir: Path, *, embed: bool = True) -> Path:
    """Write ``report.html`` into the run folder ``run_dir`` and return its path: the
    leaderboard (the suite's columns and sort), every score by metric, failed jobs,
    warnings, per model and seed its pictures, and timings. ``embed`` (default) puts the
    pictures into the file as base64 ``data:`` URIs; ``embed=False`` links them relatively
    (``pictures/...``), so the page must stay in the run folder. A folder that is not a run
    folder raises :class:`ZsbenchError`."""
    run_dir = check_run_dir(run_dir)
    path = run_dir / REPORT
    atomic_write_text(path, render_report(run_dir, embed=embed))
    return path


def write_variants_report(run_dir: Path, *, title: str, headers: Sequence[str],
                          rows: Sequence[Sequence[str]], variants: Sequence[str]) -> Path:
    """``report.html`` of a folder of variant runs (:mod:`zsbench.variants`): the picture
    ``variants.png`` (embedded), the leaderboard over the variants (``headers`` and text
    ``rows``) and a link to each variant's own ``report.html``."""
    run_dir = Path(run_dir)
    picture = run_dir / "variants.png"
    image = _img(run_dir, picture, embed=True) if picture.is_file() else ""
    links = "".join(f'<li><a href="{_e(name)}/{REPORT}">{_e(name)}</a></li>'
                    for name in variants)
    body = (f"<h1>{_e(title)}</h1>{image}<h2>Leaderboard over the variants</h2>"
            f"{_table([_e(h) for h in headers], [[_e(c) for c in r] for r in rows])}"
            f'<p class="meta">value [95 % interval]; each variant is a run of its own.</p>'
            f"<h2>Each variant's report</h2><ul>{links}</ul>")
    path = run_dir / REPORT
    atomic_write_text(path, _page(title, body))
    return path
