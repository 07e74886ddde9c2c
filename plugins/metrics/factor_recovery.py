"""Factor error of reconstructions: what the model drew, read back by inverse rendering."""

from __future__ import annotations

import numpy as np
from zsbench_plugins.metrics._errors import (
    RIM_CONTROL_LIMIT,
    draw_rows,
    mean_score,
    ratio_score,
)
from zsbench_plugins.metrics.holdout_reconstruction import depth_bin_items, spearman

from zsbench.errors import DataError, PluginParameterError
from zsbench.lazy import read_rows
from zsbench.plugin import EvalContext, Metric, Recovery, Score, SuitePlan
from zsbench.recovery import (
    context_validity_threshold,
    factor_errors,
    factor_spans,
    recovered,
    require_recover,
)
from zsbench.splits import even_rows

NAN = float("nan")
SPLITS: tuple[str, ...] = ("train", "test", "rim", "hole")




def validity_bar(ctx: EvalContext) -> float:
    """The dataset's validity bar of this evaluation (memoised, shared with
    ``prior_coverage`` and ``conditional_generation``):
    :func:`zsbench.recovery.context_validity_threshold`, by default the recovery residual of
    the training images' mean image."""
    return context_validity_threshold(ctx)


def family_validity(ctx: EvalContext, key: str, factors: np.ndarray, residual: np.ndarray,
                    threshold: float | None = None) -> np.ndarray:
    """Which images are images of the family, ``bool [N]``, from their recovery
    (``factors [N, F]``, ``residual [N]``; ``key`` names the images for the memo): the
    dataset's judgement, :meth:`zsbench.plugin.Dataset.valid` against ``threshold``
    (default :func:`validity_bar`)."""
    bar = validity_bar(ctx) if threshold is None else float(threshold)

    def compute() -> np.ndarray:
        rec = Recovery(factors=np.asarray(factors, dtype=np.float64),
                       residual=np.asarray(residual, dtype=np.float64).reshape(-1))
        return np.asarray(ctx.dataset.valid(rec, bar), dtype=bool).reshape(-1)

    return ctx.cached(f"valid:{key}:{bar}", compute)


def reconstruction_recovery(ctx: EvalContext, split: str, rows: np.ndarray | None = None):
    """The :class:`~zsbench.plugin.Recovery` of ``split``'s reconstructions (``rows``: a
    subset of them), memoised in ``ctx`` under ``"recover:reconstructions:SPLIT[:n]"`` so
    every metric and output shares it."""
    recons = read_rows(ctx.reconstructions, split, rows)
    key = f"reconstructions:{split}" + ("" if rows is None else f":{len(rows)}")
    return recovered(ctx, key, recons)


class FactorRecovery(Metric):
    """Factor error of reconstructions (via the dataset's inverse renderer), hole vs rim.

    Each split's reconstructions (train, test, rim, hole) are read back into factors with
    the dataset's ``recover`` (the nearest exact render, refined) and compared with the
    true factors of their inputs (as the dataset measures the difference: a sprite's
    orientation modulo its shape's symmetry). Per split ``s`` and factor ``f``: ``s_f_err`` (mean
    |Δf| in factor units), ``s_f_err_p90`` (90th percentile) and ``s_f_rel_err`` (mean
    |Δf| / the factor's range; for a two-valued discrete factor, the mismatch rate). Per
    split: ``s_factor_err`` (mean over factors of the range-unit error), ``s_fail_rate``
    (share of images with some factor off by more than ``tolerance`` of its range) and
    ``s_recovery_residual`` (mean RMS pixel difference between the reconstruction and its
    best exact render: large when the model draws something outside the family) and
    ``s_valid_share`` (higher is better: the share of reconstructions that are images of
    the family, :func:`family_validity`).

    **Invalid images.** A reconstruction that is no image of the family (a blurred blob, a
    blank frame, two curves superposed) has no meaningful factors: its recovered point
    depends on the recovery method, not on the model. It counts as failed in
    ``s_fail_rate`` and is left out of every factor error (``s_f_err``, ``s_f_err_p90``,
    ``s_f_rel_err``, ``s_factor_err``, the ratios and the depth scores), which then cover
    the valid images only, beside ``s_valid_share``.

    Headline: ``hole_rim_factor_err_ratio`` (hole over rim: the rim is fresh points just
    outside the hole at the same depths, so about 1 means the model draws the hole as well
    as its surroundings), ``hole_factor_err`` and ``hole_fail_rate``; also
    ``hole_test_factor_err_ratio`` (against the whole test split),
    ``hole_rim_f_err_ratio`` per factor,
    ``hole_factor_err_depth_corr`` (Spearman of the per-image hole error with depth into
    the hole) and ``hole_factor_err_depth0..k-1`` (mean in ``depth_bins`` bins, 0 at the
    boundary). All lower is better. Scores of an absent split are NaN. Needs a dataset that
    can recover factors (polar, gaussian, gaussian_t); others make it fail with a note.

    Every score but the p90s and the depth correlation carries its per-image values (NaN
    for an invalid image's factor error) for its bootstrap interval. The hole/rim and
    hole/test ratios declare ``target = 1`` and the control split's ``fail_rate`` as
    control (at most ``RIM_CONTROL_LIMIT``, 0.5): a model equally bad in the hole and on
    the rim scores about 1 but its control fails, so it is never marked best.
    """

    name = "factor_recovery"
    requires = ("dataset.recover",)

    def __init__(self, *, tolerance: float = 0.05, depth_bins: int = 3,
                 train_points: int | None = None, max_draws: int | None = 500) -> None:
        """``tolerance``: the largest error, in units of a factor's range, that still counts
        as recovered (``s_fail_rate``). ``depth_bins``: bins of hole depth.
        ``train_points``: recover at most this many train reconstructions (evenly spaced
        rows; None: all). ``max_draws``: of a conditional generator (whose reconstructions
        are draws), the most images of any split recovered, evenly spaced (None: all): the
        same rows as ``holdout_reconstruction`` reads at the same cap, so the two share
        one set of draws."""
        if not (0.0 < float(tolerance) < 1.0):
            raise PluginParameterError("metric", self.name, "tolerance",
                                       f"must lie in (0, 1) (a share of each factor's range), "
                                       f"got {tolerance!r}.", "give e.g. tolerance = 0.05.")
        if int(depth_bins) < 1:
            raise PluginParameterError("metric", self.name, "depth_bins",
                                       f"must be at least 1, got {depth_bins}.",
                                       "give e.g. depth_bins = 3.")
        if train_points is not None and int(train_points) < 1:
            raise PluginParameterError("metric", self.name, "train_points",
                                       f"must be a positive count, got {train_points}.",
                                       "give e.g. train_points = 2000, or leave it out (all).")
        if max_draws is not None and int(max_draws) < 1:
            raise PluginParameterError("metric", self.name, "max_draws",
                                       f"must be a positive count, got {max_draws}.",
                                       "give e.g. max_draws = 500, or leave it out (all).")
        self.tolerance = tolerance
        self.depth_bins = depth_bins
        self.train_points = train_points
        self.max_draws = max_draws

    def rows(self, ctx: EvalContext, split: str) -> np.ndarray | None:
        """The rows of ``split`` recovered (evenly spaced), or None for all of them: at most
        ``train_points`` of the training split, and of a generator at most ``max_draws``."""
        cap = draw_rows(ctx, split, self.max_draws)
        n = len(ctx.splits[split])
        limit = self.train_points if split == "train" else None
        if limit is not None and n > int(limit):
            fewer = even_rows(n, int(limit))
            cap = fewer if cap is None or len(fewer) < len(cap) else cap
        return cap

    def score_names(self, plan: SuitePlan) -> list[str]:
        names = plan.space.names
        per_factor = [f"{s}_{f}_{q}" for s in SPLITS for f in names
                      for q in ("err", "err_p90", "rel_err")]
        per_split = [f"{s}_{q}" for s in SPLITS
                     for q in ("factor_err", "fail_rate", "recovery_residual", "valid_share")]
        return [*per_factor, *per_split, "hole_rim_factor_err_ratio",
                "hole_test_factor_err_ratio", *(f"hole_rim_{f}_err_ratio" for f in names),
                "hole_factor_err_depth_corr",
                *(f"hole_factor_err_depth{b}" for b in range(int(self.depth_bins)))]

    def split_errors(self, ctx: EvalContext, split: str) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray] | None:
        """``(|Δ| [N, F] in factor units, |Δ| / range [N, F], residual [N], valid [N])`` of
        ``split``'s reconstructions (:func:`family_validity`), or None when the split is
        absent or empty."""
        if split not in ctx.splits or len(ctx.splits[split]) == 0:
            return None
        if split not in ctx.reconstructions:
            raise DataError(f'factor_recovery: the "{split}" split has no reconstructions.')
        rows = self.rows(ctx, split)
        rec = reconstruction_recovery(ctx, split, rows)
        truth = np.asarray(ctx.splits[split].factors, dtype=np.float64)
        if rows is not None:
            truth = truth[rows]
        if rec.factors.shape != truth.shape:
            raise DataError(f'factor_recovery: recover gave factors of shape '
                            f"{list(rec.factors.shape)} for {list(truth.shape)} true factors.")
        rel = factor_errors(ctx.dataset, truth, rec.factors)
        residual = np.asarray(rec.residual, dtype=np.float64).reshape(-1)
        key = f"reconstructions:{split}" + ("" if rows is None else f":{len(rows)}")
        valid = family_validity(ctx, key, rec.factors, residual)
        return rel * factor_spans(ctx.space), rel, residual, valid

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        require_recover(ctx.dataset, f'metric "{self.name}"')
        names = ctx.space.names
        scores: dict[str, Score] = {}
        factor_err: dict[str, np.ndarray | None] = {}
        per_factor: dict[tuple[str, int], np.ndarray | None] = {}

        for split in SPLITS:
            found = self.split_errors(ctx, split)
            if found is None:
                err = rel = residual = valid = None
            else:
                err, rel, residual, valid = found
                # an image that is no image of the family has no factor error: NaN (not
                # counted) in the factor errors, failed in the fail rate
                err = np.where(valid[:, None], err, np.nan)
                rel = np.where(valid[:, None], rel, np.nan)
            for k, name in enumerate(names):
                per_factor[(split, k)] = None if err is None else err[:, k]
                scores[f"{split}_{name}_err"] = mean_score(per_factor[(split, k)])
                ok = None if err is None else err[valid, k]
                scores[f"{split}_{name}_err_p90"] = Score(
                    NAN if ok is None or ok.size == 0 else float(np.percentile(ok, 90)),
                    higher_is_better=False)
                scores[f"{split}_{name}_rel_err"] = mean_score(
                    None if rel is None else rel[:, k])
            factor_err[split] = None if rel is None else rel.mean(axis=1)
            hole = split == "hole"
            scores[f"{split}_factor_err"] = mean_score(factor_err[split], headline=hole)
            failed = None if rel is None else (
                ~valid | (np.nan_to_num(rel, nan=np.inf) > float(self.tolerance)).any(axis=1))
            scores[f"{split}_fail_rate"] = mean_score(
                None if failed is None else failed.astype(np.float64), headline=hole)
            scores[f"{split}_recovery_residual"] = mean_score(residual)
            scores[f"{split}_valid_share"] = mean_score(
                None if valid is None else valid.astype(np.float64), higher_is_better=True)

        rim_control = ("rim_fail_rate", RIM_CONTROL_LIMIT)
        scores["hole_rim_factor_err_ratio"] = ratio_score(
            factor_err["hole"], factor_err["rim"], headline=True, target=1.0,
            control=rim_control)
        scores["hole_test_factor_err_ratio"] = ratio_score(
            factor_err["hole"], factor_err["test"], target=1.0,
            control=("test_fail_rate", RIM_CONTROL_LIMIT))
        for k, name in enumerate(names):
            scores[f"hole_rim_{name}_err_ratio"] = ratio_score(
                per_factor[("hole", k)], per_factor[("rim", k)], target=1.0,
                control=rim_control)

        hole = factor_err["hole"]
        depth = ctx.splits["hole"].depth if hole is not None else None
        if hole is None or depth is None:
            corr, bins = NAN, [None] * int(self.depth_bins)
        else:
            depth = np.asarray(depth, dtype=np.float64).reshape(-1)
            rows = self.rows(ctx, "hole")
            depth = depth if rows is None else depth[rows]
            ok = np.isfinite(hole)
            corr = spearman(hole[ok], depth[ok])
            bins = depth_bin_items(hole, depth, int(self.depth_bins))
        scores["hole_factor_err_depth_corr"] = Score(corr, higher_is_better=False)
        for b, values in enumerate(bins):
            scores[f"hole_factor_err_depth{b}"] = mean_score(values)
        return scores
