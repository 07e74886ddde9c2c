"""The model checks: shapes and ranges, batch independence, determinism (same seed, same
model; different seeds, different models; a deterministic ``encode``), the global random
state left alone, quiet without progress, exact save and load, clear errors."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.plugin import capable
from zsbench.testing._base import (
    Check,
    PluginLike,
    _Fail,
    bind,
    changed_rng_states,
    conformance_check,
    deterministic_torch,
    equal_params,
    expect_clear_error,
    global_rng,
    max_diff,
    rng_states,
    shape_of,
)
from zsbench.testing.capabilities import capability_checks
from zsbench.testing.common import COMMON_CHECKS
from zsbench.testing.data import DEFAULT_IMAGE_SHAPE, DEFAULT_N_IMAGES
from zsbench.testing.generators import GENERATOR_CHECKS, check_generate_save_load_round_trip
from zsbench.testing.model_harness import ModelHarness, _images_out, _latents_out


model_check = conformance_check(ModelHarness)


@model_check
def check_fit_returns_self(h: ModelHarness) -> None:
    """``fit`` returns the model itself."""
    returned = h.fit_returned()
    if returned is not h.fitted():
        raise _Fail(f"fit returned {type(returned).__name__}; expected the model itself "
                    "(return self), so that model.fit(x, seed=0).encode(x) works.")


@model_check
def check_encode_shape(h: ModelHarness) -> None:
    """``encode -> [N, D]`` floats, D independent of the batch."""
    m = h.fitted()
    n = len(h.images)
    z = _latents_out(m.encode(h.images), "encode(images [N, C, H, W])", n)
    z1 = _latents_out(m.encode(h.images[:1]), "encode(one image [1, C, H, W])", 1)
    if z1.shape[1] != z.shape[1]:
        raise _Fail(f"encode gave D = {z.shape[1]} for {n} images but D = {z1.shape[1]} "
                    "for one image; D must not depend on the batch.")


@model_check
def check_encode_deterministic(h: ModelHarness) -> None:
    """Encoding the same images twice gives identical latents (the latent *mean*: no
    sampling in ``encode``)."""
    m = h.fitted()
    a = np.asarray(m.encode(h.probe))
    b = np.asarray(m.encode(h.probe))
    if a.shape != b.shape or not np.array_equal(a, b):
        diff = max_diff(a, b) if a.shape == b.shape else f"shape {list(b.shape)}"
        raise _Fail(f"encode gave different latents for the same images on two calls (max "
                    f"difference {diff}); encode must be deterministic: return the latent "
                    "mean, not a sample, and use no dropout or batch statistics (eval mode).")


@model_check
def check_decode_shape_and_range(h: ModelHarness) -> None:
    """``decode -> [N, C, H, W]`` in [0, 1], also for latents far from the training codes."""
    m = h.fitted()
    z = _latents_out(m.encode(h.probe), "encode", len(h.probe))
    _images_out(m.decode(z), "decode(latents [N, D])", len(z), h.image_shape)
    rng = np.random.default_rng(h.seed)
    far = z.mean(0) + 3.0 * (z.std(0) + 1.0) * rng.standard_normal(z.shape)
    _images_out(m.decode(far), "decode(latents far from the training codes)", len(far),
                h.image_shape)
    _images_out(m.decode(z[:1]), "decode(one latent [1, D])", 1, h.image_shape)


@model_check
def check_reconstruct_shape_and_range(h: ModelHarness) -> None:
    """``reconstruct`` has decode's shape and range and equals ``decode(encode(x))``."""
    m = h.fitted()
    r = _images_out(m.reconstruct(h.probe), "reconstruct(images)", len(h.probe),
                    h.image_shape)
    if not h.encode_is_deterministic():
        return  # check_encode_deterministic reports it
    via = np.asarray(m.decode(m.encode(h.probe)))
    if via.shape == r.shape and not np.allclose(r, via, rtol=1e-4, atol=1e-5):
        raise _Fail("reconstruct(x) differs from decode(encode(x)) by up to "
                    f"{max_diff(r, via):.3g}; the runner evaluates decode(encode(x)), "
                    "so both must agree.")


@model_check
def check_encode_batch_consistent(h: ModelHarness) -> None:
    """An image's latent (and a latent's image) does not depend on its batch."""
    m = h.fitted()
    n = len(h.images)
    whole = _latents_out(m.encode(h.images), "encode", n)
    if not h.encode_is_deterministic():
        return  # check_encode_deterministic reports it
    parts = np.concatenate([np.asarray(m.encode(h.images[i:i + 5])) for i in range(0, n, 5)])
    single = np.asarray(m.encode(h.images[3:4]))
    if parts.shape != whole.shape:
        raise _Fail(f"encoding in batches of 5 gave shape {list(parts.shape)}, all at "
                    f"once {list(whole.shape)}.")
    if not np.allclose(parts, whole, rtol=1e-4, atol=1e-5):
        raise _Fail("encoding in batches of 5 differs from encoding all at once (max "
                    f"difference {max_diff(parts, whole):.3g}); an image's latent must "
                    "not depend on its batch (eval mode, no batch statistics).")
    if not np.allclose(single, whole[3:4], rtol=1e-4, atol=1e-5):
        raise _Fail("encoding one image alone differs from encoding it in a batch.")
    zd = whole[:6]
    dec_whole = np.asarray(m.decode(zd))
    dec_one = np.asarray(m.decode(zd[2:3]))
    if not np.allclose(dec_one, dec_whole[2:3], rtol=1e-4, atol=1e-5):
        raise _Fail("decoding one latent alone differs from decoding it in a batch.")


@model_check
def check_inputs_not_modified(h: ModelHarness) -> None:
    """``fit``, ``encode`` and ``decode`` leave the arrays they are given unchanged."""
    images = h.images.copy()
    model = h.fresh()
    weights = np.linspace(0.5, 1.5, len(images))
    w_copy = weights.copy()
    with global_rng(1), deterministic_torch():
        model.fit(images, seed=h.seed, weights=weights)
    if not np.array_equal(images, h.images) or not np.array_equal(weights, w_copy):
        raise _Fail("fit modified the images or weights it was given; work on copies.")
    z = np.asarray(model.encode(images))
    if not np.array_equal(images, h.images):
        raise _Fail("encode modified the images it was given; work on copies.")
    z_copy = z.copy()
    model.decode(z)
    if not np.array_equal(z, z_copy):
        raise _Fail("decode modified the latents it was given; work on copies.")


@model_check
def check_deterministic_fit(h: ModelHarness) -> None:
    """The same seed gives the same model, whatever the global random state."""
    a, _ = h.fit_fresh(global_seed=1)
    b, _ = h.fit_fresh(global_seed=2)
    za, zb = np.asarray(a.encode(h.probe)), np.asarray(b.encode(h.probe))
    if not h.encode_is_deterministic():
        return  # check_encode_deterministic reports it
    if za.shape != zb.shape or not np.allclose(za, zb, rtol=1e-4, atol=1e-5):
        diff = max_diff(za, zb) if za.shape == zb.shape else "shape"
        raise _Fail(f"two fits with seed={h.seed} gave different encodings (max difference "
                    f"{diff}) when the global random state differed; draw every random "
                    "number from the `seed` argument (np.random.default_rng(seed), "
                    "torch.Generator().manual_seed(seed)), never from global state.")
    ra, rb = np.asarray(a.decode(za)), np.asarray(b.decode(za))
    if not np.allclose(ra, rb, rtol=1e-4, atol=1e-5):
        raise _Fail(f"two fits with seed={h.seed} decode the same latents differently (max "
                    f"difference {max_diff(ra, rb):.3g}).")


@model_check
def check_seeds_give_different_models(h: ModelHarness) -> None:
    """Two seeds give two different models (a fit that ignores its seed would make every
    seed of a suite a copy of the first). Models that are deterministic by design set the
    class attribute ``uses_seed = False`` and are not given this check."""
    a = h.fitted()
    b, _ = h.fit_fresh(seed=h.seed + 1)
    za, zb = np.asarray(a.encode(h.probe)), np.asarray(b.encode(h.probe))
    if za.shape == zb.shape and np.array_equal(za, zb) and np.array_equal(
            np.asarray(a.decode(za)), np.asarray(b.decode(za))):
        raise _Fail(f"fits with seed={h.seed} and seed={h.seed + 1} gave identical models; "
                    "fit must draw its randomness (initial weights, shuffling, noise) from "
                    "the `seed` argument. A model that is deterministic by design (an exact "
                    "PCA) says so with the class attribute uses_seed = False.")


@model_check
def check_fit_leaves_global_rng_unchanged(h: ModelHarness) -> None:
    """``fit``, ``encode`` and ``decode`` neither reseed nor advance the global random
    state of python's ``random``, numpy or torch."""
    model = h.fresh()
    with global_rng(2024), deterministic_torch():
        before = rng_states()
        model.fit(h.images.copy(), seed=h.seed)
        after_fit = rng_states()
        model.decode(np.asarray(model.encode(h.probe)))
        after_use = rng_states()
    changed = changed_rng_states(before, after_fit)
    if changed:
        raise _Fail(f"fit changed the global random state of {', '.join(changed)}; a "
                    "plugin must not seed nor draw from global generators (no "
                    "torch.manual_seed, np.random.seed or np.random.*): use "
                    "np.random.default_rng(seed), a torch.Generator, or "
                    "zsbench.training.init_module for initial weights.")
    changed = changed_rng_states(after_fit, after_use)
    if changed:
        raise _Fail(f"encode or decode changed the global random state of "
                    f"{', '.join(changed)}; they must not draw random numbers.")


@model_check
def check_quiet_without_progress(h: ModelHarness) -> None:
    """With ``progress=False`` (when the model has that parameter) ``fit``, ``encode`` and
    ``decode`` print nothing on stdout or stderr; a model without it prints nothing at
    all. (Warnings are not counted.)"""
    model = h.fresh()
    if "progress" in h.cls.parameters():
        params = model.get_params()
        params["progress"] = False
        model = h.cls(**params)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings(), global_rng(3), deterministic_torch():
        warnings.simplefilter("ignore")
        model.fit(h.images.copy(), seed=h.seed)
        model.decode(np.asarray(model.encode(h.probe)))
    printed = {k: v.getvalue() for k, v in (("stdout", out), ("stderr", err)) if v.getvalue()}
    if printed:
        what = "with progress=False" if "progress" in h.cls.parameters() else "(it has no " \
            "progress parameter)"
        shown = "; ".join(f"{k}: {v[:120]!r}" for k, v in printed.items())
        raise _Fail(f"{what} fit, encode and decode printed output ({shown}); print nothing "
                    "unless progress=True (a progress bar on stderr), so CI logs and the "
                    "runner's own messages stay readable.")


@model_check
def check_fit_accepts_weights_and_validation(h: ModelHarness) -> None:
    """``fit`` takes per-sample ``weights [N]`` and ``validation`` images."""
    weights = np.linspace(0.5, 1.5, len(h.images))
    weights /= weights.mean()
    m, _ = h.fit_fresh(weights=weights, validation=h.validation.copy())
    _latents_out(m.encode(h.probe), "encode after fit(weights=, validation=)", len(h.probe))


@model_check
def check_save_load_round_trip(h: ModelHarness) -> None:
    """``save`` writes exactly the path given; ``load`` gives identical parameters and
    outputs."""
    m = h.fitted()
    with tempfile.TemporaryDirectory(prefix="zsbench-kit-") as tmp:
        path = Path(tmp) / "model.ckpt"
        m.save(path)
        if not path.is_file():
            raise _Fail(f"save(path) did not write the file {path.name}; write exactly "
                        "to the path given (the runner names it).")
        loaded = type(m).load(path)
    if type(loaded) is not type(m):
        raise _Fail(f"load returned {type(loaded).__name__}; expected {type(m).__name__}.")
    if not equal_params(loaded.get_params(), m.get_params()):
        raise _Fail(f"the loaded model has parameters {loaded.get_params()!r}; expected "
                    f"{m.get_params()!r}.")
    if not h.encode_is_deterministic():
        return  # check_encode_deterministic reports it
    z, z2 = np.asarray(m.encode(h.probe)), np.asarray(loaded.encode(h.probe))
    if z.shape != z2.shape or not np.allclose(z, z2, rtol=0.0, atol=1e-6):
        diff = max_diff(z, z2) if z.shape == z2.shape else f"shape {list(z2.shape)}"
        raise _Fail(f"after save -> load, encode differs from the saved model's (max "
                    f"difference {diff}); expected identical outputs: save every "
                    "parameter at full precision.")
    x, x2 = np.asarray(m.decode(z)), np.asarray(loaded.decode(z))
    if x.shape != x2.shape or not np.allclose(x, x2, rtol=0.0, atol=1e-6):
        diff = max_diff(x, x2) if x.shape == x2.shape else f"shape {list(x2.shape)}"
        raise _Fail(f"after save -> load, decode differs from the saved model's (max "
                    f"difference {diff}); expected identical outputs.")


@model_check
def check_wrong_input_shape(h: ModelHarness) -> None:
    """A wrong input shape raises a clear error instead of returning garbage."""
    m = h.fitted()
    c, hh, ww = h.image_shape
    z = np.asarray(m.encode(h.probe))
    bad_inputs: list[tuple[str, Callable[[], Any]]] = [
        (f"encode(images without the channel axis {shape_of(h.probe[:, 0])})",
         lambda: m.encode(h.probe[:, 0])),
        (f"encode(images of another size [8, {c}, {hh + 4}, {ww + 4}])",
         lambda: m.encode(np.pad(h.probe, ((0, 0), (0, 0), (2, 2), (2, 2))))),
        (f"decode(latents of the wrong width [8, {z.shape[1] + 1}])",
         lambda: m.decode(np.hstack([z, z[:, :1]]))),
    ]
    for what, call in bad_inputs:
        expect_clear_error(what, call, "say which shape was expected and which was given",
                           "(e.g. zsbench.errors.DataError) naming the expected shape")


@model_check
def check_training_summary_json(h: ModelHarness) -> None:
    """``training_summary()`` is a JSON-serialisable dict with string keys."""
    summary = h.fitted().training_summary()
    if not isinstance(summary, dict) or not all(isinstance(k, str) for k in summary):
        raise _Fail(f"training_summary() returned {summary!r}; expected a dict with "
                    "string keys (it goes into the manifest).")
    try:
        json.dumps(summary, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise _Fail(f"training_summary() is not JSON-serialisable: {exc}; use plain "
                    "floats, ints, strings, lists and dicts.") from exc


MODEL_CHECKS = (
    check_fit_returns_self, check_encode_shape, check_encode_deterministic,
    check_decode_shape_and_range, check_reconstruct_shape_and_range,
    check_encode_batch_consistent, check_inputs_not_modified, check_deterministic_fit,
    check_seeds_give_different_models, check_fit_leaves_global_rng_unchanged,
    check_quiet_without_progress, check_fit_accepts_weights_and_validation,
    check_save_load_round_trip, check_wrong_input_shape, check_training_summary_json,
)
"""Every model check, in the order :func:`check_model` yields them (after the common ones)."""


def check_model(model: PluginLike, *, image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                n_images: int = DEFAULT_N_IMAGES, seed: int = 0,
                label: str | None = None) -> Iterator[Check]:
    """Yield the checks of a model plugin as :class:`Check` ``(name, run)`` pairs.

    ``model``: an instance configured for a quick fit (e.g. ``MyModel(epochs=1)``; each check
    works on a deep copy), a class (default parameters) or a zero-argument factory. The
    model is fitted on ``n_images`` blob images of ``image_shape`` ``(C, H, W)`` with
    ``seed``; pass the shape your architecture needs. The fit is shared by the checks that
    only read it; the determinism, seed, random-state, quietness and weights checks fit
    their own copies. ``check_seeds_give_different_models`` is left out for a model class
    with ``uses_seed = False``. The checks follow the model's capabilities: the encoder and
    decoder checks for a model that can ``encode``, with the checks of the ``sample``,
    ``invert`` and ``posterior`` it offers (:mod:`zsbench.testing.capabilities`), the
    conditional-generator checks
    (:data:`zsbench.testing.generators.GENERATOR_CHECKS`, with the true factors passed to
    ``fit``) for one that can ``generate``.
    """
    h = ModelHarness(model, label=label, seed=seed, image_shape=image_shape,
                     n_images=n_images)
    probe = h.fresh()
    if capable(probe, "encode"):
        checks = list(MODEL_CHECKS) + capability_checks(probe)
    else:  # a conditional generator without an encoder
        checks = [check_fit_returns_self, check_training_summary_json]
    if capable(probe, "generate"):
        checks += [c for c in GENERATOR_CHECKS if capable(probe, "save")
                   or c is not check_generate_save_load_round_trip]
    for check in (*COMMON_CHECKS, *checks):
        if check is check_seeds_give_different_models and not getattr(h.cls, "uses_seed",
                                                                       True):
            continue
        yield bind(check, h)
