"""Prior coverage: do samples from the model's prior land in the hole, and cover the space?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench.recovery import context_validity_threshold, verify_recover
from zsbench.space import LatentSpace
from zsbench_plugins.metrics._errors import mean_score
from zsbench_plugins.metrics._generative import PRIOR_SAMPLES, prior_samples, recovered, require
from zsbench_plugins.metrics.factor_recovery import family_validity

NAN = float("nan")
INVALID_CONTROL_LIMIT: float = 0.5
"""``hole_coverage_ratio`` is ranked only for a prior whose samples are mostly images of the
family: ``prior_invalid_share`` at most this."""
DATA_SPLITS: tuple[str, ...] = ("train", "validation", "test", "hole")
"""The splits made of the dataset's own points (the rim is drawn afresh, so it is not)."""


@dataclass
class PriorRecovery:
    """Prior samples and their recovered factors: ``factors [n, F]``, ``residual [n]``,
    ``valid [n]`` (residual within the threshold), ``in_hole [n]`` (valid and inside the
    holdout) and the ``threshold`` used."""

    factors: np.ndarray
    residual: np.ndarray
    valid: np.ndarray
    in_hole: np.ndarray
    threshold: float


def hole_share_of_space(ctx: EvalContext) -> float:
    """The holdout's share of the space: the fraction of the dataset's own points (drawn
    from the suite's data seed, so a Monte Carlo estimate over the space for a uniformly
    drawn dataset and the exact share for a grid) that fall in the hole. NaN without one."""
    sizes = {s: len(ctx.splits[s]) for s in DATA_SPLITS if s in ctx.splits}
    total = sum(sizes.values())
    if ctx.holdout is None or total == 0:
        return NAN
    return sizes.get("hole", 0) / total


def grid_cells(space: LatentSpace, factors: np.ndarray, cells: int) -> tuple[np.ndarray, int]:
    """The grid cell ``[n]`` (a flat index) of each point of ``factors [n, F]`` and the number
    of cells: ``cells`` equal bins over each continuous factor's bounds, one per value of a
    discrete factor (the nearest value)."""
    flat = np.zeros(len(factors), dtype=np.int64)
    total = 1
    for i, f in enumerate(space.factors):
        col = np.asarray(factors[:, i], dtype=np.float64)
        if f.values is not None:
            vals = np.sort(np.asarray(f.values, dtype=np.float64))
            k = len(vals)
            b = np.abs(col[:, None] - vals[None, :]).argmin(axis=1)
        else:
            k = int(cells)
            lo, hi = f.bounds
            span = hi - lo if hi > lo else 1.0
            b = np.clip(np.floor((col - lo) / span * k).astype(np.int64), 0, k - 1)
        flat = flat * k + b
        total *= k
    return flat, total


def default_threshold(ctx: EvalContext) -> float:
    """The dataset's validity bar for this evaluation (memoised;
    :meth:`zsbench.plugin.Dataset.validity_threshold`: by default the recovery residual of
    the training split's mean image, the blur that averages the whole family, so a sample
    no closer to some exact render than that blur is no valid image of the family).
    Depends on the data alone, never on the model. A sample must also pass the rest of
    :func:`~zsbench_plugins.metrics.factor_recovery.family_validity`."""
    verify_recover(ctx, 'metric "prior_coverage"')
    return context_validity_threshold(ctx)


def prior_recovery(ctx: EvalContext, n: int = PRIOR_SAMPLES,
                   residual_threshold: float | None = None) -> PriorRecovery:
    """Sample ``n`` images from the model's prior, recover their factors (both memoised)
    and classify them: valid when they are images of the family (:func:`family_validity`
    against ``residual_threshold``, None: :func:`default_threshold`), in the hole when
    valid and inside the holdout."""
    samples = prior_samples(ctx, n)
    rec = recovered(ctx, f"prior:{n}", samples)
    threshold = (default_threshold(ctx) if residual_threshold is None
                 else float(residual_threshold))
    valid = family_validity(ctx, f"prior:{n}", rec.factors, rec.residual, threshold)
    if ctx.holdout is not None and n:
        inside = np.asarray(ctx.holdout.contains(rec.factors, ctx.space), dtype=bool)
    else:
        inside = np.zeros(len(rec.factors), dtype=bool)
    return PriorRecovery(factors=rec.factors, residual=rec.residual, valid=valid,
                         in_hole=valid & inside, threshold=threshold)


class PriorCoverage(Metric):
    """Prior coverage: share of prior samples in the hole vs its share of the space, grid coverage.

    Draws ``n_samples`` images from the model's prior (``sample``, seeded by the job's
    seed), recovers their factors with the dataset's ``recover`` and reports:
    ``prior_hole_share`` (share of samples that are valid images inside the holdout),
    ``hole_space_share`` (the holdout's share of the space: the fraction of the dataset's
    own points, drawn from the data seed, inside it), ``hole_coverage_ratio`` (their ratio:
    1 = the prior visits the hole as often as the data would, 0 = never; higher is better),
    ``prior_grid_coverage`` (share of the cells of a grid over the space, ``grid_cells``
    bins per continuous factor and one per discrete value, hit by a valid sample) and
    ``prior_invalid_share`` (share of samples whose recovery residual, the RMS pixel
    difference to the best exact render, reaches ``residual_threshold``: not a valid image
    of the family; lower is better).

    Validity (:func:`~zsbench_plugins.metrics.factor_recovery.family_validity`): the
    dataset judges the sample against the bar ``residual_threshold`` (absent: the
    dataset's :meth:`~zsbench.plugin.Dataset.validity_threshold`, by default the recovery
    residual of the training split's mean image; a number sets it in the residual's units,
    RMS pixel difference with intensities in [0, 1]); under the contract's default rule
    the residual must also be at most half the RMS intensity of the sample's best exact
    render (the bar alone lets thin-line blobs through: a blank polar frame sits below
    it). Both depend on the data alone, so every model is judged by the same rule.

    ``hole_coverage_ratio`` declares ``target = 1`` (visiting the hole more often than the
    data does is no better) and ``prior_invalid_share`` as its control (at most
    ``INVALID_CONTROL_LIMIT``). The shares and the ratio carry one value per sample for a
    bootstrap interval over samples; the grid coverage gets one over seeds only.

    Needs a model with a prior (``sample``) and a dataset that can ``recover``; otherwise
    the run's warnings say which is missing.
    """

    name = "prior_coverage"
    requires = ("model.sample", "dataset.recover")

    def __init__(self, *, n_samples: int = PRIOR_SAMPLES, grid_cells: int = 10,
                 residual_threshold: float | None = None) -> None:
        for key, value, ok in (
            ("n_samples", n_samples, isinstance(n_samples, int) and n_samples >= 1),
            ("grid_cells", grid_cells, isinstance(grid_cells, int) and grid_cells >= 1),
            ("residual_threshold", residual_threshold, residual_threshold is None
             or (isinstance(residual_threshold, (int, float)) and residual_threshold > 0)),
        ):
            if not ok:
                raise PluginParameterError("metric", self.name, key, f"got {value!r}.",
                                           "n_samples >= 1, grid_cells >= 1, "
                                           "residual_threshold > 0 (or leave it out).")
        self.n_samples = n_samples
        self.grid_cells = grid_cells
        self.residual_threshold = residual_threshold

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["prior_hole_share", "hole_space_share", "hole_coverage_ratio",
                "prior_grid_coverage", "prior_invalid_share"]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        require(ctx.model, "sample", "model", 'metric "prior_coverage"')
        require(ctx.dataset, "recover", "dataset", 'metric "prior_coverage"')
        pr = prior_recovery(ctx, self.n_samples, self.residual_threshold)
        n = len(pr.factors)
        has_hole = bool(n) and ctx.holdout is not None
        space_share = hole_share_of_space(ctx)
        in_hole = pr.in_hole.astype(np.float64)
        cells, total = grid_cells(ctx.space, pr.factors[pr.valid], self.grid_cells)
        coverage = len(np.unique(cells)) / total
        return {
            "prior_hole_share": mean_score(in_hole if has_hole else None,
                                           higher_is_better=True),
            "hole_space_share": Score(space_share, higher_is_better=True),
            # per sample: in the hole / the hole's share, so that the mean is the ratio
            "hole_coverage_ratio": mean_score(
                in_hole / space_share if has_hole and space_share > 0 else None,
                higher_is_better=True, headline=True, target=1.0,
                control=("prior_invalid_share", INVALID_CONTROL_LIMIT)),
            "prior_grid_coverage": Score(coverage, higher_is_better=True, headline=True),
            "prior_invalid_share": mean_score((~pr.valid).astype(np.float64) if n else None,
                                              higher_is_better=False),
        }
