"""The conformance kit (zsbench.testing): the standard plugins pass it, planted faults are
caught by the check named after them, and only by that check."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit_faults import assert_caught_by, failures

from zsbench import Dataset, EvalContext, Metric, Model, Output, Score
from zsbench.errors import DataError, ZsbenchError
from zsbench.jobs import Job
from zsbench.plugin import Executor, Recovery
from zsbench.testing import (
    BlobsDataset,
    Check,
    ConformanceError,
    check_dataset,
    check_encode_deterministic,
    check_executor,
    check_metric,
    check_model,
    check_plugin,
    make_blob_images,
    make_eval_context,
    parametrize_with_checks,
)

# ---------------------------------------------------------------------------------------
# the standard plugins, every one the hooks return, configured small where needed


def _mnist_dir() -> str:
    """A directory of tiny IDX files (written once, removed at exit)."""
    from zsbench_plugins.datasets.digits import write_idx

    root = Path(tempfile.mkdtemp(prefix="zsbench-kit-mnist-"))
    atexit.register(shutil.rmtree, root, True)
    rng = np.random.default_rng(0)
    write_idx(root / "train-images-idx3-ubyte", rng.integers(0, 256, (24, 28, 28), np.uint8))
    write_idx(root / "train-labels-idx1-ubyte", rng.integers(0, 10, 24).astype(np.uint8))
    return str(root)


SMALL: dict[str, dict[str, Any]] = {
    "polar": {"n_samples": 40, "image_size": 16},
    "gaussian": {"sampling": "uniform", "n_samples": 40},
    "gaussian_t": {"sampling": "uniform", "n_samples": 40},
    "ae": {"epochs": 1, "progress": False, "device": "cpu"},
    "vae": {"epochs": 1, "progress": False, "device": "cpu"},
    "sprites": {"sampling": "uniform", "n_samples": 40, "image_size": 16},
    "circles": {"n_per_class": 10, "image_size": 16},
    "bumps": {"n_samples": 40, "image_size": 16},
    "beta_tcvae": {"epochs": 1, "progress": False, "device": "cpu"},
    "dci": {"n_estimators": 10, "max_train": 200, "max_test": 100},
    "factor_decoder": {"epochs": 1, "progress": False, "device": "cpu"},
    "cvae": {"epochs": 1, "progress": False, "device": "cpu"},
    "diffusion": {"epochs": 2, "batch_size": 8, "progress": False, "device": "cpu", "channels": 8,
                  "channel_mults": [1, 2], "sample_steps": 4},
}
NOT_KIT: set[str] = {"shapes3d", "mpi3d"}
"""Fixed datasets read from the original files: tests/test_original_datasets.py runs the kit
on tiny files in those formats."""


def _dsprites_file() -> str:
    """A tiny dSprites .npz (written once, removed at exit)."""
    from zsbench_plugins.datasets.sprites import SpritesDataset, grid_points

    root = Path(tempfile.mkdtemp(prefix="zsbench-kit-dsprites-"))
    atexit.register(shutil.rmtree, root, True)
    f = grid_points(np.arange(0, 737280, 24576))
    values = np.concatenate([np.ones((len(f), 1)), f[:, :1] + 1, f[:, 1:]], axis=1)
    imgs = (SpritesDataset(n_samples=1).render(f)[:, 0] > 127).astype(np.uint8)
    np.savez(root / "dsprites.npz", imgs=imgs, latents_values=values)
    return str(root / "dsprites.npz")


NEEDS_CAPABILITIES = {"reachability", "prior_coverage", "reachable_strips", "coverage_map",
                      "conditional_generation", "over_prompting",
                      "conditional_strips", "conditional_scatter", "conditional_depth"}
"""Plugins that need a model's ``invert``/``sample``/``generate`` or a dataset's ``recover``,
which the kit's synthetic contexts do not offer: tested with their own oracles in
test_generative.py, test_conditional_outputs.py, test_judging.py (conditional_depth)
and test_park.py (over_prompting). (The ``emergence`` output stays in the
kit: without a training curve it writes nothing, which the kit accepts.)"""


def _standard() -> list[Any]:
    import zsbench_plugins.datasets as datasets
    import zsbench_plugins.executors as executors
    import zsbench_plugins.metrics as metrics
    import zsbench_plugins.models as models
    import zsbench_plugins.outputs as outputs

    classes = [*datasets.zsbench_add_datasets(), *models.zsbench_add_models(),
               *metrics.zsbench_add_metrics(), *outputs.zsbench_add_outputs(),
               *(c for c in executors.zsbench_add_executors() if c.name != "ray")]
    plugins: list[Any] = []
    for cls in classes:
        if cls.name in NOT_KIT or cls.name in NEEDS_CAPABILITIES:
            continue
        if cls.name == "mnist":
            plugins.append(cls(path=_mnist_dir()))
        elif cls.name == "process":
            plugins.append(cls(workers=2))
        elif cls.name == "dsprites":
            plugins.append(cls(path=_dsprites_file()))
        else:
            plugins.append(cls(**SMALL.get(cls.name, {})))
    for p in list(plugins):  # the float-pixel variants of the heatmaps (faithful E3/E4)
        if p.name in ("gaussian", "gaussian_t"):
            plugins.append(type(p)(**SMALL[p.name], pixels="float32"))
    if any(p.name == "vae" for p in plugins):  # the fixed-sigma variant (E1) too
        from zsbench_plugins.models import VAE

        plugins.append(VAE(fixed_sigma=0.1, **SMALL["vae"]))
    return plugins


@parametrize_with_checks(_standard())
def test_standard_plugins_conform(plugin: Any, check: Check) -> None:
    check()


# ---------------------------------------------------------------------------------------
# a conforming reference model and dataset, and broken variants of each


class RefModel(Model):
    """PCA with a linear decoder and shape checks: conforms to every check."""

    name = "ref"

    def __init__(self, *, latent_dim: int = 2) -> None:
        self.latent_dim = latent_dim

    def _flat(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images)
        if x.ndim != 4 or x.shape[1:] != self.shape_:
            raise DataError(f"expected images [N, {', '.join(map(str, self.shape_))}], got "
                            f"{list(x.shape)}.")
        return x.reshape(len(x), -1).astype(np.float64)

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> RefModel:
        self.shape_ = tuple(images.shape[1:])
        x = self._flat(images)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.mean_ = (x * w[:, None]).sum(0) / w.sum()
        jitter = np.random.default_rng(seed).normal(0, 1e-9, size=x.shape)
        _, _, vt = np.linalg.svd(x - self.mean_ + jitter, full_matrices=False)
        self.components_ = vt[: self.latent_dim]
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        return (self._flat(images) - self.mean_) @ self.components_.T

    def decode(self, latents: np.ndarray) -> np.ndarray:
        z = np.asarray(latents, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"expected latents [N, {self.latent_dim}], got {list(z.shape)}.")
        x = np.clip(z @ self.components_ + self.mean_, 0, 1)
        return x.reshape((len(z), *self.shape_)).astype(np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "components": self.components_}

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, shape=np.array(self.shape_), params=np.array(json.dumps(
                self.get_params())), **self._arrays())

    @classmethod
    def load(cls, path: Path) -> RefModel:
        with np.load(path, allow_pickle=False) as d:
            m = cls(**json.loads(str(d["params"])))
            m.mean_, m.components_ = d["mean"].astype(np.float64), d["components"].astype(
                np.float64)
            m.shape_ = tuple(int(s) for s in d["shape"])
        return m


class WrongShapeModel(RefModel):
    """Planted fault: decode drops the channel axis."""

    name = "wrong_shape"

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return super().decode(latents)[:, 0]


class NondeterministicModel(RefModel):
    """Planted fault: fit draws from numpy's global random state, ignoring the seed."""

    name = "nondeterministic"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> NondeterministicModel:
        super().fit(images, seed=seed, weights=weights)
        self.components_ = self.components_ + np.random.normal(0, 0.05,
                                                               self.components_.shape)
        return self


class LossySaveModel(RefModel):
    """Planted fault: save keeps half precision only."""

    name = "lossy_save"

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: v.astype(np.float16) for k, v in super()._arrays().items()}


class LenientModel(RefModel):
    """Planted fault: encode accepts images of any shape without a word."""

    name = "lenient"

    def encode(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        x = np.resize(x, (len(x), self.mean_.size))
        return (x - self.mean_) @ self.components_.T


class NotSelfModel(RefModel):
    """Planted fault: fit returns None."""

    name = "not_self"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> None:  # type: ignore[override]
        super().fit(images, seed=seed, weights=weights)


class PositionalModel(RefModel):
    """Planted fault: a positional constructor parameter."""

    name = "positional"

    def __init__(self, latent_dim: int = 2) -> None:
        self.latent_dim = latent_dim


class ConvertingModel(RefModel):
    """Planted fault: a parameter stored converted, not as given."""

    name = "converting"

    def __init__(self, *, latent_dim: int = 2, tag: str = "x") -> None:
        self.latent_dim = latent_dim
        self.tag = tag.upper()


class StochasticEncodeModel(RefModel):
    """Planted fault: encode adds fresh noise (a sample, not the mean)."""

    name = "stochastic_encode"

    def encode(self, images: np.ndarray) -> np.ndarray:
        z = super().encode(images)
        return z + np.random.default_rng().normal(0, 1e-3, z.shape)


class SeedlessModel(RefModel):
    """Planted fault: fit ignores its seed (every seed gives the same model)."""

    name = "seedless"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> SeedlessModel:
        return super().fit(images, seed=0, weights=weights, validation=validation)


class ReseedingModel(RefModel):
    """Planted fault: fit seeds torch's global generator (deterministic, but it changes the
    caller's random state)."""

    name = "reseeding"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> ReseedingModel:
        import torch

        torch.manual_seed(seed)
        return super().fit(images, seed=seed, weights=weights, validation=validation)


class ChattyModel(RefModel):
    """Planted fault: prints the loss whatever ``progress`` says (and inherits
    ``latent_dim``)."""

    name = "chatty"

    def __init__(self, *, progress: bool = True) -> None:
        self.progress = progress

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> ChattyModel:
        print("epoch 1/1 loss 0.25")
        return super().fit(images, seed=seed, weights=weights, validation=validation)


class InlineExecutor(Executor):
    """One job after another: conforms."""

    name = "inline"

    def __init__(self) -> None:
        pass

    def map(self, jobs: list[Job], task: Any, on_result: Any) -> None:
        for job in jobs:
            on_result(job, task(job))


class DroppingExecutor(InlineExecutor):
    """Planted fault: the last job's result is lost."""

    name = "dropping"

    def map(self, jobs: list[Job], task: Any, on_result: Any) -> None:
        super().map(list(jobs)[:-1], task, on_result)


class RefMSE(Metric):
    """Mean squared reconstruction error on test and hole."""

    name = "ref_mse"

    def __init__(self, *, higher_is_better: bool = False) -> None:
        self.higher_is_better = higher_is_better

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        out = {}
        for s in ("test", "hole"):
            value = float("nan")
            if s in ctx.splits and len(ctx.splits[s]):
                value = float(np.mean((ctx.splits[s].images - ctx.reconstructions[s]) ** 2))
            out[f"{s}_mse"] = Score(value, higher_is_better=self.higher_is_better)
        return out


class NaNMetric(RefMSE):
    """Planted fault: a NaN score although the hole exists (an error signalled as NaN)."""

    name = "nan_metric"

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        out = super().compute(ctx)
        out["broken"] = Score(float("nan"), higher_is_better=False)
        return out


class MutatingMetric(RefMSE):
    """Planted fault: scales the shared reconstructions in place."""

    name = "mutating"

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        ctx.reconstructions["test"] *= 0.5
        return super().compute(ctx)


class FloatRenderDataset(BlobsDataset):
    """Planted fault: renders float64 images instead of uint8."""

    name = "float_render"

    def render(self, factors: np.ndarray) -> np.ndarray:
        return super().render(factors).astype(np.float64) / 255.0


class FloatPixelsDataset(BlobsDataset):
    """Planted fault: float32 pixels in [0, 1], but ``recover`` reads them as 0..255 (the
    inverse renderer's grid truncated float renders to 0 or 1)."""

    name = "float_pixels"

    def render(self, factors: np.ndarray) -> np.ndarray:
        return super().render(factors).astype(np.float32) / np.float32(255.0)

    def recover(self, images: np.ndarray) -> Recovery:
        return super().recover(np.asarray(images) / np.float32(255.0))


class Uint8MisreadDataset(BlobsDataset):
    """Planted fault: renders uint8, but ``recover`` takes every input for floats in [0, 1]
    (as procedural sprites once did: its own renders came back with wrong factors)."""

    name = "uint8_misread"

    def recover(self, images: np.ndarray) -> Recovery:
        return super().recover(np.asarray(images, dtype=np.float32))


class GlobalRandomDataset(BlobsDataset):
    """Planted fault: draws its points from numpy's global random state."""

    name = "global_random"

    def factors(self, *, seed: int) -> np.ndarray:
        return np.random.uniform(0, 1, size=(self.n_samples, 2))


class UncheckedDataset(BlobsDataset):
    """Planted fault: renders points outside its space without complaint."""

    name = "unchecked"

    def render(self, factors: np.ndarray) -> np.ndarray:
        f = np.asarray(factors, dtype=np.float64)[:, :2]
        from zsbench.testing.data import _render_blobs

        return _render_blobs(f, self.image_shape, self.width)


class NoFileOutput(Output):
    """Planted fault: returns a path it never wrote."""

    name = "no_file"

    def __init__(self) -> None:
        pass

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        return [directory / "missing.png"]


def test_the_reference_plugins_pass_every_check() -> None:
    assert failures(list(check_model(RefModel()))) == {}
    assert failures(list(check_executor(InlineExecutor()))) == {}
    assert failures(list(check_metric(RefMSE()))) == {}
    assert failures(list(check_dataset(BlobsDataset()))) == {}


# fault -> (broken plugin, the checks that must fail and no other, a phrase of the message)
PLANTED: dict[str, tuple[Any, set[str], str]] = {
    "wrong_output_shape": (WrongShapeModel(), {"check_decode_shape_and_range",
                                               "check_reconstruct_shape_and_range"},
                           "expected [N, C, H, W] = [8, 1, 16, 16]"),
    # drawing from the global generator both ignores the seed and advances global state
    "nondeterministic": (NondeterministicModel(), {"check_deterministic_fit",
                                                   "check_fit_leaves_global_rng_unchanged"},
                         "two fits with seed=0 gave different encodings"),
    "lossy_save_load": (LossySaveModel(), {"check_save_load_round_trip"},
                        "after save -> load, encode differs"),
    "lenient_input_shape": (LenientModel(), {"check_wrong_input_shape"},
                            "returned instead of raising"),
    "fit_not_self": (NotSelfModel(), {"check_fit_returns_self"},
                     "fit returned NoneType; expected the model itself"),
    "positional_param": (PositionalModel, {"check_keyword_only_parameters"},
                         "constructor parameter 'latent_dim' is positional"),
    "converted_param": (ConvertingModel(), {"check_params_stored"},
                        "not the defaults {'latent_dim': 2, 'tag': 'x'}"),
    "nan_metric": (NaNMetric(), {"check_scores_finite_with_hole"}, "'broken': nan"),
    "wrong_direction": (RefMSE(higher_is_better=True), {"check_oracle_reconstruction"},
                        "hole_mse: perfect reconstruction 0, degraded inside the hole"),
    "mutating_metric": (MutatingMetric(), {"check_context_unchanged"},
                        "compute modified the evaluation context"),
    "float_render": (FloatRenderDataset(), {"check_load_shapes_and_dtypes",
                                            "check_render_shape_and_dtype",
                                            "check_render_any_point"},
                     "dtype float64; expected uint8"),
    "float_pixels_misread": (FloatPixelsDataset(), {"check_recover_inverts_render"},
                             "recover does not invert render"),
    "uint8_misread": (Uint8MisreadDataset(), {"check_recover_accepts_render_output"},
                      "other factors for the images as render returns them (uint8)"),
    "global_random_dataset": (GlobalRandomDataset(), {"check_load_deterministic"},
                              "two loads with seed=0 differ"),
    "unchecked_render": (UncheckedDataset(), {"check_render_rejects_bad_points"},
                         "returned instead of raising"),
    "phantom_output_file": (NoFileOutput(), {"check_write_files", "check_write_without_hole"},
                            "not a non-empty file"),
    "stochastic_encode": (StochasticEncodeModel(), {"check_encode_deterministic"},
                          "encode gave different latents for the same images"),
    "seed_ignored": (SeedlessModel(), {"check_seeds_give_different_models"},
                     "fits with seed=0 and seed=1 gave identical models"),
    "global_rng_changed": (ReseedingModel(), {"check_fit_leaves_global_rng_unchanged"},
                           "fit changed the global random state of torch"),
    "prints_without_progress": (ChattyModel(), {"check_quiet_without_progress"},
                                "with progress=False fit, encode and decode printed output "
                                "(stdout: 'epoch 1/1 loss 0.25\\n')"),
    "executor_loses_a_job": (DroppingExecutor(), {"check_executor_runs_every_job"},
                             "exactly once"),
}


@pytest.mark.parametrize(("plugin", "expected", "phrase"), list(PLANTED.values()),
                         ids=list(PLANTED))
def test_planted_faults_are_caught_by_the_named_check(plugin: Any, expected: set[str],
                                                      phrase: str) -> None:
    assert_caught_by(plugin, expected, phrase)


def test_conformance_error_is_an_assertion_and_a_zsbench_error() -> None:
    check = next(c for c in check_model(LossySaveModel()) if c.name ==
                 "check_save_load_round_trip")
    with pytest.raises(ConformanceError) as info:
        check()
    err = info.value
    assert isinstance(err, AssertionError) and isinstance(err, ZsbenchError)
    assert (err.plugin, err.check) == ("lossy_save", "check_save_load_round_trip")
    assert "max difference" in err.problem


def test_checks_are_module_level_functions_taking_the_plugin() -> None:
    check_encode_deterministic(RefModel())
    check_encode_deterministic(RefModel, image_shape=(2, 8, 8))
    with pytest.raises(ConformanceError) as info:
        check_encode_deterministic(StochasticEncodeModel(), seed=3)
    assert info.value.check == "check_encode_deterministic"
    assert info.value.plugin == "stochastic_encode"
    assert "encode must be deterministic" in info.value.problem


def test_a_model_deterministic_by_design_opts_out_of_the_seed_check() -> None:
    class ExactModel(SeedlessModel):
        """Deterministic by design."""

        name = "exact"
        uses_seed = False

    names = [c.name for c in check_model(ExactModel())]
    assert "check_seeds_give_different_models" not in names
    assert failures(list(check_model(ExactModel()))) == {}


@parametrize_with_checks([SeedlessModel(), RefModel()], expected_failures={
    "seedless": {"check_seeds_give_different_models": "a planted fault, known and marked"}})
def test_an_expected_failure_is_a_strict_xfail(plugin: Any, check: Check) -> None:
    check()


def test_expected_failures_are_marked_and_checked_by_name() -> None:
    mark = parametrize_with_checks([SeedlessModel()], expected_failures=lambda p: {
        "check_seeds_give_different_models": "by design"})
    marked = {p.id: p.marks for p in mark.args[1] if p.marks}
    assert list(marked) == ["seedless-check_seeds_give_different_models"]
    (xfail,) = marked["seedless-check_seeds_give_different_models"]
    assert xfail.name == "xfail" and xfail.kwargs["strict"] is True
    assert xfail.kwargs["reason"] == "by design"
    with pytest.raises(ValueError, match="check_seed_differ"):
        list(check_plugin(SeedlessModel(), expected_failures={"check_seed_differ": "typo"}))


def test_a_plugin_that_raises_is_reported_with_the_exception() -> None:
    class Exploding(RefModel):
        """Raises in encode."""

        name = "exploding"

        def encode(self, images: np.ndarray) -> np.ndarray:
            raise RuntimeError("kaboom")

    failed = failures(list(check_model(Exploding())))
    assert "check_encode_shape" in failed
    assert failed["check_encode_shape"] == ('plugin "exploding" failed check_encode_shape: '
                                            "raised RuntimeError: kaboom")


def test_parametrize_with_checks_makes_one_id_per_plugin_and_check() -> None:
    mark = parametrize_with_checks([RefModel(), RefModel(latent_dim=3), RefMSE, BlobsDataset()])
    argnames, params = mark.args
    assert argnames == ("plugin", "check")
    ids = [p.id for p in params]
    assert len(ids) == len(set(ids))
    assert "ref-check_encode_shape" in ids and "ref2-check_encode_shape" in ids
    assert "ref_mse-check_oracle_reconstruction" in ids
    assert "blobs-check_render_any_point" in ids
    model_checks = [i.split("-", 1)[1] for i in ids if i.startswith("ref-")]
    assert model_checks == [c.name for c in check_model(RefModel())]


def test_a_factory_and_a_label_are_accepted() -> None:
    checks = list(check_model(lambda: RefModel(latent_dim=1), label="ref-1d",
                              image_shape=(2, 12, 10)))
    assert failures(checks) == {}
    with pytest.raises(TypeError, match="not a subclass"):
        list(check_model(RefMSE))


def test_checks_leave_the_global_random_state_alone() -> None:
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    for c in check_model(RefModel()):
        c()
    assert np.array_equal(np.random.random(3), expected)


def test_blob_images_and_eval_contexts() -> None:
    x = make_blob_images(5, (3, 8, 10), seed=1)
    assert x.shape == (5, 3, 8, 10) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.array_equal(x, make_blob_images(5, (3, 8, 10), seed=1))
    ctx = make_eval_context()
    assert set(ctx.splits) == {"train", "test", "hole", "rim"}
    assert ctx.holdout.contains(ctx.splits["hole"].factors, ctx.space).all()
    assert len(ctx.splits["rim"]) == len(ctx.splits["hole"])
    assert not ctx.holdout.contains(ctx.splits["rim"].factors, ctx.space).any()
    assert ctx.latents["train"].shape == (len(ctx.splits["train"]), 3)
    for s in ctx.splits:
        assert np.array_equal(ctx.reconstructions[s], ctx.splits[s].images)
    assert ctx.transects[0].in_hole.any() and not ctx.transects[0].in_hole.all()
    bad = make_eval_context(degrade_hole=0.8)
    err = np.abs(bad.reconstructions["hole"] - bad.splits["hole"].images).mean(axis=(1, 2, 3))
    assert (err > 0).all()
    assert np.corrcoef(err, bad.splits["hole"].depth)[0, 1] > 0.9
    assert np.array_equal(bad.reconstructions["test"], bad.splits["test"].images)
    flat = make_eval_context(hole=False)
    assert "hole" not in flat.splits and "rim" not in flat.splits and flat.holdout is None
    assert not flat.transects[0].in_hole.any()
    assert isinstance(flat.dataset, Dataset)


# ---------------------------------------------------------------------------------------
# the guide's minimal model plugin, straight from docs/plugins.md

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _guide_module(path: str = "mypkg/plugin.py") -> Any:
    """docs/plugins.md's ``# <path>`` code block, executed as a module."""
    import re
    import sys
    import types

    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    code = next(b for b in blocks if b.startswith(f"# {path}\n"))
    name = path.removesuffix(".py").replace("/", "_")
    module = types.ModuleType(name)
    sys.modules[name] = module  # picklable classes, as an installed module's are
    exec(compile(code, f"{GUIDE}:{path}", "exec"), module.__dict__)  # noqa: S102
    return module


def test_the_guides_minimal_model_passes_the_kit() -> None:
    module = _guide_module()
    (cls,) = module.zsbench_add_models()
    assert cls.name == "tinypca"
    assert failures(list(check_model(cls(latent_dim=2)))) == {}
    assert failures(list(check_model(cls, image_shape=(3, 12, 12)))) == {}


def test_the_guides_torch_beta_vae_passes_the_kit() -> None:
    module = _guide_module("mypkg/betavae.py")
    (cls,) = module.zsbench_add_models()
    assert cls.name == "betavae"
    quick = {"epochs": 2, "hidden": 32, "progress": False, "device": "cpu"}
    assert failures(list(check_model(cls(latent_dim=2, **quick)))) == {}
    assert failures(list(check_model(cls(beta=1.0, **quick), image_shape=(3, 12, 10)))) == {}
    with pytest.raises(ZsbenchError, match='parameter "beta"'):
        cls(beta=-1.0)


def test_the_guides_torch_beta_vae_runs_in_a_suite(tmp_path: Path) -> None:
    from zsbench.registry import Registry
    from zsbench.run import run_suite
    from zsbench.suite import load_suite

    suite_file = tmp_path / "suite.toml"
    suite_file.write_text("""
[suite]
name = "guide-torch"
seeds = [0, 1]
[dataset]
plugin = "polar"
n_samples = 120
image_size = 16
[[holdout]]
shape = "ball"
center = { a = 1.25, b = 1.0 }
radius = 0.3
[[model]]
plugin = "betavae"
label = "beta"
beta = [1.0, 4.0]
epochs = 2
hidden = 32
progress = false
device = "cpu"
[[metric]]
plugin = "holdout_reconstruction"
""")
    registry = Registry(extra=[_guide_module("mypkg/betavae.py")])
    suite = load_suite(suite_file, registry=registry)
    out = run_suite(suite, registry=registry, run_dir=tmp_path / "run")
    assert sorted((r.label, r.seed) for r in out.results) == [
        ("beta[beta=1.0]", 0), ("beta[beta=1.0]", 1), ("beta[beta=4.0]", 0),
        ("beta[beta=4.0]", 1)]
    assert all(r.status == "ok" for r in out.results), [r.error for r in out.results]
    assert all(np.isfinite(r.scores["hole_bce"]["value"]) for r in out.results)
    assert out.results[0].training["epochs_run"] == 2


def test_the_guides_minimal_model_runs_in_a_suite(tmp_path: Path) -> None:
    from zsbench.registry import Registry
    from zsbench.run import run_suite
    from zsbench.suite import load_suite

    suite_file = tmp_path / "suite.toml"
    suite_file.write_text("""
[suite]
name = "guide"
[dataset]
plugin = "polar"
n_samples = 150
image_size = 16
[[holdout]]
shape = "ball"
center = { a = 1.25, b = 1.0 }
radius = 0.3
[[model]]
plugin = "tinypca"
label = "pca-3"
latent_dim = 3
[[metric]]
plugin = "holdout_reconstruction"
""")
    registry = Registry(extra=[_guide_module()])
    assert registry.get("model", "tinypca").distribution == "(in code)"
    suite = load_suite(suite_file, registry=registry)
    out = run_suite(suite, registry=registry, run_dir=tmp_path / "run")
    assert [r.status for r in out.results] == ["ok"]
    assert np.isfinite(out.results[0].scores["hole_bce"]["value"])
