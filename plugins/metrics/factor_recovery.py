"""Factor error of reconstructions: what the model drew, read back by inverse rendering."""

from __future__ import annotations

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench.recovery import factor_errors, factor_spans, recovered, require_recover
from zsbench_plugins.metrics._errors import nan_mean
from zsbench_plugins.metrics.holdout_reconstruction import depth_bin_means, spearman

NAN = float("nan")
SPLITS: tuple[str, ...] = ("train", "test", "rim", "hole")


def ratio(num: float, den: float) -> float:
    """``num / den``; NaN when either is undefined or ``den`` is not positive."""
    if not (np.isfinite(num) and np.isfinite(den)) or den <= 0:
        return NAN
    return float(num / den)


def reconstruction_recovery(ctx: EvalContext, split: str, rows: np.ndarray | None = None):
    """The :class:`~zsbench.plugin.Recovery` of ``split``'s reconstructions (``rows``: a
    subset of them), memoised in ``ctx`` under ``"recover:reconstructions:SPLIT[:n]"`` so
    every metric and output shares it."""
    recons = ctx.reconstructions[split]
    key = f"reconstructions:{split}"
    if rows is not None:
        recons = recons[rows]
        key += f":{len(rows)}"
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
    best exact render: large when the model draws something outside the family).

    Headline: ``hole_rim_factor_err_ratio`` (hole over rim: the rim is fresh points just
    outside the hole at the same depths, so about 1 means the model draws the hole as well
    as its surroundings), ``hole_factor_err`` and ``hole_fail_rate``; also
    ``hole_test_factor_err_ratio`` (against the whole test split),
    ``hole_rim_f_err_ratio`` per factor,
    ``hole_factor_err_depth_corr`` (Spearman of the per-image hole error with depth into
    the hole) and ``hole_factor_err_depth0..k-1`` (mean in ``depth_bins`` bins, 0 at the
    boundary). All lower is better. Scores of an absent split are NaN. Needs a dataset that
    can recover factors (polar, gaussian, gaussian_t); others make it fail with a note.
    """

    name = "factor_recovery"
    requires = ("dataset.recover",)

    def __init__(self, *, tolerance: float = 0.05, depth_bins: int = 3,
                 train_points: int | None = None) -> None:
        """``tolerance``: the largest error, in units of a factor's range, that still counts
        as recovered (``s_fail_rate``). ``depth_bins``: bins of hole depth.
        ``train_points``: recover at most this many train reconstructions (evenly spaced
        rows; None: all)."""
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
        self.tolerance = tolerance
        self.depth_bins = depth_bins
        self.train_points = train_points

    def score_names(self, plan: SuitePlan) -> list[str]:
        names = plan.space.names
        per_factor = [f"{s}_{f}_{q}" for s in SPLITS for f in names
                      for q in ("err", "err_p90", "rel_err")]
        per_split = [f"{s}_{q}" for s in SPLITS
                     for q in ("factor_err", "fail_rate", "recovery_residual")]
        return [*per_factor, *per_split, "hole_rim_factor_err_ratio",
                "hole_test_factor_err_ratio", *(f"hole_rim_{f}_err_ratio" for f in names),
                "hole_factor_err_depth_corr",
                *(f"hole_factor_err_depth{b}" for b in range(int(self.depth_bins)))]

    def split_errors(self, ctx: EvalContext, split: str) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray] | None:
        """``(|Δ| [N, F] in factor units, |Δ| / range [N, F], residual [N])`` of ``split``'s
        reconstructions, or None when the split is absent or empty."""
        if split not in ctx.splits or len(ctx.splits[split]) == 0:
            return None
        if split not in ctx.reconstructions:
            raise DataError(f'factor_recovery: the "{split}" split has no reconstructions.')
        rows = None
        n = len(ctx.splits[split])
        if split == "train" and self.train_points is not None and n > int(self.train_points):
            rows = np.unique(np.linspace(0, n - 1, int(self.train_points)).round().astype(int))
        rec = reconstruction_recovery(ctx, split, rows)
        truth = np.asarray(ctx.splits[split].factors, dtype=np.float64)
        if rows is not None:
            truth = truth[rows]
        if rec.factors.shape != truth.shape:
            raise DataError(f'factor_recovery: recover gave factors of shape '
                            f"{list(rec.factors.shape)} for {list(truth.shape)} true factors.")
        rel = factor_errors(ctx.dataset, truth, rec.factors)
        return rel * factor_spans(ctx.space), rel, np.asarray(rec.residual, dtype=np.float64)

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        require_recover(ctx.dataset, f'metric "{self.name}"')
        names = ctx.space.names
        scores: dict[str, Score] = {}
        per_image: dict[str, np.ndarray | None] = {}
        summary: dict[str, dict[str, float]] = {}

        def put(key: str, value: float, headline: bool = False) -> None:
            scores[key] = Score(float(value), higher_is_better=False, headline=headline)

        for split in SPLITS:
            found = self.split_errors(ctx, split)
            if found is None:
                err = rel = None
                per_image[split] = None
            else:
                err, rel, residual = found
                per_image[split] = rel.mean(axis=1)
            for k, name in enumerate(names):
                put(f"{split}_{name}_err", NAN if err is None else nan_mean(err[:, k]))
                put(f"{split}_{name}_err_p90",
                    NAN if err is None else float(np.percentile(err[:, k], 90)))
                put(f"{split}_{name}_rel_err", NAN if rel is None else nan_mean(rel[:, k]))
            summary[split] = {
                "factor_err": NAN if rel is None else nan_mean(rel.mean(axis=1)),
                "fail_rate": NAN if rel is None else nan_mean(
                    (rel > float(self.tolerance)).any(axis=1)),
                "recovery_residual": NAN if rel is None else nan_mean(residual),
            }
            for quantity, value in summary[split].items():
                put(f"{split}_{quantity}", value,
                    headline=split == "hole" and quantity in ("factor_err", "fail_rate"))

        put("hole_rim_factor_err_ratio",
            ratio(summary["hole"]["factor_err"], summary["rim"]["factor_err"]), headline=True)
        put("hole_test_factor_err_ratio",
            ratio(summary["hole"]["factor_err"], summary["test"]["factor_err"]))
        for name in names:
            put(f"hole_rim_{name}_err_ratio",
                ratio(scores[f"hole_{name}_err"].value, scores[f"rim_{name}_err"].value))

        hole = per_image["hole"]
        depth = ctx.splits["hole"].depth if hole is not None else None
        if hole is None or depth is None:
            corr, bins = NAN, [NAN] * int(self.depth_bins)
        else:
            depth = np.asarray(depth, dtype=np.float64).reshape(-1)
            corr = spearman(hole, depth)
            bins = depth_bin_means(hole, depth, int(self.depth_bins))
        put("hole_factor_err_depth_corr", corr)
        for b, value in enumerate(bins):
            put(f"hole_factor_err_depth{b}", value)
        return scores
