"""Oracle tests of the standard metrics, on evaluation contexts built from synthetic arrays."""

from __future__ import annotations

import inspect
import math
import re
import typing

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset, EvalContext, Metric, Model, Score, Split, TransectEval
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.metrics import (
    Frobenius,
    HoldoutReconstruction,
    LatentCovariance,
    Probe,
    Transect,
    zsbench_add_metrics,
)
from zsbench_plugins.metrics._errors import per_image_bce, per_image_frobenius, per_image_mse
from zsbench_plugins.metrics.probe import select_neighbors

SPACE = LatentSpace((Factor("a", 0.5, 2.0), Factor("b", 0.0, 2.0)))
SPACE_DF = LatentSpace((Factor("a", 0.5, 2.0), Factor("b", 0.0, 2.0),
                        Factor("df", values=(2.0, 200.0))))


class StubDataset(Dataset):
    """A dataset stub that only carries a latent space."""

    name = "stub"

    def __init__(self, *, space: LatentSpace = SPACE) -> None:
        self._space = space

    @property
    def space(self) -> LatentSpace:
        return self._space


class StubModel(Model):
    """A model stub: metrics never call it."""

    name = "stub"


def _images(n: int, rng: np.random.Generator,
            shape: tuple[int, int, int] = (1, 4, 4)) -> np.ndarray:
    return (rng.random((n, *shape)) > 0.5).astype(np.float32)


def make_ctx(*, space: LatentSpace = SPACE, factors: dict[str, np.ndarray],
             latents: dict[str, np.ndarray] | None = None,
             images: dict[str, np.ndarray] | None = None,
             reconstructions: dict[str, np.ndarray] | None = None,
             depth: np.ndarray | None = None,
             transects: list[TransectEval] | None = None) -> EvalContext:
    """An EvalContext from per-split arrays; missing images are random binary images,
    missing reconstructions are perfect, missing latents equal the factors."""
    rng = np.random.default_rng(123)
    images = dict(images or {})
    reconstructions = dict(reconstructions or {})
    latents = dict(latents or {})
    splits = {}
    for s, f in factors.items():
        images.setdefault(s, _images(len(f), rng))
        reconstructions.setdefault(s, images[s].copy())
        latents.setdefault(s, f.copy())
        splits[s] = Split(f, images[s], depth if s == "hole" else None)
    return EvalContext(dataset=StubDataset(space=space), space=space, model=StubModel(),
                       label="stub", seed=0, splits=splits, latents=latents,
                       reconstructions=reconstructions, transects=transects or [])


def uniform(space: LatentSpace, n: int, seed: int) -> np.ndarray:
    return space.sample_uniform(n, rng=np.random.default_rng(seed))


def hole_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of the E1 hole (disk radius 0.3 at a=1.25, b=1) and their depth."""
    rng = np.random.default_rng(seed)
    r = 0.3 * np.sqrt(rng.random(n))
    t = rng.uniform(-np.pi, np.pi, n)
    f = np.c_[1.25 + r * np.cos(t), 1.0 + r * np.sin(t)]
    return f, 0.3 - r


def outside(n: int, seed: int) -> np.ndarray:
    f = uniform(SPACE, 3 * n, seed)
    keep = np.hypot(f[:, 0] - 1.25, f[:, 1] - 1.0) > 0.3
    return f[keep][:n]


def constant_error(n: int, p: float | np.ndarray, shape: tuple[int, int, int] = (1, 3, 3)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Black images and reconstructions of constant grey ``p`` (per image): BCE = -log(1-p)."""
    x = np.zeros((n, *shape), dtype=np.float32)
    r = np.broadcast_to(np.asarray(p, dtype=np.float32).reshape(-1, 1, 1, 1), x.shape).copy()
    return x, r


def check_scores(scores: dict[str, Score], allowed_nan: set[str] = frozenset()) -> None:
    """Every score: flat name, python float, direction declared, finite unless allowed."""
    assert scores
    for key, s in scores.items():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+", key), key
        assert isinstance(s, Score)
        assert type(s.value) is float, (key, type(s.value))
        assert isinstance(s.higher_is_better, bool) and isinstance(s.headline, bool)
        if key not in allowed_nan:
            assert math.isfinite(s.value), key
    assert 1 <= sum(s.headline for s in scores.values()) <= 3


# -- per-image errors --------------------------------------------------------------------
def test_per_image_errors_oracles() -> None:
    rng = np.random.default_rng(0)
    x = _images(600, rng)  # more than one chunk
    assert per_image_bce(x, x).shape == (600,)
    assert per_image_bce(x, x).max() < 1e-5
    assert np.all(per_image_mse(x, x) == 0) and np.all(per_image_frobenius(x, x) == 0)
    grey = rng.random((5, 1, 4, 4)).astype(np.float32)
    entropy = -(grey * np.log(grey) + (1 - grey) * np.log(1 - grey)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(per_image_bce(grey, grey), entropy, rtol=1e-5)
    assert np.all(per_image_bce(grey, np.clip(grey + 0.1, 0, 1)) > entropy)  # the minimum
    x, r = constant_error(2, np.array([0.5, 0.25]), shape=(1, 2, 2))
    np.testing.assert_allclose(per_image_frobenius(x, r), [1.0, 0.5])
    np.testing.assert_allclose(per_image_mse(x, r), [0.25, 0.0625])
    np.testing.assert_allclose(per_image_bce(x, r), -np.log([0.5, 0.75]), rtol=1e-6)
    with pytest.raises(DataError, match="same shape"):
        per_image_bce(x, r[:1])


# -- holdout_reconstruction -----------------------------------------------------------
def test_holdout_reconstruction_perfect() -> None:
    hole, depth = hole_split(50, 1)
    ctx = make_ctx(factors={"train": outside(200, 0), "test": outside(50, 2), "hole": hole},
                   depth=depth)
    scores = HoldoutReconstruction().compute(ctx)
    check_scores(scores, allowed_nan={k for k in scores
                                      if k.startswith("rim") or k == "hole_rim_excess_ratio"})
    for split in ("train", "test", "hole"):
        assert scores[f"{split}_bce"].value < 1e-5
        assert scores[f"{split}_mse"].value == 0.0 and scores[f"{split}_frob"].value == 0.0
    assert {k for k, s in scores.items() if s.headline} == {
        "hole_excess_bce", "hole_rim_excess_ratio", "test_peak_err"}
    for split in ("train", "test", "hole"):  # binary targets: no floor, no ink error
        assert abs(scores[f"{split}_excess_bce"].value) < 1e-5
        assert scores[f"{split}_intensity_err"].value == 0.0
        assert scores[f"{split}_peak_err"].value == 0.0
    assert not any(s.higher_is_better for s in scores.values())


def test_holdout_reconstruction_ratio_and_depth_bins_handmade() -> None:
    depth = np.array([0.05, 0.15, 0.25, 0.3, 0.02])  # max 0.3: bins [0,.1) [.1,.2) [.2,.3]
    p_hole = np.array([0.1, 0.2, 0.3, 0.4, 0.05])  # error grows with depth
    hx, hr = constant_error(5, p_hole)
    tx, tr = constant_error(4, 0.1)
    ctx = make_ctx(factors={"train": outside(20, 0), "test": outside(4, 2),
                            "hole": hole_split(5, 1)[0]},
                   images={"test": tx, "hole": hx}, reconstructions={"test": tr, "hole": hr},
                   depth=depth)
    scores = HoldoutReconstruction().compute(ctx)
    bce = -np.log1p(-p_hole.astype(np.float32).astype(np.float64))
    test_bce = -math.log1p(-float(np.float32(0.1)))
    assert scores["test_bce"].value == pytest.approx(test_bce, rel=1e-9)
    assert scores["hole_bce"].value == pytest.approx(bce.mean(), rel=1e-9)
    assert scores["hole_test_bce_ratio"].value == pytest.approx(bce.mean() / test_bce, rel=1e-9)
    assert scores["hole_depth_corr"].value == pytest.approx(1.0)
    # binary targets: the excess over the (zero) floor is the BCE itself
    assert scores["hole_excess_bce"].value == pytest.approx(bce.mean(), rel=1e-6)
    assert scores["hole_excess_bce_depth0"].value == pytest.approx((bce[0] + bce[4]) / 2)
    assert scores["hole_excess_bce_depth1"].value == pytest.approx(bce[1])
    assert scores["hole_excess_bce_depth2"].value == pytest.approx((bce[2] + bce[3]) / 2)
    assert scores["hole_depth_corr"].higher_is_better is False
    assert "hole_excess_bce_depth3" not in scores
    # more bins than occupied: an empty bin is NaN, the others still correct
    five = HoldoutReconstruction(depth_bins=5).compute(ctx)  # width 0.06
    assert five["hole_excess_bce_depth0"].value == pytest.approx((bce[0] + bce[4]) / 2)
    assert math.isnan(five["hole_excess_bce_depth1"].value)
    assert five["hole_excess_bce_depth4"].value == pytest.approx((bce[2] + bce[3]) / 2)


def test_holdout_reconstruction_without_hole_is_nan() -> None:
    ctx = make_ctx(factors={"train": outside(30, 0), "test": outside(10, 2)})
    scores = HoldoutReconstruction().compute(ctx)
    hole_keys = {k for k in scores if k.startswith(("hole", "rim"))}
    assert hole_keys >= {"hole_bce", "hole_mse", "hole_frob", "hole_test_bce_ratio",
                         "hole_depth_corr", "hole_excess_bce_depth0", "hole_excess_bce_depth2",
                         "rim_excess_bce", "hole_rim_excess_ratio"}
    check_scores(scores, allowed_nan=hole_keys)
    assert all(math.isnan(scores[k].value) for k in hole_keys)
    with pytest.raises(DataError, match='"test"'):
        HoldoutReconstruction().compute(make_ctx(factors={"train": outside(30, 0)}))


# -- transect -------------------------------------------------------------------------
def _transect(name: str, p: list[float], in_hole: list[bool]) -> TransectEval:
    x, r = constant_error(len(p), np.array(p))
    t = np.linspace(0, 1, len(p))
    f = np.c_[0.5 + 1.5 * t, np.ones_like(t)]
    return TransectEval(name=name, t=t, factors=f, images=x, reconstructions=r,
                        latents=f.copy(), in_hole=np.array(in_hole))


def test_transect_in_out_handmade() -> None:
    p1, m1 = [0.1, 0.5, 0.6, 0.1], [False, True, True, False]
    p2, m2 = [0.2, 0.7, 0.2], [False, True, False]
    ctx = make_ctx(factors={"train": outside(10, 0), "test": outside(5, 1)},
                   transects=[_transect("P1", p1, m1), _transect("diag (0.5,0)", p2, m2)])
    scores = Transect().compute(ctx)
    check_scores(scores)
    b = lambda p: -math.log1p(-float(np.float32(p)))  # noqa: E731
    assert scores["P1_in_bce"].value == pytest.approx((b(0.5) + b(0.6)) / 2)
    assert scores["P1_out_bce"].value == pytest.approx(b(0.1))
    assert scores["diag_0.5_0_in_bce"].value == pytest.approx(b(0.7))
    assert scores["diag_0.5_0_out_bce"].value == pytest.approx(b(0.2))
    inside = (b(0.5) + b(0.6) + b(0.7)) / 3
    outside_ = (2 * b(0.1) + 2 * b(0.2)) / 4
    assert scores["transect_in_bce"].value == pytest.approx(inside)
    assert scores["transect_out_bce"].value == pytest.approx(outside_)
    assert scores["transect_in_out_ratio"].value == pytest.approx(inside / outside_)
    assert {k for k, s in scores.items() if s.headline} == {"transect_in_bce",
                                                            "transect_in_out_ratio"}


def test_transect_without_hole_or_transects() -> None:
    ctx = make_ctx(factors={"train": outside(10, 0), "test": outside(5, 1)},
                   transects=[_transect("P1", [0.1, 0.2], [False, False])])
    scores = Transect().compute(ctx)
    nan = {"P1_in_bce", "transect_in_bce", "transect_in_out_ratio"}
    check_scores(scores, allowed_nan=nan)
    assert all(math.isnan(scores[k].value) for k in nan)
    empty = Transect().compute(make_ctx(factors={"train": outside(10, 0), "test": outside(5, 1)}))
    assert set(empty) == {"transect_in_bce", "transect_out_bce", "transect_in_out_ratio"}
    assert all(math.isnan(s.value) for s in empty.values())
    clash = make_ctx(factors={"train": outside(10, 0), "test": outside(5, 1)},
                     transects=[_transect("P1", [0.1], [True]), _transect("P1", [0.1], [True])])
    with pytest.raises(DataError, match="P1_in_bce"):
        Transect().compute(clash)


# -- latent_covariance ----------------------------------------------------------------
def _cov_ctx(z: np.ndarray) -> EvalContext:
    f = outside(len(z), 0)
    ctx = make_ctx(factors={"train": f[:len(z)], "test": f[:5]})
    ctx.latents["train"] = z
    return ctx


def test_latent_covariance_independent_vs_correlated() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5000, 3))
    scores = LatentCovariance().compute(_cov_ctx(z))
    check_scores(scores)
    assert scores["mean_abs_offdiag_cov"].value < 0.03
    assert scores["mean_abs_corr"].value < 0.03
    assert scores["latent_dim"].value == 3.0
    ratios = [scores[f"pca_var_{k}"].value for k in (1, 2, 3)]
    assert ratios == sorted(ratios, reverse=True) and sum(ratios) == pytest.approx(1.0)
    assert scores["pca_var_1"].higher_is_better and not scores["pca_var_3"].higher_is_better
    assert {k for k, s in scores.items() if s.headline} == {"active_units", "mean_abs_corr"}
    assert scores["active_units"].value == 3.0 and scores["active_units"].higher_is_better
    zc = z.copy()
    zc[:, 1] = z[:, 0] + 0.1 * z[:, 1]
    zc[:, 2] = -z[:, 0] + 0.1 * z[:, 2]
    corr = LatentCovariance().compute(_cov_ctx(zc))
    assert corr["mean_abs_corr"].value > 0.95
    assert corr["mean_abs_offdiag_cov"].value > 0.9


def test_latent_covariance_sheet_and_degenerate() -> None:
    rng = np.random.default_rng(1)
    u, v = rng.uniform(-1, 1, size=(2, 2000))
    sheet = np.c_[u, v, 0.5 * u - 0.8 * v + 1e-3 * rng.normal(size=2000)]
    scores = LatentCovariance().compute(_cov_ctx(sheet))
    assert scores["pca_var_3"].value < 1e-4
    assert scores["pca_var_1"].value + scores["pca_var_2"].value > 0.9999
    one = LatentCovariance().compute(_cov_ctx(rng.normal(size=(100, 1))))
    check_scores(one, allowed_nan={"mean_abs_offdiag_cov", "mean_abs_corr"})
    assert math.isnan(one["mean_abs_offdiag_cov"].value) and math.isnan(one["mean_abs_corr"].value)
    assert one["pca_var_1"].value == pytest.approx(1.0) and one["pca_var_1"].higher_is_better
    collapsed = np.c_[rng.normal(size=100), np.zeros(100)]  # a dead latent is uncorrelated
    dead = LatentCovariance().compute(_cov_ctx(collapsed))
    check_scores(dead)
    assert dead["mean_abs_corr"].value == 0.0 and dead["pca_var_2"].value == 0.0


# -- probe ----------------------------------------------------------------------------
def _probe_ctx(latent_fn: typing.Callable[[np.ndarray, np.random.Generator], np.ndarray],
               *, space: LatentSpace = SPACE, with_hole: bool = True, n: int = 1500
               ) -> EvalContext:
    rng = np.random.default_rng(7)
    factors = {"train": uniform(space, n, 1), "test": uniform(space, 400, 2)}
    if with_hole:
        hole = uniform(space, 200, 3)
        hole[:, :2] = hole_split(200, 4)[0]
        factors["hole"] = hole
    latents = {s: latent_fn(f, rng) for s, f in factors.items()}
    return make_ctx(space=space, factors=factors, latents=latents,
                    depth=np.zeros(200) if with_hole else None)


def test_probe_latents_equal_factors() -> None:
    ctx = _probe_ctx(lambda f, rng: f.copy())
    scores = Probe().compute(ctx)
    check_scores(scores)
    for kind in ("knn", "linear"):
        for factor in ("a", "b"):
            assert scores[f"{kind}_r2_test_{factor}"].value > 0.97
    assert scores["linear_r2_hole_a"].value > 0.999  # exact extrapolation into the hole
    assert scores["knn_r2_test_mean"].value > 0.97
    assert {k for k, s in scores.items() if s.headline} == {"knn_r2_test_mean",
                                                            "knn_mae_ratio_hole_mean"}
    assert all(s.higher_is_better != ("_mae_" in k) for k, s in scores.items())
    assert scores["linear_mae_ratio_hole_mean"].value < 1e-6 or \
        scores["linear_mae_test_a"].value < 1e-9  # exact linear read-out everywhere
    assert Probe().compute(ctx) == scores  # deterministic
    # every training row by default: the same as a cap at the training size
    assert Probe(max_train=1500).compute(ctx) == scores
    assert Probe(max_train=100).compute(ctx) != scores


def test_probe_hole_judged_on_its_own_scale() -> None:
    """An encoder that sends every hole image to the hole's centre is read well on the
    whole space's scale (R² ~ 0.88 against the training variance) but not at all on the
    hole's own scale: R² <= 0 there and the hole's MAE many times the test split's."""
    def encode(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        z = f.copy()
        inside = np.hypot(f[:, 0] - 1.25, f[:, 1] - 1.0) < 0.3
        z[inside] = [1.25, 1.0]
        return z

    ctx = _probe_ctx(encode)
    scores = Probe(probes=["linear"]).compute(ctx)
    truth = ctx.splits["hole"].factors[:, 0]
    train_scale = 1 - np.mean((truth - 1.25) ** 2) / np.var(ctx.splits["train"].factors[:, 0])
    assert train_scale > 0.85  # what a training-variance R² would have said
    assert scores["linear_r2_hole_a"].value <= 0.0
    assert scores["linear_r2_test_a"].value > 0.95
    assert scores["linear_mae_ratio_hole_mean"].value > 10
    assert scores["linear_mae_hole_a"].value == pytest.approx(np.mean(np.abs(truth - 1.25)),
                                                              rel=1e-3)


def test_probe_constant_latents_score_zero() -> None:
    scores = Probe().compute(_probe_ctx(lambda f, rng: np.zeros((len(f), 3))))
    for kind in ("knn", "linear"):
        for factor in ("a", "b"):
            assert scores[f"{kind}_r2_test_{factor}"].value <= 0.05


def test_probe_discrete_factor() -> None:
    def encode(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.c_[f[:, :2], (f[:, 2] == 2.0) + 0.05 * rng.normal(size=len(f))]

    scores = Probe(factors=["df", "a"]).compute(_probe_ctx(encode, space=SPACE_DF))
    check_scores(scores)
    for kind in ("knn", "linear"):
        for split in ("test", "hole"):
            assert scores[f"{kind}_acc_{split}_df"].value > 0.97
            assert scores[f"{kind}_f1_{split}_df"].value > 0.97
    assert "knn_r2_test_b" not in scores
    assert {k for k, s in scores.items() if s.headline} == {
        "knn_r2_test_mean", "knn_mae_ratio_hole_mean", "knn_acc_test_mean"}

    noise = Probe(factors=["df"], positive={"df": 200.0}).compute(
        _probe_ctx(lambda f, rng: rng.normal(size=(len(f), 3)), space=SPACE_DF))
    check_scores(noise)
    for kind in ("knn", "linear"):
        assert abs(noise[f"{kind}_acc_test_df"].value - 0.5) < 0.1
    assert set(noise) >= {"knn_acc_test_mean", "knn_acc_hole_mean"}
    assert not any("r2" in k or "mae" in k for k in noise)


def test_probe_without_hole_and_bad_input() -> None:
    scores = Probe(probes=["linear"]).compute(_probe_ctx(lambda f, rng: f.copy(), with_hole=False))
    hole = {k for k in scores if "_hole_" in k}
    assert hole == {"linear_r2_hole_a", "linear_r2_hole_b", "linear_r2_hole_mean",
                    "linear_mae_hole_a", "linear_mae_hole_b", "linear_mae_ratio_hole_a",
                    "linear_mae_ratio_hole_b", "linear_mae_ratio_hole_mean"}
    check_scores(scores, allowed_nan=hole)
    assert all(math.isnan(scores[k].value) for k in hole)
    assert scores["linear_r2_test_mean"].headline  # the lead probe without kNN
    ctx = _probe_ctx(lambda f, rng: f.copy(), space=SPACE_DF)
    with pytest.raises(DataError, match='"df"'):
        Probe(factors=["a"], positive={"df": 2.0}).compute(ctx)
    with pytest.raises(DataError, match="not one of its values"):
        Probe(positive={"df": 3.0}).compute(ctx)
    with pytest.raises(DataError, match='unknown factor "c"'):
        Probe(factors=["c"]).compute(ctx)
    with pytest.raises(PluginParameterError):
        Probe(folds=1)
    with pytest.raises(PluginParameterError):
        Probe(neighbors=[])
    with pytest.raises(PluginParameterError):
        Probe(probes=["knn", "knn"])


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("classify", [False, True])
def test_select_neighbors_matches_grid_search(classify: bool, standardize: bool) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 3)) * [1.0, 5.0, 0.2]
    y = x[:, 0] + 0.5 * rng.normal(size=300)
    if classify:
        y = (y > 0).astype(float) * 198.0 + 2.0
    ks = list(range(3, 25))
    cv = KFold(5, shuffle=True, random_state=3)
    knn = KNeighborsClassifier() if classify else KNeighborsRegressor()
    scale = StandardScaler() if standardize else "passthrough"
    grid = GridSearchCV(Pipeline([("scale", scale), ("knn", knn)]),
                        {"knn__n_neighbors": ks}, cv=cv,
                        scoring="accuracy" if classify else "r2").fit(x, y)
    assert select_neighbors(x, [(y, classify)], ks, cv, standardize=standardize) == [
        grid.best_params_["knn__n_neighbors"]]


# -- frobenius ------------------------------------------------------------------------
def test_frobenius_handmade_and_perfect() -> None:
    norms = np.arange(1, 101, dtype=np.float64) / 10  # an image of k identical errors
    x = np.zeros((100, 1, 2, 2), dtype=np.float64)
    r = np.broadcast_to((norms / 2).reshape(-1, 1, 1, 1), x.shape).copy()  # 4 pixels: norm 2*e
    ctx = make_ctx(factors={"train": outside(100, 0), "test": outside(100, 1)},
                   images={"test": x}, reconstructions={"test": r})
    scores = Frobenius().compute(ctx)
    check_scores(scores)
    assert scores["frob_mean"].value == pytest.approx(norms.mean())
    for p in (50, 90, 99):
        assert scores[f"frob_p{p}"].value == pytest.approx(np.percentile(norms, p))
    assert {k for k, s in scores.items() if s.headline} == {"frob_mean", "frob_p99"}
    assert not any(s.higher_is_better for s in scores.values())
    assert scores["frob_tail_ratio"].value == pytest.approx(
        np.percentile(norms, 99) / np.percentile(norms, 50))
    perfect = Frobenius(split="train").compute(ctx)
    assert all(s.value == 0.0 for k, s in perfect.items() if k != "frob_tail_ratio")
    assert perfect["frob_tail_ratio"].value == 1.0
    no_hole = Frobenius(split="hole").compute(ctx)
    assert all(math.isnan(s.value) for s in no_hole.values())
    with pytest.raises(DataError, match='"tset"'):
        Frobenius(split="tset").compute(ctx)


def test_frobenius_tail_ratio_is_a_scale_free_shape() -> None:
    """p99 / p50: 1 when every image is equally bad, whatever the scale; large when a few
    images fail badly; unchanged when every error is scaled (ink, a dimmer decoder)."""
    rng = np.random.default_rng(0)

    def ratio(norms: np.ndarray) -> float:
        x = np.zeros((len(norms), 1, 1, 1))
        ctx = make_ctx(factors={"train": outside(len(norms), 0), "test": outside(len(norms), 1)},
                       images={"test": x}, reconstructions={"test": norms.reshape(-1, 1, 1, 1)})
        return Frobenius().compute(ctx)["frob_tail_ratio"].value

    uniform = np.full(200, 0.3)
    light = rng.normal(1.0, 0.1, 200).clip(0.5)
    heavy = light.copy()
    heavy[:10] *= 20  # 5 % of the images fail badly
    assert ratio(uniform) == pytest.approx(1.0) == ratio(uniform * 50)
    assert ratio(light) == pytest.approx(ratio(light * 7))
    assert ratio(heavy) > 5 * ratio(light)


# -- the plugin contract --------------------------------------------------------------
def test_hook_returns_all_metrics_with_the_contract() -> None:
    classes = zsbench_add_metrics()
    assert {c.name for c in classes} == {"holdout_reconstruction", "factor_recovery", "transect",
                                         "latent_covariance", "probe", "frobenius",
                                         "mig", "dci", "sap", "reachability", "prior_coverage",
                                         "conditional_generation", "readout",
                                         "over_prompting"}
    for cls in classes:
        assert issubclass(cls, Metric) and cls.summary()
        params = inspect.signature(cls.__init__).parameters
        hints = typing.get_type_hints(cls.__init__)
        for name, p in params.items():
            if name == "self":
                continue
            assert p.kind is inspect.Parameter.KEYWORD_ONLY and name in hints, (cls, name)
        instance = cls()
        assert instance.get_params() == {n: p.default for n, p in params.items() if n != "self"}
    assert typing.get_args(typing.get_args(typing.get_type_hints(Probe.__init__)["probes"])[0]) \
        == ("knn", "linear")
    with pytest.raises(PluginParameterError):
        HoldoutReconstruction(depth_bins=0)
