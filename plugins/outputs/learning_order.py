"""Learning order and speed over a concept-signal sweep (Park et al. 2024, ``learning_times``).

Park et al. vary the colour separation of their circles (``col_sweep``: ``sep_col`` 0.1 to
0.8, five seeds each) and measure the steps until the held-out class is drawn; the stronger
the concept signal, the sooner. Here one point per variant and seed: the held-out class's
emergence step read back exactly (``conditional_generation``'s ``hole_emergence_step``),
beside the step under over-prompting (``over_prompting``'s ``hole_LABEL_emergence_step``)
where the suite asks for it. A job that never learned the class within its steps is drawn
at the top edge ("never"). ``benchmarks/park_learning_order.py RUN_DIR`` reads a variants
run and writes the picture and the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from zsbench_plugins.outputs import _plot

from zsbench.jobs import JobResult

STEP_SCORES = ("hole_emergence_step", "hole_prompted_emergence_step")
#: The step the seen classes are learned (the control): the concept-signal sweep's reading
#: at budgets where the held-out class never emerges.
CONTROL_STEP = "control_learned_step"


def learning_order_rows(variants: Sequence[Mapping[str, Any]],
                        results: Mapping[str, Sequence[JobResult]], *, axis: str,
                        scores: Sequence[str] = STEP_SCORES) -> list[dict[str, Any]]:
    """One row per variant x model x seed: ``variant``, ``axis`` (the variant's coordinate),
    ``model``, ``seed`` and each of ``scores`` (NaN when never, or absent), for the jobs
    trained with the emergence monitor (not the baselines). ``variants``:
    ``{"name", "axes"}`` as in a variants run's ``variants.json``; ``results``: each
    variant's job results."""
    rows = []
    for v in variants:
        for r in results.get(v["name"], []):
            if r.status != "ok" or not (r.training or {}).get("emergence"):
                continue  # a failed job, or a model trained without the monitor (baselines)
            row: dict[str, Any] = {"variant": v["name"], axis: float(v["axes"][axis]),
                                   "model": r.label, "seed": int(r.seed)}
            for s in scores:
                value = (r.scores.get(s) or {}).get("value")
                row[s] = math.nan if value is None else float(value)
            rows.append(row)
    return rows


def draw_learning_order(rows: Sequence[Mapping[str, Any]], path: Path, *, axis: str,
                        steps_run: float | None = None,
                        scores: Sequence[str] = STEP_SCORES) -> Path:
    """The picture: x = ``axis`` (e.g. the colour separation), y = the step the held-out
    class emerged (log scale), one marker per variant and seed, filled for plain prompting
    and hollow (one shape per score) for over-prompting; a job that never learned it sits on the "never" line at
    ``steps_run`` (the steps trained; else the largest step seen)."""
    fig = _plot.new_figure(8.4, 4.4)
    ax = fig.add_axes((0.09, 0.13, 0.5, 0.78))
    finite = [float(r[s]) for r in rows for s in scores if s in r and math.isfinite(r[s])]
    top = float(steps_run) if steps_run else (max(finite) if finite else 1.0)
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    palette = ["#c92a2a", "#1c7ed6", "#2b8a3e", "#e67700", "#5f3dc4"]
    for i, model in enumerate(models):
        mine = [r for r in rows if r["model"] == model]
        for j, s in enumerate(scores):
            if not any(s in r for r in mine):
                continue
            x = np.array([float(r[axis]) for r in mine])
            y = np.array([float(r.get(s, math.nan)) for r in mine])
            never = ~np.isfinite(y)
            jitter = (j - 0.5) * 0.006 * (np.ptp(x) if len(x) > 1 else 1.0)
            colour = palette[i % len(palette)]
            face = colour if j == 0 else "none"
            what = "plain" if j == 0 else "seen classes learned" if s == CONTROL_STEP else (
                s.removeprefix("hole_").removesuffix("_emergence_step") + " (over-prompted)")
            ax.scatter(x[~never] + jitter, y[~never], s=28, marker="osDv"[j % 4],
                       facecolors=face, edgecolors=colour, label=f"{model}: {what}", zorder=3)
            ax.scatter(x[never] + jitter, np.full(never.sum(), top * 1.3), marker="^", s=28,
                       facecolors=face, edgecolors=colour, zorder=3)
    ax.axhline(top * 1.3, color="0.6", linestyle=":", linewidth=0.8)
    ax.text(ax.get_xlim()[0], top * 1.3, " never", va="bottom", fontsize=_plot.TEXT_SIZE - 1,
            color="0.4")
    ax.set_yscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel("step the held-out class is drawn (exact read-back)")
    ax.set_title("Learning order over the concept-signal sweep (one point per variant and "
                 "seed)", fontsize=_plot.TEXT_SIZE)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_plot.TEXT_SIZE - 1,
              frameon=False)
    return _plot.save_figure(fig, Path(path))
