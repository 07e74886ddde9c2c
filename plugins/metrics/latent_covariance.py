"""Entanglement of the latent means: covariance, correlation and PCA spectrum."""

from __future__ import annotations

import numpy as np

from zsbench.errors import DataError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan

NAN = float("nan")


def covariance_and_correlation(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample covariance ``[D, D]`` (ddof=1) of ``latents [N, D]`` and the correlation
    ``[D, D]``; a constant dimension is uncorrelated with every other (correlation 0, 1 on
    the diagonal)."""
    z = np.asarray(latents, dtype=np.float64)
    centred = z - z.mean(axis=0)
    cov = centred.T @ centred / (len(z) - 1)
    std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    scale = np.outer(std, std)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(scale > 0, cov / np.where(scale > 0, scale, 1.0), 0.0)
    np.fill_diagonal(corr, 1.0)
    return cov, np.clip(corr, -1.0, 1.0)


def explained_variance_ratio(cov: np.ndarray) -> np.ndarray:
    """PCA explained-variance ratios ``[D]`` (descending, summing to 1) from a covariance
    ``[D, D]``; all NaN when the total variance is zero."""
    eig = np.clip(np.linalg.eigvalsh(cov)[::-1], 0.0, None)
    total = eig.sum()
    if total <= 0:
        return np.full(len(eig), NAN)
    return eig / total


def mean_abs_offdiag(matrix: np.ndarray) -> float:
    """Mean absolute off-diagonal entry of a square ``[D, D]`` matrix; NaN when D < 2."""
    d = matrix.shape[0]
    if d < 2:
        return NAN
    return float(np.abs(matrix[~np.eye(d, dtype=bool)]).mean())


class LatentCovariance(Metric):
    """Latent entanglement: mean |off-diagonal| covariance and correlation, PCA spectrum.

    Computed on the latent means ``ctx.latents[split]`` ``[N, D]`` (train by default).
    Scores: ``mean_abs_offdiag_cov`` and ``mean_abs_corr`` (mean absolute off-diagonal
    covariance / Pearson correlation, lower is better; NaN for D = 1; a constant dimension
    counts as uncorrelated); ``pca_var_1`` .. ``pca_var_D``, the PCA explained-variance
    ratios in descending order (NaN if every dimension is constant). Direction of the PCA
    scores: the leading ones (k < D) are declared higher-is-better (variance concentrated in
    few directions) and the last one lower-is-better (near zero: the embedding is a
    lower-dimensional sheet, e.g. 2-D in 3-D); for D = 1, ``pca_var_1`` is 1, declared
    higher-is-better. ``latent_dim`` (D) is informational, declared lower-is-better.
    """

    name = "latent_covariance"

    def __init__(self, *, split: str = "train") -> None:
        """``split``: whose latent means to analyse."""
        self.split = split

    split_parameters = ("split",)

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["mean_abs_offdiag_cov", "mean_abs_corr", "pca_var_*", "latent_dim"]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        if self.split not in ctx.latents:
            have = ", ".join(sorted(ctx.latents)) or "none"
            raise DataError(f'latent_covariance: no latents for split "{self.split}"; '
                            f"available: {have}.")
        z = np.asarray(ctx.latents[self.split], dtype=np.float64)
        if z.ndim != 2 or z.shape[1] < 1:
            raise DataError(f"latents must have shape [N, D] with D >= 1, got {list(z.shape)}.")
        d = z.shape[1]
        scores: dict[str, Score] = {}
        if len(z) < 2:
            cov_score = corr_score = NAN
            ratios = np.full(d, NAN)
        else:
            cov, corr = covariance_and_correlation(z)
            cov_score, corr_score = mean_abs_offdiag(cov), mean_abs_offdiag(corr)
            ratios = explained_variance_ratio(cov)
        scores["mean_abs_offdiag_cov"] = Score(cov_score, higher_is_better=False, headline=True)
        scores["mean_abs_corr"] = Score(corr_score, higher_is_better=False, headline=True)
        for k, value in enumerate(ratios, start=1):
            scores[f"pca_var_{k}"] = Score(float(value), higher_is_better=k < d or d == 1)
        scores["latent_dim"] = Score(float(d), higher_is_better=False)
        return scores
