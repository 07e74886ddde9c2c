"""Emergence: when, during training, a conditional generator learns to draw the hole."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from zsbench_plugins.outputs import _plot

from zsbench.emergence import emergence_step
from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Output

if TYPE_CHECKING:  # matplotlib is imported where it draws (slow to import; see _plot)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CONTROL_COLOUR: str = "#1c7ed6"
"""Colour of the control's (rim's or test split's) curves."""

FIG_W: float = 7.2
"""Width of the picture, inches."""

FIG_H: float = 4.4
"""Height of the picture, inches."""


class Emergence(Output):
    """Emergence: the hole's and its control's fail rates and valid shares over training, the step the hole is learned marked.

    ``emergence.png`` plots the training curve that the run's emergence monitor records for
    a conditional generator fitted with ``eval_every`` > 0 (``training["emergence"]``: one
    draw per request for a fixed set of hole and control requests, the control being the
    rim or, in a run without one, the test split): against the training step, the fail
    rate (solid) and the valid share (dashed) of the hole (orange) and of the control
    (blue). A vertical line marks the hole's emergence step (as the
    ``conditional_generation`` metric reads it off the curve, with ``margin`` and
    ``rim_ceiling``: the first evaluation from which the hole's fail rate stays within
    ``margin`` of the control's while the control's stays at most ``rim_ceiling``), a
    dotted one the step from which the control is learned. A model trained without the
    monitor has no curve: nothing is written (no error).
    """

    name = "emergence"
    requires = ("model.generate",)

    def __init__(self, *, margin: float = 0.1, rim_ceiling: float = 0.5) -> None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) \
                or not 0 <= margin < 1:
            raise PluginParameterError("output", self.name, "margin", f"got {margin!r}.",
                                       "give a fail-rate difference in [0, 1).")
        if isinstance(rim_ceiling, bool) or not isinstance(rim_ceiling, (int, float)) \
                or not 0 < rim_ceiling <= 1:
            raise PluginParameterError("output", self.name, "rim_ceiling",
                                       f"got {rim_ceiling!r}.", "give a fail rate in (0, 1].")
        self.margin = margin
        self.rim_ceiling = rim_ceiling

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``emergence.png`` into ``directory`` and return ``[path]``; ``[]`` when the
        model's training recorded no emergence curve."""
        record: dict[str, Any] = (ctx.training or {}).get("emergence") or {}
        curve = [r for r in record.get("curve", []) if "step" in r]
        if not curve:
            return []
        control = str(record.get("control", "rim"))
        rows = sorted(curve, key=lambda r: float(r["step"]))
        if any(f"{s}_fail_rate" not in r for r in rows for s in ("hole", control)):
            raise DataError(f'model "{ctx.label}": the emergence curve lacks "hole_fail_rate" '
                            f'or "{control}_fail_rate" at some step.')
        hole_step, control_step = emergence_step(rows, margin=float(self.margin),
                                                 rim_ceiling=float(self.rim_ceiling),
                                                 control=control)
        steps = np.array([float(r["step"]) for r in rows])

        fig = _plot.new_figure(FIG_W, FIG_H)
        # inches: title and two lines of details above, legend below
        ax = fig.add_axes((0.75 / FIG_W, 1.15 / FIG_H, (FIG_W - 1.0) / FIG_W,
                           (FIG_H - 1.15 - 0.85) / FIG_H))
        _draw_curves(ax, rows, steps, control)
        handles = self._draw_marks(ax, control, hole_step, control_step)
        _finish_axes(ax, steps, handles)
        self._draw_texts(fig, ctx, record, control, hole_step, len(steps))
        return [_plot.save_figure(fig, Path(directory) / "emergence.png")]

    def _draw_marks(self, ax: Axes, control: str, hole_step: float,
                    control_step: float) -> list[object]:
        """The control's ceiling (dotted, horizontal), the step the control is learned
        (dotted) and the step the hole is learned (solid, annotated), those that exist;
        returns the legend's handles, the curves' first."""
        from matplotlib.lines import Line2D  # on use: slow to import (see _plot)

        ax.axhline(float(self.rim_ceiling), color="0.6", linewidth=0.8, linestyle=":",
                   zorder=1)
        handles: list[object] = [
            Line2D([], [], color=_plot.HOLE_COLOUR, linewidth=1.6, label="hole: fail rate"),
            Line2D([], [], color=_plot.HOLE_COLOUR, linewidth=1.3, linestyle="--",
                   label="hole: valid share"),
            Line2D([], [], color=CONTROL_COLOUR, linewidth=3.4, alpha=0.55,
                   label=f"{control}: fail rate"),
            Line2D([], [], color=CONTROL_COLOUR, linewidth=2.7, alpha=0.55, linestyle="--",
                   label=f"{control}: valid share"),
            Line2D([], [], color="0.6", linewidth=0.8, linestyle=":",
                   label=f"{control} ceiling ({self.rim_ceiling:g})"),
        ]
        if np.isfinite(control_step):
            ax.axvline(control_step, color=CONTROL_COLOUR, linewidth=1.0, linestyle=":",
                       zorder=2)
            handles.append(Line2D([], [], color=CONTROL_COLOUR, linewidth=1.0, linestyle=":",
                                  label=f"{control} learned (step {control_step:g})"))
        if np.isfinite(hole_step):
            ax.axvline(hole_step, color="black", linewidth=1.4, zorder=2)
            ax.annotate(f"hole learned: step {hole_step:g}", xy=(hole_step, 0.72),
                        xycoords=("data", "axes fraction"), xytext=(4, 0),
                        textcoords="offset points", ha="left", va="center",
                        fontsize=_plot.TEXT_SIZE, zorder=6,
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white",
                              "edgecolor": "none", "alpha": 0.85})
            handles.append(Line2D([], [], color="black", linewidth=1.4,
                                  label=f"hole learned (step {hole_step:g})"))
        return handles

    def _draw_texts(self, fig: Figure, ctx: EvalContext, record: dict[str, Any], control: str,
                    hole_step: float, n_evals: int) -> None:
        """The title and, under it, the verdict and how the curve was measured (requests,
        ``n_evals`` evaluations, the recovery tolerance)."""
        requests = record.get("requests") or {}
        asked = ", ".join(f"{n} {s}" for s, n in requests.items())
        tol = record.get("tolerance")
        judging = record.get("judging")
        verdict = (f"the hole is learned at step {hole_step:g}" if np.isfinite(hole_step)
                   else "the hole is never learned (its fail rate never stays within "
                        f"{self.margin:g} of a learned {control}'s)")
        details = (f"{verdict}; one draw per request ({asked}) at each of {n_evals} "
                   "evaluations" + (f"; {judging}" if judging else
                                    f"; a draw fails when invalid or off by more than "
                                    f"{float(tol):g} of a factor's range" if tol else ""))
        fig.suptitle(f"{ctx.label} (seed {ctx.seed}): when is the hole learned?",
                     fontsize=_plot.TEXT_SIZE + 2, y=1.0 - 0.12 / FIG_H, va="top")
        fig.text(0.75 / FIG_W, 1.0 - 0.42 / FIG_H, "\n".join(textwrap.wrap(details, 120)),
                 fontsize=_plot.TEXT_SIZE - 1, color="0.3", va="top", linespacing=1.3)


def _series(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    """``key`` of every row of the curve ``[E]``, NaN where a row lacks it."""
    return np.array([float(r.get(key, math.nan)) for r in rows])


def _draw_curves(ax: Axes, rows: list[dict[str, Any]], steps: np.ndarray, control: str) -> None:
    """The fail rate (solid) and, where recorded, the valid share (dashed) of the control
    (wide and light, under) and of the hole against the training ``steps [E]``."""
    marker = "o" if len(steps) <= 40 else None
    # the control wide and light under the hole, so coinciding curves both show
    for split, colour, lw, alpha in ((control, CONTROL_COLOUR, 3.4, 0.55),
                                     ("hole", _plot.HOLE_COLOUR, 1.6, 1.0)):
        ax.plot(steps, _series(rows, f"{split}_fail_rate"), color=colour, linewidth=lw,
                alpha=alpha, marker=marker, markersize=3.5, zorder=3)
        valid = _series(rows, f"{split}_valid_share")
        if np.isfinite(valid).any():
            ax.plot(steps, valid, color=colour, linewidth=lw * 0.8, alpha=alpha,
                    linestyle="--", marker=marker, markersize=2.5,
                    markerfacecolor="white", zorder=3)


def _finish_axes(ax: Axes, steps: np.ndarray, handles: list[object]) -> None:
    """Limits (shares in [0, 1], the ``steps [E]`` with a margin), labels, grid and the
    legend of ``handles`` under the axes."""
    ax.set_ylim(-0.04, 1.04)
    span = float(steps.max() - steps.min())
    pad = 0.03 * span if span > 0 else 1.0
    ax.set_xlim(float(steps.min()) - pad, float(steps.max()) + pad)
    ax.set_xlabel("training step", fontsize=_plot.TEXT_SIZE + 1)
    ax.set_ylabel("share of draws", fontsize=_plot.TEXT_SIZE + 1)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=_plot.TEXT_SIZE)
    ax.legend(handles=handles, fontsize=_plot.TEXT_SIZE - 1, loc="upper left",
              bbox_to_anchor=(0.0, -0.5 / (FIG_H - 2.0)), ncol=4, frameon=False, borderaxespad=0.0,
              handletextpad=0.4, columnspacing=1.2)
