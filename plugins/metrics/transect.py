"""Reconstruction error along transects, inside versus outside the hole."""

from __future__ import annotations

import re

import numpy as np

from zsbench.errors import DataError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._errors import mean_score, per_image_bce, ratio_score

NAN = float("nan")
OVERALL: tuple[str, ...] = ("transect_in_bce", "transect_out_bce", "transect_in_out_ratio")


def score_key(name: str) -> str:
    """A transect name made safe for a flat score name: runs of characters other than
    letters, digits, ``-`` and ``.`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", name).strip("_") or "transect"


def transect_bce(images: np.ndarray, reconstructions: np.ndarray,
                 in_hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point BCE ``[P]`` of a transect's ``images``/``reconstructions [P, C, H, W]``
    and its ``in_hole [P]`` mask as bool."""
    errors = per_image_bce(images, reconstructions)
    mask = np.asarray(in_hole, dtype=bool).reshape(-1)
    if mask.shape != errors.shape:
        raise DataError(f"a transect has {errors.size} images but {mask.size} in_hole flags.")
    return errors, mask


class Transect(Metric):
    """Reconstruction BCE along each transect, inside versus outside the hole.

    Each transect point is rendered exactly and reconstructed; its pixel-mean BCE is
    averaged over the points inside the hole and over those outside: ``<name>_in_bce`` and
    ``<name>_out_bce`` per transect (name sanitised for a flat key), and
    ``transect_in_bce``, ``transect_out_bce`` pooled over the points of all transects, with
    ``transect_in_out_ratio`` = in / out. All lower is better. A mean over no points (no
    transect, no hole, or a transect that misses it) is NaN. Every score carries its
    per-point values (the ratio both groups) for a bootstrap interval over points.
    """

    name = "transect"

    def __init__(self) -> None:
        """No parameters: the transects come from the suite."""

    def score_names(self, plan: SuitePlan) -> list[str]:
        names = [f"{score_key(t)}_{side}_bce" for t in plan.transects for side in ("in", "out")]
        return [*names, *OVERALL]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        scores: dict[str, Score] = {}
        pooled_in: list[np.ndarray] = []
        pooled_out: list[np.ndarray] = []
        for tr in ctx.transects:
            errors, mask = transect_bce(tr.images, tr.reconstructions, tr.in_hole)
            pooled_in.append(errors[mask])
            pooled_out.append(errors[~mask])
            key = score_key(tr.name)
            for side, values in (("in", errors[mask]), ("out", errors[~mask])):
                full = f"{key}_{side}_bce"
                if full in scores or full in OVERALL:
                    raise DataError(f'two transects give the score name "{full}"; rename '
                                    f'transect "{tr.name}".')
                scores[full] = mean_score(values)
        inside = np.concatenate(pooled_in) if pooled_in else None
        outside = np.concatenate(pooled_out) if pooled_out else None
        scores["transect_in_bce"] = mean_score(inside, headline=True)
        scores["transect_out_bce"] = mean_score(outside)
        scores["transect_in_out_ratio"] = ratio_score(inside, outside, headline=True)
        return scores
