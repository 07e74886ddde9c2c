"""What the pages of ``zsbench site`` hold besides their tables: the style, the script that
sorts and filters the tables, and the dot-and-interval plots (inline SVG: nothing is
fetched, the pages open from ``file://``)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right;
         white-space: nowrap; }
th.text { text-align: left; }
th { background: #f3f3f3; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.text { text-align: left; white-space: nowrap; }
td.best { font-weight: bold; background: #eaf6ea; }
td.control { color: #8a5300; }
td.failed { color: #b00; text-align: left; }
td.na { color: #777; }
td.few-valid { color: #8a5300; }
.scroll { overflow-x: auto; max-width: 100%; }
.meta { color: #555; font-size: 0.9em; }
.warn { color: #8a5300; font-weight: bold; }
input.filter { font-size: 1em; padding: 0.2em 0.4em; width: 24em; }
figure { margin: 1em 0; }
figcaption { color: #555; font-size: 0.85em; }
svg.plot text { font-size: 11px; font-family: system-ui, sans-serif; }
nav a { margin-right: 1em; }
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var g = cell.getAttribute("data-g");
    if (g === null) { return [0, cell.textContent.trim().toLowerCase()]; }
    return [Number(g), Number(cell.getAttribute("data-v"))];
  }
  function sortBy(table, index, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var k = 0; k < heads.length; k++) { heads[k].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = key(r1.cells[index]), b = key(r2.cells[index]);
      if (a[0] !== b[0]) { return a[0] - b[0]; }  // empty cells stay last
      var c = a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filter(input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var text = rows[i].textContent.toLowerCase();
      rows[i].hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
    }
  }
  var tables = document.querySelectorAll("table.board");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.title = "sort (again: reverse)";
      th.addEventListener("click", function () { sortBy(table, i, th); });
    });
  });
  var inputs = document.querySelectorAll("input.filter");
  Array.prototype.forEach.call(inputs, function (input) {
    input.addEventListener("input", function () { filter(input); });
  });
})();
"""


@dataclass(frozen=True)
class Dot:
    """One row of a plot: its label, the value and its interval (NaN: none), how it is
    marked (``best``, ``tie``, ``control failed`` or ``""``) and a hover note."""

    label: str
    value: float
    lo: float
    hi: float
    mark: str = ""
    note: str = ""


COLOURS = {"best": "#1a7f37", "tie": "#1a7f37", "control failed": "#b35900", "": "#3465a4"}
ROW, LEFT, PLOT, RIGHT, TOP = 18, 300, 460, 20, 24


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _tick(x: float) -> str:
    return f"{x:.3g}"


def _extent(dots: Sequence[Dot], target: float | None) -> tuple[float, float]:
    xs = [x for d in dots for x in (d.value, d.lo, d.hi) if math.isfinite(x)]
    if target is not None:
        xs.append(target)
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    pad = 0.04 * (hi - lo)
    return lo - pad, hi + pad


def interval_plot(title: str, dots: Sequence[Dot], *, target: float | None = None) -> str:
    """An inline SVG: per row its label, a line over its 95 % interval and a dot at its
    value (rliable's style), best and tied rows in green, a control that failed in orange,
    the target (if any) as a dashed line; an x axis with five ticks."""
    lo, hi = _extent(dots, target)
    width, height = LEFT + PLOT + RIGHT, TOP + ROW * len(dots) + 28

    def x(v: float) -> float:
        return LEFT + PLOT * (v - lo) / (hi - lo)

    parts = [f'<svg class="plot" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
             f"<title>{_e(title)}</title>"]
    axis = TOP + ROW * len(dots) + 4
    parts.append(f'<line x1="{LEFT}" y1="{axis}" x2="{LEFT + PLOT}" y2="{axis}" stroke="#888"/>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f'<line x1="{x(v):.1f}" y1="{TOP - 4}" x2="{x(v):.1f}" y2="{axis}" '
                     f'stroke="#eee"/><text x="{x(v):.1f}" y="{axis + 14}" '
                     f'text-anchor="middle" fill="#555">{_e(_tick(v))}</text>')
    if target is not None:
        parts.append(f'<line class="target" x1="{x(target):.1f}" y1="{TOP - 6}" '
                     f'x2="{x(target):.1f}" y2="{axis}" stroke="#999" stroke-dasharray="4 3"/>')
    for i, d in enumerate(dots):
        y = TOP + ROW * i + ROW / 2
        colour = COLOURS.get(d.mark, COLOURS[""])
        label = d.label if len(d.label) <= 44 else d.label[:43] + "…"
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_e(label)}'
                     f"<title>{_e(d.label)}</title></text>")
        if not math.isfinite(d.value):
            parts.append(f'<text x="{LEFT + 4}" y="{y + 4:.1f}" fill="#777">–</text>')
            continue
        if math.isfinite(d.lo) and math.isfinite(d.hi):
            parts.append(f'<line x1="{x(d.lo):.1f}" y1="{y:.1f}" x2="{x(d.hi):.1f}" '
                         f'y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>')
        fill = "white" if d.mark == "control failed" or d.note else colour
        parts.append(f'<circle class="dot" cx="{x(d.value):.1f}" cy="{y:.1f}" r="4" '
                     f'fill="{fill}" stroke="{colour}" stroke-width="1.5">'
                     f"<title>{_e(d.label)}: {_e(_tick(d.value))}"
                     f"{_e(' ' + d.note) if d.note else ''}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)
