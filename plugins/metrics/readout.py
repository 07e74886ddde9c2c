"""Schott et al.'s readout score: per-factor R² of a supervised readout, on the grid's variance.

Schott, von Kügelgen, Träuble, Gehler, Russell, Bethge, Schölkopf, Locatello & Brendel,
"Visual representation learning does not generalize strongly within the same domain"
(ICLR 2022) rank models by the R² of the factors a model predicts from the test images. The
definition here follows their code, github.com/bethgelab/InDomainGeneralizationBenchmark,
read at commit e94a40b:

- ``src/lablet_generalization_benchmark/load_dataset.py``: the targets are the factors'
  *class indices* divided by ``factor_sizes - 1`` (``__getitem__``: ``targets /
  (np.array(self._factor_sizes) - 1)``), so every factor lies in [0, 1]; and
  ``normalized_targets``, which ``evaluate_model`` hands to ``RSquared``, is the same
  normalisation applied to ``IndexManger(...).index_to_feat``, the cartesian product of
  every factor's indices: **the whole grid**, not the test split.
- ``src/lablet_generalization_benchmark/evaluate_model.py``: ``RSquared.__init__`` takes
  the per-factor variance of those whole-grid targets (``((t - t.mean(0)) ** 2).mean(0)``,
  population variance); ``RSquared.__call__`` returns ``1 - mean((pred - target) ** 2,
  axis=0) / variance`` per factor; ``evaluate_model`` reports ``rsquared`` = the mean of the
  per-factor values, ``rsquared_<factor>`` each, and ``mse`` = the mean squared error over
  every factor and image.

So the denominator is fixed by the grid: a factor with ``k`` equally likely grid values has
normalised variance ``(k + 1) / (12 (k - 1))`` (0.25 for k = 2, 1/12 as k grows), whatever
the split. A model that predicts the split's own mean can score below 0 on an
out-of-distribution split, and a small hole is not judged on its own (small) spread: an R² on
the split's own variance would hide large errors there (see DESIGN.md, "What a zero-shot
score must survive").

Their ``evaluate_model`` scores any ``model_fn: images -> predicted factors``. For a
representation model the prediction is a *readout* fitted on the training split's latent
means; their code leaves that to the user (its README's leaderboard lists RN50, RN101,
DenseNet121 and PCL without saying how a readout was fitted). Here the readout is ordinary least
squares (``readout = "linear"``) or a small MLP (``"mlp"``, scikit-learn's
``MLPRegressor``), fitted from the standardised training latents to the normalised targets
of every factor at once; only the fitting is ours, the score is theirs.

Which split is the one their leaderboard reports: their ``test`` split, which for the
composition, interpolation and extrapolation splits is the held-out region, here the
``hole`` (``readout_r2_hole``); for their random split it is an i.i.d. test set, here
``test`` (``readout_r2_test``).

Normalised targets: a discrete factor's value ``v`` becomes ``index(v) / (k - 1)`` with
``k`` its number of values, exactly their definition. A continuous factor (e.g. the
procedural ``sprites``' scale, orientation and positions) becomes ``(v - low) / (high -
low)``, which equals ``index / (k - 1)`` on an evenly spaced grid of ``k`` values from
``low`` to ``high`` (dSprites' grid is); give its ``k`` in ``levels`` to use the grid's
variance, else the continuous uniform variance 1/12 (the limit of many values) is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench.space import Factor, LatentSpace
from zsbench.splits import seeded_rows

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

NAN = float("nan")
EVAL_SPLITS: tuple[str, ...] = ("test", "hole")
ReadoutKind = Literal["linear", "mlp"]


def grid_variance(levels: int | None) -> float:
    """Population variance of ``index / (k - 1)`` over ``k = levels`` equally likely
    indices: ``(k + 1) / (12 (k - 1))``; ``1/12`` (continuous uniform on [0, 1]) for None;
    NaN for a single level."""
    if levels is None:
        return 1.0 / 12.0
    k = int(levels)
    if k < 2:
        return NAN
    return (k + 1) / (12.0 * (k - 1))


def normalized_targets(factors: np.ndarray, space: LatentSpace, names: list[str]
                       ) -> np.ndarray:
    """``float64 [N, len(names)]``: each named factor's values mapped to [0, 1] as Schott et
    al. do (a discrete factor: its value's index over ``k - 1``; a continuous one: ``(v -
    low) / (high - low)``)."""
    f = np.asarray(factors, dtype=np.float64)
    out = np.empty((len(f), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        factor: Factor = space[name]
        col = f[:, space.index(name)]
        if factor.discrete:
            values = np.sort(np.asarray(factor.values, dtype=np.float64))
            idx = np.abs(col[:, None] - values[None, :]).argmin(axis=1)
            out[:, j] = idx / max(len(values) - 1, 1)
        else:
            low, high = factor.bounds
            out[:, j] = (col - low) / (high - low) if high > low else 0.0
    return out


class Readout(Metric):
    """Schott et al.'s score: per-factor R² of a supervised readout of the latents, on the
    grid's variance.

    A readout (``readout``: "linear" least squares, or "mlp") is fitted from the training
    latent means (standardised) to the factors normalised to [0, 1] (a discrete factor's
    value index over ``k - 1``), then predicts the test split and the hole. Per split S and
    factor F: ``readout_r2_S_F = 1 - MSE / var_F`` with ``var_F`` the variance of the
    normalised factor over the **whole grid** (``(k + 1) / (12 (k - 1))`` for ``k`` values;
    ``levels`` gives ``k`` for a continuous factor, else 1/12), as their ``RSquared`` does;
    ``readout_r2_S`` is the mean over factors (their ``rsquared``: the leaderboard number,
    on the hole for their composition, interpolation and extrapolation splits and on the
    test split for their random split); ``readout_mse_S`` the mean squared error over all
    factors and images (their ``mse``). NaN without the split (no hole) or for a factor
    with one value.
    """

    name = "readout"
    requires = ("model.encode",)
    factor_parameters = ("factors", "levels")

    def __init__(self, *, factors: list[str] | None = None, readout: ReadoutKind = "linear",
                 levels: dict[str, int] | None = None, max_train: int | None = None,
                 hidden: list[int] = [256, 256],  # noqa: B006 (stored, never mutated)
                 max_iter: int = 200, seed: int = 0) -> None:
        """``factors``: the factors scored (default: all); ``readout``: "linear" or "mlp";
        ``levels``: number of grid values of continuous factors (their variance on the
        grid); ``max_train``: most training rows the readout is fitted on (None: all);
        ``hidden``, ``max_iter``: the MLP's hidden layer sizes and iterations; ``seed``:
        row subsampling and the MLP's initialisation."""
        def bad(key: str, problem: str, fix: str) -> PluginParameterError:
            return PluginParameterError("metric", self.name, key, problem, fix)

        if readout not in ("linear", "mlp"):
            raise bad("readout", f"got {readout!r}.", 'give "linear" or "mlp".')
        if factors is not None and (not factors or len(set(factors)) < len(factors)):
            raise bad("factors", f"got {factors!r}.",
                      "give a non-empty list of distinct factor names, or leave it out.")
        for key, k in (levels or {}).items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
                raise bad("levels", f"{key} = {k!r} is not an integer of at least 2.",
                          "give each continuous factor's number of grid values, e.g. "
                          "levels = { scale = 6 }.")
        if max_train is not None and max_train < 2:
            raise bad("max_train", f"must be at least 2, got {max_train}.",
                      "e.g. 20000, or leave it out to fit on every training row.")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise bad("hidden", f"got {hidden!r}.", "give positive layer sizes, e.g. [256, 256].")
        if max_iter < 1:
            raise bad("max_iter", f"must be positive, got {max_iter}.", "e.g. 200.")
        self.factors = factors
        self.readout = readout
        self.levels = levels
        self.max_train = max_train
        self.hidden = hidden
        self.max_iter = max_iter
        self.seed = seed

    def score_names(self, plan: SuitePlan) -> list[str]:
        names = list(self.factors or plan.space.names)
        return [f"readout_{q}_{s}" for q in ("r2", "mse") for s in EVAL_SPLITS] + [
            f"readout_r2_{s}_{n}" for s in EVAL_SPLITS for n in names]

    def variances(self, space: LatentSpace, names: list[str]) -> np.ndarray:
        """The whole-grid variance of each named factor's normalised values."""
        levels = dict(self.levels or {})
        out = []
        for name in names:
            factor = space[name]
            if factor.discrete:
                k = len(set(factor.values or ()))
                if name in levels and int(levels[name]) != k:
                    raise DataError(f'readout: levels gives {name} = {levels[name]}, but the '
                                    f"discrete factor {name} has {k} values.",
                                    f"leave {name} out of levels (its values decide).")
                out.append(grid_variance(k))
            else:
                out.append(grid_variance(levels.get(name)))
        return np.asarray(out, dtype=np.float64)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> BaseEstimator:
        from sklearn.linear_model import LinearRegression
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        if self.readout == "linear":
            model: BaseEstimator = LinearRegression()
        else:
            model = MLPRegressor(hidden_layer_sizes=tuple(int(h) for h in self.hidden),
                                 max_iter=int(self.max_iter), random_state=int(self.seed))
        return Pipeline([("scale", StandardScaler()), ("readout", model)]).fit(x, y)

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        names = list(self.factors) if self.factors is not None else list(ctx.space.names)
        for n in [*names, *(self.levels or {})]:
            ctx.space.index(n)
        for split in ("train", *EVAL_SPLITS):
            if split in ctx.latents and split in ctx.splits and (
                    len(ctx.latents[split]) != len(ctx.splits[split])):
                raise DataError(f'readout: split "{split}" has {len(ctx.splits[split])} '
                                f"points but {len(ctx.latents[split])} latents.")
        if "train" not in ctx.latents or "train" not in ctx.splits:
            raise DataError('readout: the evaluation context lacks the "train" split or its '
                            "latents.")
        var = self.variances(ctx.space, names)
        x = np.asarray(ctx.latents["train"], dtype=np.float64)
        y = normalized_targets(ctx.splits["train"].factors, ctx.space, names)
        if self.max_train is not None and len(x) > self.max_train:
            rows = seeded_rows(len(x), int(self.max_train), seed=self.seed)
            x, y = x[rows], y[rows]
        model = self._fit(x, y) if len(x) >= 2 else None

        scores: dict[str, Score] = {}
        for split in EVAL_SPLITS:
            r2 = np.full(len(names), NAN)
            mse = NAN
            have = (model is not None and split in ctx.splits and split in ctx.latents
                    and len(ctx.splits[split]) > 0)
            if have:
                assert model is not None
                pred = np.asarray(model.predict(np.asarray(ctx.latents[split], np.float64)),
                                  dtype=np.float64).reshape(len(ctx.splits[split]), len(names))
                truth = normalized_targets(ctx.splits[split].factors, ctx.space, names)
                sq = (pred - truth) ** 2
                with np.errstate(divide="ignore", invalid="ignore"):
                    r2 = np.where(var > 0, 1.0 - sq.mean(axis=0) / var, NAN)
                mse = float(sq.mean())
            finite = r2[np.isfinite(r2)]
            scores[f"readout_r2_{split}"] = Score(float(finite.mean()) if finite.size else NAN,
                                                  higher_is_better=True, headline=True)
            scores[f"readout_mse_{split}"] = Score(mse, higher_is_better=False)
            for name, value in zip(names, r2):
                scores[f"readout_r2_{split}_{name}"] = Score(float(value), higher_is_better=True)
        return scores
