"""Inverse rendering (``recover``), the rim split and the factor_recovery metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zsbench.errors import MissingCapability, SuiteError
from zsbench.plugin import EvalContext, Model, capable
from zsbench.registry import Registry
from zsbench.runner import PreparedData, evaluate, prepare_data
from zsbench.suite import load_suite
from zsbench_plugins.datasets import GaussianDataset, GaussianTDataset, PolarDataset
from zsbench_plugins.metrics import FactorRecovery

POLAR_SUITE = """
[suite]
name = "polar_rim"
seeds = [0]

[dataset]
plugin = "polar"
n_samples = 600
image_size = 32

[splits]
test_fraction = 0.2
{splits}

[[holdout]]
shape = "ball"
center = {{ a = 1.25, b = 1.0 }}
radius = 0.4

[[model]]
plugin = "ae"
epochs = 1

[[metric]]
plugin = "factor_recovery"
"""


def _random_points(dataset, n: int, seed: int) -> np.ndarray:
    return dataset.space.sample_uniform(n, rng=np.random.default_rng(seed))


# -- recover: exact renders at random (off-grid) points give their factors back ------------

@pytest.mark.parametrize("size", [32, 64])
def test_polar_recovers_exact_renders(size: int) -> None:
    d = PolarDataset(image_size=size)
    f = _random_points(d, 300, seed=size)
    rec = d.recover(d.render(f).astype(np.float32) / 255.0)
    err = np.abs(rec.factors - f)
    # stated tolerance: mean under 0.01, every point within 0.06 (ranges 1.5 and 2)
    assert err.mean() < 0.01
    assert err.max() < 0.06
    assert rec.residual.shape == (300,) and (rec.residual < 0.03).all()
    assert capable(d, "recover")


def test_gaussian_recovers_exact_renders() -> None:
    d = GaussianDataset(sampling="uniform", n_samples=10)
    f = _random_points(d, 300, seed=1)
    rec = d.recover(d.render(f).astype(np.float32) / 255.0)
    rel = np.abs(rec.factors - f) / np.array([x.span for x in d.space.factors])
    # stated tolerance: mean under 1 % of each factor's range, every point within 6 %
    assert rel.mean() < 0.01
    assert rel.max() < 0.06
    assert (rec.residual < 0.03).all()


def test_gaussian_t_recovers_exact_renders_and_df() -> None:
    d = GaussianTDataset(sampling="uniform", n_samples=10)
    f = _random_points(d, 300, seed=2)
    rec = d.recover(d.render(f).astype(np.float32) / 255.0)
    assert np.array_equal(rec.factors[:, 3], f[:, 3])  # df by best match: all right
    rel = np.abs(rec.factors[:, :3] - f[:, :3]) / np.array(
        [x.span for x in d.space.factors[:3]])
    assert rel.mean() < 0.01
    assert rel.max() < 0.06


def test_recovery_residual_flags_images_outside_the_family() -> None:
    d = PolarDataset(image_size=32)
    f = _random_points(d, 20, seed=3)
    exact = d.render(f).astype(np.float32) / 255.0
    noise = np.random.default_rng(0).uniform(0, 1, exact.shape).astype(np.float32)
    assert d.recover(noise).residual.min() > 5 * d.recover(exact).residual.max()


def test_recover_rejects_a_wrong_shape() -> None:
    from zsbench.errors import DataError

    with pytest.raises(DataError, match=r"\[N, 1, 32, 32\]"):
        PolarDataset(image_size=32).recover(np.zeros((2, 1, 16, 16), np.float32))


# -- the rim split --------------------------------------------------------------------------

def _polar(tmp_path: Path, splits: str = "") -> tuple:
    path = tmp_path / "polar_rim.toml"
    path.write_text(POLAR_SUITE.format(splits=splits))
    registry = Registry()
    suite = load_suite(path, registry=registry)
    return suite, registry


def test_rim_mirrors_the_hole_depths_outside_the_hole(tmp_path: Path) -> None:
    suite, registry = _polar(tmp_path)
    data = prepare_data(suite, registry)
    hole, rim = data.splits["hole"], data.splits["rim"]
    assert len(rim) == len(hole) == data.counts["rim"]
    assert (rim.depth < 0).all()
    assert not suite.holdout.contains(rim.factors, data.space).any()
    # the depth distribution mirrored: sorted depths match closely
    assert np.abs(np.sort(-rim.depth) - np.sort(hole.depth)).max() < 0.02
    assert np.array_equal(rim.images, data.dataset.render(rim.factors).astype(np.float32) / 255)
    # fresh points: none of them is a dataset point; deterministic from the data seed
    train = data.splits["train"].factors
    assert not (np.abs(rim.factors[:, None] - train[None]).sum(-1) < 1e-12).any()
    again = prepare_data(suite, registry)
    assert np.array_equal(again.splits["rim"].factors, rim.factors)
    # the other splits are those of a suite without a rim
    suite0, _ = _polar(tmp_path, "rim_points = 0")
    without = prepare_data(suite0, registry)
    assert "rim" not in without.splits
    for name in ("train", "test", "hole"):
        assert np.array_equal(without.splits[name].factors, data.splits[name].factors)


def test_rim_points_caps_the_rim(tmp_path: Path) -> None:
    suite, registry = _polar(tmp_path, "rim_points = 10")
    assert len(prepare_data(suite, registry, render=False).splits["rim"]) == 10


def test_rim_points_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="rim_points"):
        _polar(tmp_path, "rim_points = -1")


# -- factor_recovery: oracles ---------------------------------------------------------------

class Identity(Model):
    """Returns its input exactly (latent = the flattened image)."""

    name = "identity"

    def __init__(self) -> None:
        pass

    def encode(self, images: np.ndarray) -> np.ndarray:
        self.shape_ = images.shape[1:]
        return images.reshape(len(images), -1)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return latents.reshape((len(latents), *self.shape_)).astype(np.float32)


class NearestTraining(Model):
    """Returns the nearest training image (latent = its index)."""

    name = "nearest_training"

    def __init__(self, train: np.ndarray) -> None:
        self.train_ = train

    def encode(self, images: np.ndarray) -> np.ndarray:
        t = self.train_.reshape(len(self.train_), -1)
        x = images.reshape(len(images), -1)
        d = (x * x).sum(1)[:, None] - 2 * x @ t.T + (t * t).sum(1)[None]
        return np.argmin(d, axis=1)[:, None].astype(np.float64)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return self.train_[latents[:, 0].astype(int)]


@pytest.fixture(scope="module")
def polar_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[PreparedData, object]:
    suite, registry = _polar(tmp_path_factory.mktemp("polar"))
    return prepare_data(suite, registry), suite.holdout


def _context(data: PreparedData, holdout: object, model: Model) -> EvalContext:
    return evaluate(model, data, label=model.name, seed=0, holdout=holdout)


def test_identity_model_scores_no_factor_error(polar_data) -> None:
    data, holdout = polar_data
    scores = FactorRecovery().compute(_context(data, holdout, Identity()))
    for split in ("train", "test", "rim", "hole"):
        assert scores[f"{split}_factor_err"].value < 0.005
        assert scores[f"{split}_fail_rate"].value == 0.0
    assert 0.5 < scores["hole_rim_factor_err_ratio"].value < 2.0
    assert scores["hole_rim_factor_err_ratio"].headline


def test_nearest_training_image_errs_more_deeper_in_the_hole(polar_data) -> None:
    data, holdout = polar_data
    model = NearestTraining(data.splits["train"].images)
    ctx = _context(data, holdout, model)
    scores = FactorRecovery(depth_bins=3).compute(ctx)
    assert scores["hole_factor_err_depth_corr"].value > 0.5
    bins = [scores[f"hole_factor_err_depth{b}"].value for b in range(3)]
    assert bins[0] < bins[1] < bins[2]
    assert scores["hole_rim_factor_err_ratio"].value > 2.0
    # the recovery is memoised in the context for every other metric and output
    assert "recover:reconstructions:hole" in ctx.memo


def test_factor_recovery_needs_a_dataset_that_recovers() -> None:
    from zsbench.testing import make_eval_context
    from zsbench_plugins.datasets import DigitsDataset

    ctx = make_eval_context()
    ctx.dataset = DigitsDataset()
    with pytest.raises(MissingCapability, match=r'metric "factor_recovery".*"digits" cannot '
                                                r"recover factors"):
        FactorRecovery().compute(ctx)


def test_factor_recovery_tolerance_is_checked() -> None:
    from zsbench.errors import PluginParameterError

    with pytest.raises(PluginParameterError, match="tolerance"):
        FactorRecovery(tolerance=2.0)


def test_a_recovery_that_cannot_read_exact_images_voids_the_scores_with_a_clear_error() -> None:
    from zsbench.errors import DataError
    from zsbench.testing import BlobsDataset, make_eval_context

    class Misreading(BlobsDataset):
        """Reads float images as 0..255: every recovered factor is wrong, yet a number."""

        name = "misreading"

        def recover(self, images: np.ndarray):
            return super().recover(np.asarray(images) / np.float32(255.0))

    ctx = make_eval_context(hole=True)
    scores = FactorRecovery().compute(ctx)  # the honest blobs pass the check
    assert scores["hole_fail_rate"].value == 0.0
    assert "recover:verified" in ctx.memo
    bad = make_eval_context(hole=True)
    bad.dataset = Misreading(n_samples=240, size=16)
    with pytest.raises(DataError, match=r'dataset "misreading" does not read its own images '
                                        r"back.*exact hole images.*would be void"):
        FactorRecovery().compute(bad)


def test_float_pixel_heatmaps_are_recovered_like_uint8_ones() -> None:
    """The faithful profiles train on float32 heatmaps: their recovery must read the same
    factors as from the uint8 images (it once truncated float renders to 0 and 1)."""
    pts = np.array([[0.3, 2.0, -0.5], [4.0, 1.1, 0.6], [1.7, 1.7, 0.0]])
    for cls in (GaussianDataset, GaussianTDataset):
        dim = cls().space.dim
        p = np.hstack([pts, np.full((3, dim - 3), 2.0)]) if dim > 3 else pts
        as_float = cls(pixels="float32")
        rec = as_float.recover(as_float.render(p)).factors
        spans = np.array([f.span for f in as_float.space.factors])
        assert (np.abs(rec - p) / spans).max() < 0.03


def _mirror_classes():
    from zsbench.testing import BlobsDataset
    from zsbench.testing.data import _render_blobs

    class Mirror(BlobsDataset):
        """Blobs drawn at x and at 1 - x: the images show x only up to that mirror."""

        name = "mirror_blobs"

        def render(self, factors: np.ndarray) -> np.ndarray:
            f = self.space.check(factors)
            flipped = f.copy()
            flipped[:, 0] = 1.0 - f[:, 0]
            return np.maximum(_render_blobs(f, self.image_shape, self.width),
                              _render_blobs(flipped, self.image_shape, self.width))

    class MirrorMeasured(Mirror):
        """The same, with x measured modulo the mirror."""

        name = "mirror_blobs_measured"

        def factor_distance(self, truth: np.ndarray, found: np.ndarray) -> np.ndarray:
            d = super().factor_distance(truth, found)
            d[:, 0] = np.minimum(d[:, 0], np.abs(found[:, 0] - (1.0 - truth[:, 0])))
            return d

    return Mirror, MirrorMeasured


def _perfect_context(dataset):
    """A no-hole blob context re-rendered by ``dataset``, reconstructed perfectly."""
    import dataclasses

    from zsbench.plugin import Split, to_float
    from zsbench.testing import make_eval_context

    ctx = make_eval_context(hole=False)
    splits = {k: Split(factors=s.factors, images=to_float(dataset.render(s.factors)),
                       depth=s.depth) for k, s in ctx.splits.items()}
    return dataclasses.replace(ctx, dataset=dataset, splits=splits,
                               reconstructions={k: s.images for k, s in splits.items()})


def test_a_factor_the_images_show_only_up_to_a_symmetry_must_be_measured_modulo_it() -> None:
    """A perfect reconstruction must score no factor error: where the images cannot tell
    x from 1 - x, the plain difference would count half the perfect images as failures."""
    from zsbench.errors import DataError
    from zsbench.testing import check_dataset

    mirror, measured = _mirror_classes()
    failed = {}
    for check in check_dataset(mirror()):
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collecting the kit's verdicts
            failed[check.name] = str(exc)
    assert set(failed) == {"check_recover_inverts_render"}
    assert "Override factor_distance to measure x" in failed["check_recover_inverts_render"]
    for check in check_dataset(measured()):
        check()
    with pytest.raises(DataError, match=r'"mirror_blobs" recovers its own exact test images '
                                        r"with a mean factor error.*factor_distance"):
        FactorRecovery().compute(_perfect_context(mirror()))
    scores = FactorRecovery().compute(_perfect_context(measured()))
    assert scores["test_factor_err"].value < 0.01
    assert scores["test_fail_rate"].value == 0.0
