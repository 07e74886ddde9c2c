"""Latent health: active units, KL per dimension, correlation, covariance and PCA spectrum."""

from __future__ import annotations

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan, capable

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


def active_units(variances: np.ndarray, threshold: float) -> int:
    """Dimensions whose variance (of the latent means over the data) exceeds ``threshold``
    times the largest one: a scale-free count (multiplying every latent by one number, as an
    unregularised autoencoder may, changes nothing). 0 when every dimension is constant."""
    v = np.clip(np.asarray(variances, dtype=np.float64), 0.0, None)
    top = float(v.max()) if v.size else 0.0
    if top <= 0:
        return 0
    return int((v > threshold * top).sum())


def kl_per_dimension(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(q(z_u | x) || N(0, 1)) per dimension ``[D]`` in nats, averaged over the images:
    ``0.5 * (mu^2 + exp(logvar) - logvar - 1)`` for a Gaussian posterior ``[N, D]``."""
    mu = np.asarray(mean, dtype=np.float64)
    lv = np.asarray(logvar, dtype=np.float64)
    return (0.5 * (mu * mu + np.exp(lv) - lv - 1.0)).mean(axis=0)


class LatentCovariance(Metric):
    """Latent health: active units, KL per dimension (VAEs), correlation, PCA spectrum.

    Computed on the latent means ``ctx.latents[split]`` ``[N, D]`` (train by default).
    Headline: ``active_units`` (dimensions whose variance of the means exceeds
    ``active_threshold`` times the largest dimension's: scale-free; a collapsed dimension,
    one the decoder ignores, has a near-constant mean; higher is better) and
    ``mean_abs_corr`` (mean absolute off-diagonal Pearson correlation, lower is better; a
    constant dimension counts as uncorrelated, so read it with ``active_units``).
    Also: ``active_share`` (active_units / D), ``min_std_ratio`` (smallest over largest
    standard deviation of the means, higher is better); ``mean_abs_offdiag_cov`` (mean
    absolute off-diagonal covariance: depends on the latents' scale and rewards collapse, so
    it is no headline); ``pca_var_1`` .. ``pca_var_D``, the PCA explained-variance ratios in
    descending order (NaN if every dimension is constant; the leading ones (k < D) are
    declared higher-is-better, the last one lower-is-better: near zero, the embedding is a
    lower-dimensional sheet, e.g. 2-D in 3-D; for D = 1 higher-is-better); ``latent_dim``
    (D, informational, lower-is-better). For a model with a Gaussian posterior (a
    ``posterior(images) -> (mean, logvar)`` method, as the ``vae`` model has):
    ``kl_total`` (nats per image, summed over dimensions; informational, lower-is-better)
    and ``kl_dim_1`` .. ``kl_dim_D`` (per dimension, in descending order: the last ones near
    zero mean collapsed dimensions; higher is better). Without it those are absent.
    """

    name = "latent_covariance"
    requires = ("model.encode",)

    def __init__(self, *, split: str = "train", active_threshold: float = 0.01) -> None:
        """``split``: whose latent means to analyse. ``active_threshold``: the share of the
        largest dimension's variance above which a dimension counts as active."""
        if not (0.0 < float(active_threshold) < 1.0):
            raise PluginParameterError("metric", self.name, "active_threshold",
                                       f"must lie in (0, 1), got {active_threshold!r}.",
                                       "give e.g. active_threshold = 0.01.")
        self.split = split
        self.active_threshold = active_threshold

    split_parameters = ("split",)

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["active_units", "active_share", "min_std_ratio", "mean_abs_corr",
                "mean_abs_offdiag_cov", "pca_var_*", "latent_dim", "kl_total", "kl_dim_*"]

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
            n_active, std_ratio = NAN, NAN
        else:
            cov, corr = covariance_and_correlation(z)
            cov_score, corr_score = mean_abs_offdiag(cov), mean_abs_offdiag(corr)
            ratios = explained_variance_ratio(cov)
            var = np.clip(np.diag(cov), 0.0, None)
            n_active = float(active_units(var, float(self.active_threshold)))
            std_ratio = (float(np.sqrt(var.min() / var.max())) if var.max() > 0 else 0.0)
        scores["active_units"] = Score(n_active, higher_is_better=True, headline=True)
        scores["active_share"] = Score(n_active / d, higher_is_better=True)
        scores["min_std_ratio"] = Score(std_ratio, higher_is_better=True)
        scores["mean_abs_corr"] = Score(corr_score, higher_is_better=False, headline=True)
        scores["mean_abs_offdiag_cov"] = Score(cov_score, higher_is_better=False)
        for k, value in enumerate(ratios, start=1):
            scores[f"pca_var_{k}"] = Score(float(value), higher_is_better=k < d or d == 1)
        scores["latent_dim"] = Score(float(d), higher_is_better=False)
        posterior = ctx.model.posterior if capable(ctx.model, "posterior") else None
        split = ctx.splits.get(self.split)
        if callable(posterior) and split is not None and len(split) > 0:
            mean, logvar = ctx.cached(f"posterior:{self.split}",
                                      lambda: posterior(split.images))
            kl = np.sort(kl_per_dimension(mean, logvar))[::-1]
            scores["kl_total"] = Score(float(kl.sum()), higher_is_better=False)
            for k, value in enumerate(kl, start=1):
                scores[f"kl_dim_{k}"] = Score(float(value), higher_is_better=True)
        return scores
