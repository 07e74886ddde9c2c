"""A comparison as text: the Markdown table of :func:`format_comparison` (``zsbench
compare`` and ``zsbench check`` print it) and the number formats its rows and messages use.

The comparison itself (rows, verdicts, the paired rule) is :mod:`zsbench.comparison`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from zsbench.results import CONTROL_FAILED, control_failed, format_number

if TYPE_CHECKING:  # the comparison imports this module's number formats
    from zsbench.comparison import Comparison
    from zsbench.summaries import Summary


def format_signed(x: float) -> str:
    """A change with its sign, 3 significant digits; ``-`` when not finite, ``0`` for 0."""
    if x is None or not math.isfinite(x):
        return "-"
    return "0" if x == 0 else f"{x:+.3g}"


def _pm(mean: float, std: float, n_seeds: int) -> str:
    """``mean ± std``, the spread shown only over more than one seed."""
    text = format_number(mean)
    if n_seeds > 1 and math.isfinite(mean) and math.isfinite(std):
        text += f" ± {format_number(std)}"
    return text


def control_mark(side: Summary, label: str, score: str) -> str:
    """:data:`CONTROL_FAILED` when ``score`` of model ``label`` declares a control (e.g. a
    generator's hole fail rate: the seen classes' fail rate at most 0.5) that failed on
    this ``side`` (:func:`zsbench.results.control_failed`), else ""."""
    model = side.models.get(label)
    s = model.scores.get(score) if model is not None else None
    if s is None or s.control is None or s.control[0] not in model.scores:
        return ""
    c = model.scores[s.control[0]]
    return CONTROL_FAILED if control_failed(c.mean, c.higher_is_better, s.control[1]) else ""


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
            paired = (f"{format_signed(r.paired_diff)} [{format_signed(r.paired_lo)}, "
                      f"{format_signed(r.paired_hi)}]")
        rel = r.relative_change
        change = "0" if r.change == 0 else (
            f"{r.change:+.3g}" + (f" ({rel:+.1%})" if math.isfinite(rel) else ""))
        if not (math.isfinite(r.base_mean) and math.isfinite(r.new_mean)):
            change = "-"
        table.append([markdown_cell(r.model), f"{markdown_cell(r.score)} {arrow}",
                      _pm(r.base_mean, r.base_std, nb) + control_mark(cmp.base, r.model, r.score),
                      _pm(r.new_mean, r.new_std, nn) + control_mark(cmp.new, r.model, r.score),
                      change, paired,
                      f"±{format_number(r.allowed)}" if math.isfinite(r.base_mean) else "",
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
