"""Trajectory: straight lines and circles through latent space, decoded to image strips."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Output
from zsbench_plugins.outputs import _plot


class Trajectory(Output):
    """Trajectory: decoded straight lines and circles through latent space (E3), as image strips.

    ``trajectory.png`` has one row per trajectory, ``steps`` images each, all decoded with
    ``ctx.model.decode``: (1) along each latent axis through the mean of the training
    latents, ``z = mean + s * std_k * e_k`` for ``s`` from -2 to 2; (2) for each factor, the
    straight line between the latent means of the training points with its smallest and
    its largest value; (3) a full circle of radius ``radius`` (in standard deviations of
    each latent) around the mean in each plane of ``planes`` (pairs of latent indices;
    default ``[[0, 1]]`` when D >= 2).
    """

    name = "trajectory"
    requires = ("model.encode", "model.decode")

    def __init__(self, *, steps: int = 11, radius: float = 1.5,
                 planes: list[list[int]] | None = None) -> None:
        self.steps = steps
        self.radius = radius
        self.planes = planes
        self._check(None)

    def _check(self, d: int | None) -> list[tuple[int, int]]:
        """Valid planes for latent dimension ``d`` (None: check the ranges alone)."""
        if int(self.steps) < 2:
            raise PluginParameterError("output", self.name, "steps",
                                       f"must be at least 2, got {self.steps}.",
                                       "use e.g. steps = 11.")
        if not float(self.radius) > 0:
            raise PluginParameterError("output", self.name, "radius",
                                       f"must be positive, got {self.radius}.",
                                       "use e.g. radius = 1.5 (standard deviations).")
        if self.planes is None:
            return [(0, 1)] if d is not None and d >= 2 else []
        planes = []
        for p in self.planes:
            if (len(p) != 2 or p[0] == p[1]
                    or not all(isinstance(i, int) and 0 <= i < (i + 1 if d is None else d)
                               for i in p)):
                raise PluginParameterError(
                    "output", self.name, "planes",
                    "each plane must be two different latent indices"
                    + (f" in [0, {d - 1}]" if d is not None else " (>= 0)") + f", got {p}.",
                    "use pairs such as [[0, 1]]"
                    + (f" (this model has {d} latent dimensions)." if d is not None else "."))
            planes.append((int(p[0]), int(p[1])))
        return planes

    def trajectories(self, ctx: EvalContext) -> list[tuple[str, np.ndarray]]:
        """``(label, latents [steps, D])`` for every trajectory, in drawing order."""
        z = _plot.train_latents(ctx)
        d = z.shape[1]
        planes = self._check(d)
        steps = int(self.steps)
        mean = z.mean(axis=0)
        std = z.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        s = np.linspace(-2.0, 2.0, steps)
        out: list[tuple[str, np.ndarray]] = []
        for k in range(d):
            line = np.repeat(mean[None, :], steps, axis=0)
            line[:, k] = mean[k] + s * std[k]
            out.append((f"z{k} axis\n-2σ … +2σ", line))
        factors = np.asarray(ctx.splits["train"].factors, dtype=np.float64) \
            if "train" in ctx.splits else np.zeros((0, 0))
        if len(factors) == len(z):
            a = np.linspace(0.0, 1.0, steps)[:, None]
            for j, name in enumerate(ctx.space.names[:factors.shape[1]]):
                lo, hi = int(np.argmin(factors[:, j])), int(np.argmax(factors[:, j]))
                if factors[lo, j] == factors[hi, j]:
                    continue
                line = (1.0 - a) * z[lo][None, :] + a * z[hi][None, :]
                out.append((f"{name}: {_plot.format_value(factors[lo, j])}"
                            f" → {_plot.format_value(factors[hi, j])}", line))
        theta = np.linspace(0.0, 2.0 * np.pi, steps)
        for i, j in planes:
            circle = np.repeat(mean[None, :], steps, axis=0)
            circle[:, i] += float(self.radius) * std[i] * np.cos(theta)
            circle[:, j] += float(self.radius) * std[j] * np.sin(theta)
            out.append((f"circle z{i},z{j}\nr={_plot.format_value(self.radius)}σ", circle))
        return out

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``trajectory.png`` into ``directory``; return ``[path]``."""
        traj = self.trajectories(ctx)
        strips = _plot.decode_rows(ctx.model, [t for _, t in traj])
        parts = ["axes: mean ± 2 std along one latent"]
        if any(" → " in label for label, _ in traj):
            parts.append("factor lines: from the latent of the training point with the "
                         "smallest value to the largest")
        if any(label.startswith("circle") for label, _ in traj):
            parts.append("circles: angle 0 → 360°")
        return [_plot.strip_rows(
            f"{ctx.label} (seed {ctx.seed}): decoded latent trajectories",
            [label for label, _ in traj], strips, Path(directory) / "trajectory.png",
            subtitle="; ".join(parts),
        )]
