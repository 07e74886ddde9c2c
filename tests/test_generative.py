"""Oracle tests of decoder reachability, prior coverage, their pictures, and the torch
models' ``invert`` and ``sample``."""

from __future__ import annotations

import json
from pathlib import Path

import generative_toys
import numpy as np
import pytest
import toy_plugins
from generative_toys import ConstantModel, IdentityModel, RenderModel, ReplayModel

from zsbench.errors import DataError, MissingCapability, PluginParameterError, ZsbenchError
from zsbench.plugin import EvalContext, Model, capable
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.runner import evaluate, prepare_data
from zsbench.suite import load_suite
from zsbench_plugins.metrics._errors import per_image_bce
from zsbench_plugins.metrics.prior_coverage import PriorCoverage, default_threshold, grid_cells
from zsbench_plugins.metrics.reachability import Reachability
from zsbench_plugins.models.ae import AutoEncoder
from zsbench_plugins.models.vae import VAE
from zsbench_plugins.outputs.coverage_map import CoverageMap
from zsbench_plugins.outputs.reachable_strips import ReachableStrips

SUITE = """
[suite]
name = "generative"
seeds = [0]

[dataset]
plugin = "toy_recover"
n_samples = 400

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[transect]]
name = "T"
start = { a = 0.0, b = 0.5 }
end = { a = 1.0, b = 0.5 }
points = 7

[[model]]
plugin = "identity"

[[model]]
plugin = "constant"

[[model]]
plugin = "linear"

[[metric]]
plugin = "reachability"
steps = 5

[[metric]]
plugin = "prior_coverage"
n_samples = 200

[[output]]
plugin = "reachable_strips"
steps = 5

[[output]]
plugin = "coverage_map"
n_samples = 200
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(extra=[toy_plugins, generative_toys])


@pytest.fixture(scope="module")
def data(registry: Registry, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    path = tmp_path_factory.mktemp("suite") / "suite.toml"
    path.write_text(SUITE)
    suite = load_suite(path, registry=registry)
    return suite, prepare_data(suite, registry)


def context(model: Model, data) -> EvalContext:  # noqa: ANN001
    suite, prepared = data
    model.fit(prepared.splits["train"].images, seed=0)
    return evaluate(model, prepared, label=model.name, seed=0, holdout=suite.holdout)


# -- reachability ------------------------------------------------------------------------


def test_identity_reaches_everything_with_no_gaps(data) -> None:  # noqa: ANN001
    scores = Reachability(steps=3).compute(context(IdentityModel(), data))
    for split in ("hole", "test"):
        assert scores[f"{split}_reach_excess"].value == pytest.approx(0.0, abs=1e-5)
        assert scores[f"{split}_encoder_gap"].value == pytest.approx(0.0, abs=1e-12)
        assert scores[f"{split}_reachable_share"].value == 1.0
        assert scores[f"{split}_reach_factor_err"].value < 0.01
    assert scores["decoder_gap"].value == pytest.approx(0.0, abs=1e-5)
    assert abs(scores["decoder_factor_gap"].value) < 0.01
    assert scores["decoder_gap"].headline and not scores["decoder_gap"].higher_is_better


def test_constant_model_reaches_nothing_in_the_hole(data) -> None:  # noqa: ANN001
    scores = Reachability(steps=3).compute(context(ConstantModel(), data))
    assert scores["hole_reachable_share"].value == 0.0
    assert scores["hole_reach_excess"].value > 0.05
    assert scores["hole_reach_factor_err"].value > 0.3  # (0.1, 0.1) is far from every hole point


def test_reachability_compares_the_hole_with_the_rim(data) -> None:  # noqa: ANN001
    ctx = context(ConstantModel(), data)
    assert "rim" in ctx.splits
    scores = Reachability(steps=3).compute(ctx)
    gap = scores["hole_reach_excess"].value - scores["rim_reach_excess"].value
    assert scores["decoder_gap"].value == pytest.approx(gap)
    ctx.splits = {k: v for k, v in ctx.splits.items() if k != "rim"}  # without: the test split
    scores = Reachability(steps=3).compute(ctx)
    assert "rim_reach_bce" not in scores
    gap = scores["hole_reach_excess"].value - scores["test_reach_excess"].value
    assert scores["decoder_gap"].value == pytest.approx(gap)


def test_reachable_latents_are_memoised(data) -> None:  # noqa: ANN001
    calls = []

    class Counting(IdentityModel):
        def invert(self, images: np.ndarray, *, seed: int) -> np.ndarray:
            calls.append(len(images))
            return super().invert(images, seed=seed)

    ctx = context(Counting(), data)
    Reachability(steps=3).compute(ctx)
    n = len(calls)
    Reachability(steps=3).compute(ctx)
    assert len(calls) == n == 3  # hole, rim and test, once each
    Reachability(steps=4).compute(ctx)
    assert len(calls) == 6  # another budget is another search


def test_a_model_that_cannot_invert_gets_a_clear_error(data) -> None:  # noqa: ANN001
    ctx = context(toy_plugins.LinearModel(), data)
    with pytest.raises(MissingCapability, match='model "linear".*`invert`'):
        Reachability().compute(ctx)
    assert issubclass(MissingCapability, ZsbenchError)


def test_bad_parameters() -> None:
    with pytest.raises(PluginParameterError, match="steps"):
        Reachability(steps=-1)
    with pytest.raises(PluginParameterError, match="n_samples"):
        PriorCoverage(n_samples=0)


# -- prior coverage ----------------------------------------------------------------------


def test_constant_model_covers_no_hole_and_one_cell(data) -> None:  # noqa: ANN001
    scores = PriorCoverage(n_samples=100).compute(context(ConstantModel(), data))
    assert scores["prior_hole_share"].value == 0.0
    assert scores["hole_coverage_ratio"].value == 0.0
    assert scores["prior_grid_coverage"].value == pytest.approx(1 / 100)
    assert scores["prior_invalid_share"].value == 0.0


def test_a_prior_that_replays_training_images_never_visits_the_hole(data) -> None:  # noqa: ANN001
    scores = PriorCoverage(n_samples=500).compute(context(ReplayModel(), data))
    assert scores["prior_hole_share"].value == 0.0
    assert scores["prior_grid_coverage"].value >= 0.75  # it does cover the rest


def test_a_prior_that_renders_the_whole_space_covers_the_hole(data) -> None:  # noqa: ANN001
    ctx = context(RenderModel(), data)
    scores = PriorCoverage(n_samples=2000).compute(ctx)
    assert scores["hole_space_share"].value == pytest.approx(np.pi * 0.2 ** 2, abs=0.04)
    assert scores["hole_coverage_ratio"].value == pytest.approx(1.0, abs=0.25)
    assert scores["prior_grid_coverage"].value == 1.0
    assert scores["prior_invalid_share"].value < 0.15


def test_invalid_samples_are_counted(data) -> None:  # noqa: ANN001
    class Noise(IdentityModel):
        def sample(self, n: int, *, seed: int) -> np.ndarray:
            rng = np.random.default_rng(seed)
            return rng.random((n, *self.shape_)).astype(np.float32)

    scores = PriorCoverage(n_samples=100).compute(context(Noise(), data))
    assert scores["prior_invalid_share"].value == 1.0
    assert scores["prior_grid_coverage"].value == 0.0
    assert scores["hole_coverage_ratio"].value == 0.0


def test_blur_of_the_whole_family_is_not_a_valid_image(data) -> None:  # noqa: ANN001
    class Mean(IdentityModel):  # samples the average training image: the family's blur
        def sample(self, n: int, *, seed: int) -> np.ndarray:
            mean = np.asarray(self.train_, np.float64).mean(axis=0, keepdims=True)
            return np.repeat(mean.astype(np.float32), n, axis=0)

    ctx = context(Mean(), data)
    scores = PriorCoverage(n_samples=20).compute(ctx)
    assert scores["prior_invalid_share"].value == 1.0
    # the bar is the data's, not the model's: the same for a model that reconstructs badly
    other = context(ConstantModel(), data)
    assert default_threshold(ctx) == default_threshold(other) > 0


def test_a_model_without_a_prior_gets_a_clear_error(data) -> None:  # noqa: ANN001
    with pytest.raises(MissingCapability, match='model "identity".*`sample`'):
        PriorCoverage().compute(context(IdentityModel(), data))


def test_grid_cells_counts_discrete_values_once() -> None:
    from zsbench.space import Factor, LatentSpace

    space = LatentSpace((Factor("a", 0.0, 1.0), Factor("d", values=(2.0, 200.0))))
    cells, total = grid_cells(space, np.array([[0.0, 2.0], [1.0, 200.0], [0.55, 150.0]]), 4)
    assert total == 8
    assert list(cells) == [0, 7, 5]


# -- pictures ----------------------------------------------------------------------------


def test_coverage_map_and_reachable_strips(data, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = context(RenderModel(), data)
    (cov,) = CoverageMap(n_samples=300).write(ctx, tmp_path)
    (strips,) = ReachableStrips(steps=2, images=6).write(ctx, tmp_path)
    assert cov.name == "coverage_map.png" and strips.name == "reachable_hole.png"
    for p in (cov, strips):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000
    # the metric reuses the output's samples and recovery
    keys = set(ctx.memo)
    PriorCoverage(n_samples=300).compute(ctx)
    assert set(ctx.memo) == keys


@pytest.mark.slow  # a whole run folder (6-10 s): CI's slow step
def test_run_records_scores_and_notes(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    suite = load_suite(path, registry=registry)
    outcome = run_suite(suite, registry=registry, run_dir=tmp_path / "run")
    by_label = {r.label: r for r in outcome.results}
    assert all(r.status == "ok" for r in outcome.results)
    assert by_label["identity"].scores["decoder_gap"]["value"] == pytest.approx(0.0, abs=1e-5)
    assert by_label["constant"].scores["hole_coverage_ratio"]["value"] == 0.0
    # no prior, no latent search: not applicable (skipped with the reason), no failure
    assert "`sample`" in by_label["identity"].skipped["metric prior_coverage"]
    assert "`invert`" in by_label["linear"].skipped["metric reachability"]
    assert not by_label["identity"].warnings and not by_label["identity"].failures
    files = set(by_label["constant"].files)
    assert {"pictures/constant/seed0/coverage_map.png",
            "pictures/constant/seed0/reachable_hole.png"} <= files
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())


# -- the torch models --------------------------------------------------------------------


def _blobs(n: int, seed: int, *, inside: bool) -> np.ndarray:
    toy = toy_plugins.ToyDataset(size=8)
    f = toy.space.sample_uniform(12 * n, rng=np.random.default_rng(seed))
    keep = (np.hypot(f[:, 0] - 0.5, f[:, 1] - 0.5) < 0.25) == inside
    return toy.render(f[keep][:n]).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def trained_ae() -> AutoEncoder:
    return AutoEncoder(epochs=3, batch_size=16, progress=False, device="cpu").fit(
        _blobs(96, 0, inside=False), seed=0)


def test_invert_beats_the_encoder_out_of_distribution(trained_ae: AutoEncoder) -> None:
    x = _blobs(24, 1, inside=True)
    recon = per_image_bce(x, trained_ae.reconstruct(x))
    z = trained_ae.invert(x, seed=0, steps=40)
    reach = per_image_bce(x, trained_ae.decode(z))
    assert z.shape == (24, 3) and z.dtype == np.float32
    assert np.all(reach <= recon + 1e-6)  # the best latent seen includes the start
    assert reach.mean() < recon.mean() - 1e-3


def test_invert_is_deterministic_and_batch_independent(trained_ae: AutoEncoder) -> None:
    x = _blobs(20, 2, inside=True)
    a = trained_ae.invert(x, seed=0, steps=10)
    assert np.array_equal(a, trained_ae.invert(x, seed=0, steps=10))
    assert np.array_equal(a, trained_ae.invert(x, seed=7, steps=10))
    unit = np.array([0.5, 1.0, 2.0])  # with a given step unit, other images do not matter
    np.testing.assert_allclose(trained_ae.invert(x, seed=0, steps=10, scale=unit)[:5],
                               trained_ae.invert(x[:5], seed=0, steps=10, scale=unit,
                                                 batch_size=3), atol=1e-5)
    assert np.array_equal(trained_ae.invert(x, seed=0, steps=0), trained_ae.encode(x))


def test_invert_checks_its_input(trained_ae: AutoEncoder) -> None:
    with pytest.raises(DataError, match="steps"):
        trained_ae.invert(_blobs(2, 0, inside=True), seed=0, steps=-1)
    with pytest.raises(DataError, match=r"\[N, C, H, W\]"):
        trained_ae.invert(np.zeros((2, 8, 8), np.float32), seed=0)
    with pytest.raises(DataError, match="scale"):
        trained_ae.invert(_blobs(2, 0, inside=True), seed=0, scale=np.ones(2))


def test_invert_steps_are_measured_in_the_latents_spread(trained_ae: AutoEncoder) -> None:
    x = _blobs(8, 3, inside=True)
    z0 = trained_ae.encode(x)
    small = np.abs(trained_ae.invert(x, seed=0, steps=5, scale=np.full(3, 1e-3)) - z0).max()
    large = np.abs(trained_ae.invert(x, seed=0, steps=5, scale=np.full(3, 1.0)) - z0).max()
    assert small <= 5 * 0.3 * 1e-3 * 3.2  # Adam moves at most about lr * scale per step
    assert large > 100 * small


@pytest.mark.parametrize("fixed_sigma", [None, 0.1])
def test_vae_samples_its_prior_deterministically(fixed_sigma: float | None) -> None:
    vae = VAE(epochs=1, batch_size=16, progress=False, device="cpu",
              fixed_sigma=fixed_sigma).fit(_blobs(48, 0, inside=False), seed=0)
    a = vae.sample(6, seed=3)
    assert a.shape == (6, 1, 8, 8) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, vae.sample(6, seed=3))
    assert not np.array_equal(a, vae.sample(6, seed=4))
    z = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(a, vae.decode(z), atol=1e-6)  # N(0, I), as documented
    with pytest.raises(DataError, match="sample size"):
        vae.sample(-1, seed=0)


def test_capabilities_of_the_torch_models() -> None:
    assert capable(VAE(), "sample") and capable(VAE(), "invert")
    assert capable(AutoEncoder(), "invert")
    assert not capable(AutoEncoder(), "sample")  # the AE has no prior
