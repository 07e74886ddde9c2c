"""The two baselines of every conditional leaderboard (``nearest_training``, the memoriser;
``blank``, the empty frame), the rim drawn on the hole's lattice, and the bumps sampling of
Liang et al.'s scaling protocol."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from zsbench.errors import DataError, PluginParameterError
from zsbench.regions import Box, rim_points
from zsbench.registry import Registry
from zsbench.space import Factor, LatentSpace
from zsbench.testing import check_model
from zsbench_plugins.datasets.bumps import BumpsDataset
from zsbench_plugins.models.blank import Blank
from zsbench_plugins.models.nearest_training import NearestTraining

SUITES = ["bumps_donut", "bumps_donut_stripes", "bumps_scaling", "circles_colour_size",
          "sprites_extrapolation", "sprites_random", "sprites_recombination_element",
          "sprites_recombination_range"]


def _bumps(n: int = 300, seed: int = 0) -> tuple[BumpsDataset, np.ndarray, np.ndarray]:
    d = BumpsDataset(n_samples=n)
    f = d.factors(seed=seed)
    return d, f, d.render(f)


# -- the memoriser ---------------------------------------------------------------------------

def test_the_memoriser_draws_exactly_the_nearest_training_image() -> None:
    d, f, x = _bumps()
    m = NearestTraining().fit(x, seed=0, factors=f, space=d.space)
    requests = d.space.sample_uniform(50, rng=np.random.default_rng(1))
    out = m.generate(requests, seed=3)
    dist = np.linalg.norm((requests[:, None] - f[None]) / 27.0, axis=-1)
    nearest = np.argmin(dist, axis=1)
    assert np.array_equal(out, x[nearest])  # bit for bit, float32 as given
    assert out.dtype == np.float32
    # a training point's own request gives its own image back
    assert np.array_equal(m.generate(f[:20], seed=0), x[:20])


def test_the_memoriser_keeps_uint8_images_exactly() -> None:
    d, f, _ = _bumps(100)
    x = (np.rint(d.render(f) * 255) / 255).astype(np.float32)  # uint8 images as models see them
    m = NearestTraining().fit(x, seed=0, factors=f, space=d.space)
    assert m.images_.dtype == np.uint8
    assert np.array_equal(m.generate(f, seed=0), x)


def test_the_memoriser_wraps_periodic_factors_and_matches_categorical_ones() -> None:
    space = LatentSpace((Factor("shape", values=(0.0, 1.0, 2.0)),
                         Factor("angle", 0.0, 2 * math.pi), Factor("x", 0.0, 1.0)))
    f = np.array([[0.0, 0.1, 0.5], [0.0, 3.0, 0.5], [2.0, 6.2, 0.1], [1.0, 6.2, 0.9]])
    x = np.linspace(0.1, 0.9, 4, dtype=np.float32)[:, None, None, None] * np.ones(
        (4, 1, 4, 4), np.float32)
    request = np.array([[0.0, 6.25, 0.5]])  # 0.13 rad from row 0 across 2 pi
    plain = NearestTraining().fit(x, seed=0, factors=f, space=space)
    wrapped = NearestTraining(periodic=["angle"]).fit(x, seed=0, factors=f, space=space)
    labels = NearestTraining(periodic=["angle"], categorical=["shape"]).fit(
        x, seed=0, factors=f, space=space)
    assert plain.nearest(request)[0] == 1        # no wrap: 6.25 is far from 0.1
    assert wrapped.nearest(request)[0] == 0      # 6.25 and 0.1 are close around the circle
    other = np.array([[2.0, 6.2, 0.9]])
    assert wrapped.nearest(other)[0] == 3        # ordinal: shape 1 is half a range from 2
    assert labels.nearest(other)[0] == 2         # labels: the same shape first
    with pytest.raises(DataError, match="no factors of the dataset"):
        NearestTraining(periodic=["angel"]).fit(x, seed=0, factors=f, space=space)
    with pytest.raises(PluginParameterError, match="periodic"):
        NearestTraining(periodic="angle")  # type: ignore[arg-type]


def test_the_memoriser_leaves_out_zero_weights() -> None:
    d, f, x = _bumps(60)
    w = np.ones(len(x))
    w[:30] = 0.0
    m = NearestTraining().fit(x, seed=0, factors=f, space=d.space, weights=w)
    assert len(m.factors_) == 30 and np.array_equal(m.generate(f[30:], seed=0), x[30:])


# -- blank -----------------------------------------------------------------------------------

def test_blank_draws_one_constant_frame_the_background() -> None:
    d, f, x = _bumps()
    m = Blank().fit(x, seed=0, factors=f)
    out = m.generate(d.space.sample_uniform(7, rng=np.random.default_rng(0)), seed=5)
    assert out.shape == (7, 1, 28, 28) and np.all(out == 1.0)  # white: the dark bumps' ground
    dark = Blank().fit(1.0 - x, seed=0, factors=f).generate(f[:3], seed=0)
    assert np.all(dark == 0.0)
    grey = Blank(value=0.25).fit(x, seed=0, factors=f).generate(f[:3], seed=0)
    assert np.all(grey == np.float32(0.25))
    with pytest.raises(PluginParameterError, match="value"):
        Blank(value=2.0)
    with pytest.raises(DataError, match=r"\[N, 2\]"):
        m.generate(np.zeros((3, 3)), seed=0)


@pytest.mark.parametrize("model", [NearestTraining(), Blank(),
                                   NearestTraining(periodic=["x"], categorical=["y"])],
                         ids=["nearest_training", "blank", "nearest_training-periodic"])
def test_both_pass_the_generator_conformance_kit(model) -> None:  # noqa: ANN001
    names = []
    for check in check_model(model):
        check.run()
        names.append(check.name)
    assert {"check_generate_follows_request", "check_generate_save_load_round_trip",
            "check_generate_bad_request"} <= set(names)


def test_the_kit_fails_a_blank_frame_that_follows_its_request() -> None:
    """follows_request = False is checked, not taken on trust."""
    from zsbench.testing import ConformanceError, check_generate_follows_request
    from zsbench.testing.model_harness import ModelHarness

    class Liar(NearestTraining):
        """A memoriser that claims to ignore its request."""

        name = "liar"
        follows_request = False

    with pytest.raises(ConformanceError, match="follows_request = False"):
        check_generate_follows_request(ModelHarness(Liar()))


def test_both_are_registered_and_in_every_conditional_suite() -> None:
    registry = Registry()
    for name in ("nearest_training", "blank"):
        assert registry.get("model", name).cls.name == name
    for suite in SUITES:
        text = (REPO / "suites" / f"{suite}.toml").read_text()
        assert 'plugin = "nearest_training"' in text and 'plugin = "blank"' in text, suite


# -- the rim: the hole's kind of request -------------------------------------------------------

def test_rim_requests_on_integer_bumps_are_integers() -> None:
    d, f, _ = _bumps(3000)
    region = Box({"x": 5.5, "y": 5.5}, {"x": 22.5, "y": 22.5})
    inside = region.contains(f, d.space)
    hole_depth = region.depth(f[inside], d.space)
    rim = rim_points(region, d.space, hole_depth, rng=np.random.default_rng(0),
                     lattice=d.lattice)
    assert len(rim) == inside.sum()
    assert np.array_equal(rim, np.rint(rim)) and not region.contains(rim, d.space).any()
    # the depths mirror the hole's exactly where the frame leaves room (the shallower half):
    # both lie on the same integer grid
    half = len(rim) // 2
    assert np.array_equal(np.sort(-region.depth(rim, d.space))[:half], np.sort(hole_depth)[:half])
    continuous = rim_points(region, d.space, hole_depth, rng=np.random.default_rng(0))
    assert not np.array_equal(continuous, np.rint(continuous))


def test_the_runner_draws_the_bumps_rim_on_integers(tmp_path: Path) -> None:
    from zsbench.runner import prepare_data
    from zsbench.suite import load_suite

    path = tmp_path / "donut.toml"
    text = (REPO / "suites" / "bumps_donut.toml").read_text()
    path.write_text(text.replace("n_samples = 3522", "n_samples = 600"))
    registry = Registry()
    data = prepare_data(load_suite(path, registry=registry), registry, render=False)
    rim, hole = data.splits["rim"].factors, data.splits["hole"].factors
    assert len(rim) == len(hole) > 0 and np.array_equal(rim, np.rint(rim))


# -- Liang et al.'s scaling sampling -------------------------------------------------------------

@pytest.mark.parametrize("n,p", [(24, 0.2), (28, 0.4), (40, 0.6)])
def test_scaling_sampling_draws_their_counts(n: int, p: float) -> None:
    k = int(np.floor(p * n))
    d = BumpsDataset(image_size=n, integer=False, sampling="liang_scaling", holdout_side=k)
    f = d.factors(seed=0)
    train, test, hole = d.scaling_counts()
    assert train == int(1000 * (n - k) ** 2 / n ** 2) and hole == int(1000 * k * k / n ** 2)
    assert len(f) == train + test + hole
    lb, ub = n / 2 - k / 2, n / 2 + k / 2
    inside = ((f >= lb) & (f < ub)).all(axis=1)
    assert not inside[:train + test].any() and inside[train + test:].all()
    assert f.min() >= 0.0 and f.max() < n and f.max() > n - 1  # from [0, N), as theirs
    assert d.space["x"].bounds == (0.0, float(n))
    fixed = d.fixed_test(len(f))
    assert fixed.sum() == test and fixed[train:train + test].all()
    assert np.array_equal(d.factors(seed=0), f)
    with pytest.raises(PluginParameterError, match="integer = false"):
        BumpsDataset(sampling="liang_scaling", holdout_side=5)


def test_the_scaling_suite_trains_on_their_counts_in_every_variant(tmp_path: Path) -> None:
    from zsbench.runner import prepare_data
    from zsbench.suite import load_suite
    from zsbench.variants import write_variants

    registry = Registry()
    suite = load_suite(REPO / "suites" / "bumps_scaling.toml", profile="faithful",
                       registry=registry)
    for variant in write_variants(suite, tmp_path, registry=registry,
                                  only=["N24_p20", "N32_p50", "N40_p60"]):
        n, p = variant.axes["N"], variant.axes["p"]
        k = math.floor(p * n)
        data = prepare_data(variant.suite, registry, render=False)
        assert len(data.splits["train"]) == int(1000 * (n - k) ** 2 / n ** 2)
        assert len(data.splits["hole"]) == int(1000 * k * k / n ** 2)
        decoder = variant.suite.models[0]
        assert (decoder.params["depth"], decoder.params["channels"],
                decoder.params["epochs"]) == (8, 128, 20)


def test_the_factor_decoder_gives_its_unclipped_output_for_the_mse() -> None:
    """Liang et al. score the linear output; ``generate`` is that output clipped to [0, 1]."""
    from zsbench_plugins.models.factor_decoder import FactorDecoder

    d, f, x = _bumps(64)
    m = FactorDecoder(architecture="convt", code="population", code_width=28, depth=2,
                      channels=4, loss="mse", epochs=1, progress=False)
    m.fit(x, seed=0, factors=f, space=d.space)
    raw = m.generate_unclipped(f[:8], seed=0)
    assert np.array_equal(np.clip(raw, 0.0, 1.0), m.generate(f[:8], seed=0))
    assert raw.min() < 0.0 or raw.max() > 1.0  # one epoch: outside [0, 1] somewhere

