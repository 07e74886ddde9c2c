"""Concept-space paths (Park et al. 2024, Fig. 1): where each class's draws land, step by step.

From the emergence monitor's record (no second training run): at every evaluation the
monitor reads back the draws of its fixed requests (the hole, its control and any
over-prompted hole); this output averages, per class and step, the recovered values of two
concept factors (e.g. colour and radius) and draws each class's mean as a path through
concept space, the class's target marked. A held-out class whose path first runs along one
concept and then turns to its target is Park et al.'s sudden turn.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from zsbench_plugins.outputs import _plot

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Output


def class_paths(record: dict[str, Any], names: list[str], axes: list[str],
                classes: dict[str, dict[str, float]] | None = None
                ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Per ``(request set, class)``: ``steps [T]``, ``path [T, 2]`` (the mean recovered
    ``axes`` of the class's draws at each step) and ``target [2]`` (its requests' mean).

    A request belongs to the nearest of ``classes`` (name -> axis values; in units of each
    axis's spread over the requests); without ``classes``, each distinct requested pair
    (rounded to 3 decimals) is a class when there are at most 8, else the whole set is one.
    An over-prompted set (its name starts with ``hole_``) has the hole's requests."""
    cols = [names.index(a) for a in axes]
    requests = {s: np.asarray(r, dtype=np.float64)[:, cols]
                for s, r in (record.get("request_factors") or {}).items()}
    found = record.get("found") or []
    out: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    sets = sorted({s for row in found for s in row if s != "step"})
    for s in sets:
        asked = requests.get(s, requests.get("hole") if s.startswith("hole_") else None)
        if asked is None or len(asked) == 0:
            continue
        labels = _classes_of(asked, classes)
        rows = [r for r in found if s in r]
        steps = np.array([float(r["step"]) for r in rows])
        points = np.stack([np.asarray(r[s], dtype=np.float64)[:, cols] for r in rows])
        for name in dict.fromkeys(labels):
            mine = np.array([lb == name for lb in labels])
            out[(s, name)] = {"steps": steps, "path": points[:, mine].mean(axis=1),
                              "target": asked[mine].mean(axis=0)}
    return out


def _classes_of(asked: np.ndarray, classes: dict[str, dict[str, float]] | None) -> list[str]:
    """The class name of each request ``[N, 2]`` (see :func:`class_paths`)."""
    if classes:
        names = list(classes)
        centres = np.array([[float(c[a]) for a in c] for c in classes.values()])
        spread = np.maximum(asked.std(axis=0), 1e-9)
        d = (((asked[:, None, :] - centres[None]) / spread) ** 2).sum(axis=2)
        return [names[i] for i in d.argmin(axis=1)]
    keys = [f"{a:.3g}, {b:.3g}" for a, b in np.round(asked, 3)]
    return keys if len(set(keys)) <= 8 else ["all"] * len(keys)


class ConceptPaths(Output):
    """Concept-space paths: each class's mean recovered (two concept factors) at every evaluation, drawn as a path to its target.

    ``concept_paths.png``: x = ``axes[0]``, y = ``axes[1]`` (factor names); one path per
    class of each request set the emergence monitor asked (the hole, its control and any
    over-prompted hole of ``over_prompting``: dashed), light at the first evaluation and
    dark at the last, the class's target a star. ``concept_paths.csv``: ``set, class, step,
    AXIS0, AXIS1``. ``classes`` (optional): class centres in the two axes (name -> table),
    e.g. ``{ red_large = { colour = 0, radius = 0.65 } }``, to group requests of jittered
    data. A model trained without the monitor writes nothing (no error)."""

    name = "concept_paths"
    requires = ("model.generate",)
    factor_parameters = ("axes",)

    def __init__(self, *, axes: list[str] | None = None,
                 classes: dict[str, dict[str, float]] | None = None) -> None:
        """``axes``: the two concept factors (default ``["colour", "radius"]``)."""
        self.axes = axes
        self.classes = classes
        concepts = self.concepts
        if not isinstance(concepts, list) or len(concepts) != 2 or not all(
                isinstance(a, str) for a in concepts) or concepts[0] == concepts[1]:
            raise PluginParameterError("output", self.name, "axes", f"got {axes!r}.",
                                       'give two factor names, e.g. axes = ["colour", '
                                       '"radius"].')
        if classes is not None and not (isinstance(classes, dict) and all(
                isinstance(c, dict) and set(c) == set(self.concepts)
                for c in classes.values())):
            raise PluginParameterError("output", self.name, "classes", f"got {classes!r}.",
                                       "give a table of class names to tables of both axes, "
                                       "e.g. { blue_small = { colour = 1, radius = 0.25 } }.")

    @property
    def concepts(self) -> list[str]:
        """The two factor names drawn: ``axes``, or colour and radius by default."""
        return list(self.axes) if isinstance(self.axes, (list, tuple)) else (
            ["colour", "radius"] if self.axes is None else self.axes)

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        record: dict[str, Any] = (ctx.training or {}).get("emergence") or {}
        if not record.get("found"):
            return []
        names = list(ctx.space.names)
        missing = [a for a in self.concepts if a not in names]
        if missing:
            raise DataError(f'output "{self.name}": no factor {missing} in {names}.')
        classes = None if self.classes is None else {
            k: {a: v[a] for a in self.concepts} for k, v in self.classes.items()}
        paths = class_paths(record, names, self.concepts, classes)
        if not paths:
            return []
        table = Path(directory) / "concept_paths.csv"
        with table.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["set", "class", "step", *self.concepts])
            for (s, c), p in paths.items():
                for step, (u, v) in zip(p["steps"], p["path"]):
                    w.writerow([s, c, int(step), f"{u:.5g}", f"{v:.5g}"])
        return [self._draw(ctx, paths, Path(directory) / "concept_paths.png"), table]

    def _draw(self, ctx: EvalContext, paths: dict[tuple[str, str], dict[str, np.ndarray]],
              path: Path) -> Path:
        """The picture: one path per (set, class), targets as stars."""
        from matplotlib import colormaps  # on use: slow to import (see _plot)
        from matplotlib.colors import to_rgba

        fig = _plot.new_figure(8.0, 5.6)
        ax = fig.add_axes((0.09, 0.11, 0.52, 0.8))
        palette = colormaps["tab10"]
        for i, ((s, c), p) in enumerate(paths.items()):
            colour = _plot.HOLE_COLOUR if s == "hole" else palette(i % 10)
            style = "--" if s.startswith("hole_") else "-"
            xy = p["path"]
            ax.plot(xy[:, 0], xy[:, 1], style, color=colour, linewidth=1.4,
                    label=f"{s}: {c}" if s != "hole" else f"hole (held out): {c}")
            rgba = np.tile(to_rgba(colour), (len(xy), 1))
            rgba[:, 3] = np.linspace(0.2, 1.0, len(xy))  # light first, dark last
            ax.scatter(xy[:, 0], xy[:, 1], s=14, c=rgba, zorder=3)
            ax.scatter(*p["target"], marker="*", s=160, color=colour, edgecolor="black",
                       linewidth=0.6, zorder=4)
            ax.annotate(f"{int(p['steps'][-1])}", xy[-1], fontsize=_plot.TEXT_SIZE - 1,
                        xytext=(3, 3), textcoords="offset points")
        bounds = {f.name: f.bounds for f in ctx.space.factors}
        ax.set_xlim(*_pad(bounds[self.concepts[0]]))
        ax.set_ylim(*_pad(bounds[self.concepts[1]]))
        ax.set_xlabel(f"{self.concepts[0]} (recovered, mean of the class's draws)")
        ax.set_ylabel(f"{self.concepts[1]} (recovered)")
        ax.set_title(f"{ctx.label}: concept space over training (star: target; dashed: "
                     "over-prompted)", fontsize=_plot.TEXT_SIZE)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_plot.TEXT_SIZE - 1,
                  frameon=False)
        return _plot.save_figure(fig, path)


def _pad(bounds: tuple[float, float], share: float = 0.08) -> tuple[float, float]:
    lo, hi = float(bounds[0]), float(bounds[1])
    return lo - share * (hi - lo), hi + share * (hi - lo)
