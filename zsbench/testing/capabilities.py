"""The checks of a model's optional capabilities (see :func:`zsbench.plugin.capable`),
each group given only to a model that offers the method (and ``encode``):

- ``sample(n, *, seed) -> images [n, C, H, W]`` in [0, 1] (:data:`SAMPLE_CHECKS`): shape
  and range, the same seed gives the same images whatever the global random state, two
  seeds (and the rows of one call) differ, the global random state and the model left
  alone;
- ``invert(images, *, seed, steps=, lr=, scale=) -> latents [N, D]``
  (:data:`INVERT_CHECKS`): shape, determinism, the model, the images and the global random
  state left alone, and never worse than the encoder: per image, the BCE of
  ``decode(invert(x))`` is at most that of ``decode(encode(x))``;
- ``posterior(images) -> (mean [N, D], log_variance [N, D])`` (:data:`POSTERIOR_CHECKS`):
  shapes, finite positive variances, the mean equal to ``encode``, determinism.

Every call under test runs on a deep copy of the harness's shared fit, so a method that
changes its model is reported by the check that looks for it and spoils no other check.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from zsbench.plugin import Model, capable
from zsbench.testing._base import (
    CheckFunction,
    _Fail,
    as_array,
    changed_rng_states,
    changed_state,
    conformance_check,
    deterministic_torch,
    global_rng,
    max_diff,
    model_state,
    rng_states,
    shape_of,
)
from zsbench.testing.model_harness import ModelHarness, _images_out, _latents_out

#: Largest difference tolerated where the contract asks for identical outputs.
EXACT = 1e-5
#: The search budget the kit passes to an ``invert`` whose signature names ``steps`` and
#: ``lr`` (short: the kit checks the contract, not the search).
INVERT_STEPS = 10
INVERT_LR = 0.3
#: How much worse (relative, absolute) than the encoder's an inverted image's BCE may be:
#: float round-off only.
INVERT_RTOL = 1e-5
INVERT_ATOL = 1e-6
#: Pixels are clipped to ``[BCE_EPS, 1 - BCE_EPS]`` before taking logarithms, as the
#: reconstruction metrics do.
BCE_EPS = 1e-6
#: Draws asked of ``sample``.
N_SAMPLES = 6

capability_check = conformance_check(ModelHarness)


def per_image_bce(images: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of ``decoded`` against ``images`` (both ``[N, C, H, W]``),
    averaged over pixels: float64 ``[N]`` (the error ``reachability`` compares)."""
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    r = np.clip(np.asarray(decoded, np.float64).reshape(len(decoded), -1), BCE_EPS,
                1.0 - BCE_EPS)
    return -(x * np.log(r) + (1.0 - x) * np.log1p(-r)).mean(axis=1)


def _unchanged(h: ModelHarness, model: Model, call: Callable[[], object],
               what: str) -> None:
    """Run ``call()`` and fail if it changed ``model`` (its arrays, tensors and modules, or
    what it encodes and decodes) or the global random state."""
    z = np.asarray(model.encode(h.probe))
    x = np.asarray(model.decode(z))
    state = model_state(model)
    with global_rng(2024), deterministic_torch():
        before = rng_states()
        call()
        changed_rng = changed_rng_states(before, rng_states())
    changed = changed_state(state, model_state(model))
    if changed:
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4
                                          else "")
        raise _Fail(f"{what} changed the model's state ({shown}); it must leave the fitted "
                    "model as it was (no optimiser over the network's parameters, nothing "
                    "stored on the model between calls).")
    z2, x2 = np.asarray(model.encode(h.probe)), np.asarray(model.decode(z))
    if h.encode_is_deterministic() and (  # else check_encode_deterministic reports it
            z2.shape != z.shape or not np.array_equal(z, z2) or not np.array_equal(x, x2)):
        raise _Fail(f"after {what}, encode or decode give other outputs than before; it "
                    "must leave the fitted model as it was.")
    if changed_rng:
        raise _Fail(f"{what} changed the global random state of {', '.join(changed_rng)}; "
                    "draw from generators seeded by `seed` (np.random.default_rng(seed), "
                    "torch.Generator().manual_seed(seed)), never reseed nor draw from the "
                    "global ones.")


# -- sample ---------------------------------------------------------------------------------

def _sample(model: Model, n: int, seed: int, h: ModelHarness,
            what: str = "sample") -> np.ndarray:
    return _images_out(model.sample(n, seed=seed), f"{what}({n}, seed={seed})", n,
                       h.image_shape)


@capability_check
def check_sample_shape_and_range(h: ModelHarness) -> None:
    """``sample(n, seed=...)`` -> float images ``[n, C, H, W]`` in [0, 1], finite, for
    ``n = 6`` and ``n = 1``."""
    m = h.fitted_copy()
    with global_rng(0), deterministic_torch():
        _sample(m, N_SAMPLES, 0, h)
        _sample(m, 1, 0, h)


@capability_check
def check_sample_same_seed_same_images(h: ModelHarness) -> None:
    """The same seed gives the same images, call after call, whatever the global random
    state."""
    m = h.fitted_copy()
    with global_rng(1), deterministic_torch():
        a = _sample(m, N_SAMPLES, 7, h)
    with global_rng(2), deterministic_torch():
        b = _sample(m, N_SAMPLES, 7, h)
    if max_diff(a, b) > EXACT:
        raise _Fail(f"two calls sample({N_SAMPLES}, seed=7) differ (max difference "
                    f"{max_diff(a, b):.3g}) under another global random state; draw the "
                    "prior's latents from `seed` alone (np.random.default_rng(seed)).")


@capability_check
def check_sample_seeds_differ(h: ModelHarness) -> None:
    """Two seeds give different images, and the ``n`` rows of one call are not all the
    same image (a fresh prior draw per row)."""
    m = h.fitted_copy()
    with global_rng(0), deterministic_torch():
        a = _sample(m, N_SAMPLES, 1, h)
        b = _sample(m, N_SAMPLES, 2, h)
    if max_diff(a, b) <= EXACT:
        raise _Fail(f"sample({N_SAMPLES}, seed=1) and sample({N_SAMPLES}, seed=2) gave the "
                    "same images: sample ignores its seed; draw the prior's latents from "
                    "`seed` (np.random.default_rng(seed)).")
    if float(np.abs(a - a[:1]).max()) <= EXACT:
        raise _Fail(f"sample({N_SAMPLES}, seed=1) gave {N_SAMPLES} identical images; every "
                    "row must be a fresh draw of the prior.")


@capability_check
def check_sample_leaves_state_unchanged(h: ModelHarness) -> None:
    """``sample`` leaves the global random state (python's ``random``, numpy, torch) and
    the model (its parameters, what it encodes and decodes) as they were."""
    m = h.fitted_copy()
    _unchanged(h, m, lambda: m.sample(N_SAMPLES, seed=3), f"sample({N_SAMPLES}, seed=3)")


# -- invert ---------------------------------------------------------------------------------

def _train_scale(h: ModelHarness) -> np.ndarray:
    """The standard deviation ``[D]`` of the training images' latents: the step unit the
    ``reachability`` metric passes as ``scale``."""
    z = np.asarray(h.fitted().encode(h.images), np.float64)
    return z.std(axis=0)


def _invert_raw(h: ModelHarness, model: Model, images: np.ndarray, *, seed: int = 0) -> Any:
    """``model.invert(images, seed=seed)`` as the ``reachability`` metric calls it: the
    kit's short budget ``steps``, ``lr`` and the training latents' ``scale`` passed when
    the signature names them."""
    accepted = inspect.signature(model.invert).parameters
    extra = {k: v for k, v in (("steps", INVERT_STEPS), ("lr", INVERT_LR),
                               ("scale", _train_scale(h))) if k in accepted}
    with deterministic_torch():
        return model.invert(images, seed=seed, **extra)


def _invert(h: ModelHarness, model: Model, images: np.ndarray) -> np.ndarray:
    """:func:`_invert_raw` checked to be finite floating latents ``[N, D]``."""
    return _latents_out(_invert_raw(h, model, images), f"invert(images {shape_of(images)})",
                        len(images))


@capability_check
def check_invert_shape(h: ModelHarness) -> None:
    """``invert(images [N, C, H, W], seed=...)`` -> finite floating latents ``[N, D]``
    with encode's ``D``, for 8 images and for one."""
    m = h.fitted_copy()
    d = np.asarray(h.fitted().encode(h.probe[:1])).shape[-1]
    with global_rng(0):
        z = _invert(h, m, h.probe.copy())
        z1 = _invert(h, m, h.probe[:1].copy())
    if z.shape[1] != d or z1.shape[1] != d:
        raise _Fail(f"invert returned latents of width {z.shape[1]} (one image: "
                    f"{z1.shape[1]}); expected encode's D = {d}, latents decode accepts.")


@capability_check
def check_invert_deterministic(h: ModelHarness) -> None:
    """The same images and seed give the same latents, whatever the global random state
    (two copies of the fitted model, one call each)."""
    with global_rng(1):
        a = np.asarray(_invert_raw(h, h.fitted_copy(), h.probe.copy()), np.float64)
    with global_rng(2):
        b = np.asarray(_invert_raw(h, h.fitted_copy(), h.probe.copy()), np.float64)
    if a.shape != b.shape or not np.allclose(a, b, rtol=0.0, atol=EXACT, equal_nan=True):
        diff = max_diff(a, b) if a.shape == b.shape else f"shape {list(b.shape)}"
        raise _Fail(f"two calls invert(images, seed=0) gave different latents (max "
                    f"difference {diff}) under another global random state; the search "
                    "must depend on the images and `seed` alone.")


@capability_check
def check_invert_leaves_state_unchanged(h: ModelHarness) -> None:
    """``invert`` leaves the model (its parameters: the search moves the latents, never
    the network), the images it is given and the global random state as they were."""
    m = h.fitted_copy()
    images = h.probe.copy()
    _unchanged(h, m, lambda: _invert_raw(h, m, images), "invert")
    if not np.array_equal(images, h.probe):
        raise _Fail("invert modified the images it was given; work on copies.")


@capability_check
def check_invert_not_worse_than_encode(h: ModelHarness) -> None:
    """Never worse than the encoder: for each of 8 images ``x``, the per-image BCE of
    ``decode(invert(x))`` is at most that of ``decode(encode(x))`` (up to float round-off:
    ``INVERT_RTOL``, ``INVERT_ATOL``), as ``reachability``'s encoder gap assumes. The
    latents are searched on a copy and decoded by the pristine model."""
    if not h.encode_is_deterministic():
        return  # check_encode_deterministic reports it
    m = h.fitted()
    x = h.probe
    z_enc = _latents_out(m.encode(x), "encode", len(x))
    with global_rng(0):
        z = _invert_raw(h, h.fitted_copy(), x.copy())
    if not (isinstance(z, np.ndarray) and z.shape == z_enc.shape and np.isfinite(z).all()):
        return  # check_invert_shape reports it
    e_enc = per_image_bce(x, _images_out(m.decode(z_enc), "decode(encode(images))", len(x),
                                         h.image_shape))
    e_inv = per_image_bce(x, _images_out(m.decode(z), "decode(invert(images))", len(x),
                                         h.image_shape))
    worse = e_inv > e_enc * (1.0 + INVERT_RTOL) + INVERT_ATOL
    if worse.any():
        i = int(np.argmax(e_inv - e_enc))
        raise _Fail(f"decode(invert(x)) reconstructs {int(worse.sum())} of {len(x)} images "
                    f"worse than decode(encode(x)) (image {i}: BCE {e_inv[i]:.6g} against "
                    f"the encoder's {e_enc[i]:.6g}); invert must never be worse than the "
                    "encoder: start from its mean and keep, per image, the best latent "
                    "seen, the mean included.")


# -- posterior ------------------------------------------------------------------------------

def _posterior(model: Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``model.posterior(images)`` checked to be two floating arrays ``[N, D]``."""
    out = model.posterior(images)
    if not isinstance(out, tuple) or len(out) != 2:
        raise _Fail(f"posterior returned {type(out).__name__}; expected a tuple (mean "
                    "[N, D], log_variance [N, D]).")
    mean = as_array(out[0], "posterior (mean)")
    logvar = as_array(out[1], "posterior (log-variance)")
    n = len(images)
    for what, arr in (("mean", mean), ("log-variance", logvar)):
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
            raise _Fail(f"posterior returned a {what} of shape {list(arr.shape)} for {n} "
                        f"images; expected [N, D] = [{n}, D].")
        if not np.issubdtype(arr.dtype, np.floating):
            raise _Fail(f"posterior returned a {what} of dtype {arr.dtype}; expected floats.")
    if mean.shape != logvar.shape:
        raise _Fail(f"posterior returned a mean {list(mean.shape)} and a log-variance "
                    f"{list(logvar.shape)}; expected both [N, D].")
    return mean, logvar


@capability_check
def check_posterior_shape_and_variance(h: ModelHarness) -> None:
    """``posterior(images [N, C, H, W])`` -> ``(mean [N, D], log_variance [N, D])``,
    floats with encode's ``D``; the mean finite, the variance ``exp(log_variance)`` finite
    and positive."""
    m = h.fitted_copy()
    mean, logvar = _posterior(m, h.probe.copy())
    d = np.asarray(h.fitted().encode(h.probe[:1])).shape[-1]
    if mean.shape[1] != d:
        raise _Fail(f"posterior returned latents of width {mean.shape[1]}; expected "
                    f"encode's D = {d}.")
    if not np.isfinite(mean).all():
        raise _Fail("posterior returned a mean with NaN or infinite values.")
    with np.errstate(over="ignore", invalid="ignore"):
        var = np.exp(logvar.astype(np.float64))
    bad = ~(np.isfinite(var) & (var > 0))
    if bad.any():
        shown = logvar[bad][:3].tolist()
        raise _Fail(f"posterior returned {int(bad.sum())} log-variances whose variance is "
                    f"not finite and positive (e.g. {shown}); return log(variance) of "
                    "every latent dimension, finite.")


@capability_check
def check_posterior_mean_equals_encode(h: ModelHarness) -> None:
    """The posterior's mean equals ``encode(images)`` (rtol 1e-4, atol 1e-5): the KL per
    dimension must describe the latents every other score reads."""
    if not h.encode_is_deterministic():
        return  # check_encode_deterministic reports it
    m = h.fitted_copy()
    mean, _ = _posterior(m, h.probe.copy())
    z = np.asarray(h.fitted().encode(h.probe))
    if mean.shape != z.shape:
        raise _Fail(f"posterior returned a mean {list(mean.shape)}; encode gives "
                    f"{list(z.shape)}.")
    if not np.allclose(mean, z, rtol=1e-4, atol=1e-5):
        raise _Fail(f"the posterior's mean differs from encode(images) by up to "
                    f"{max_diff(mean, z):.3g}; it must be the same latent mean.")


@capability_check
def check_posterior_deterministic(h: ModelHarness) -> None:
    """The same images twice give the same mean and log-variance (no sampling), and the
    images are left unchanged."""
    m = h.fitted_copy()
    images = h.probe.copy()
    a = _posterior(m, images)
    b = _posterior(m, images)
    if not np.array_equal(images, h.probe):
        raise _Fail("posterior modified the images it was given; work on copies.")
    for what, x, y in (("mean", a[0], b[0]), ("log-variance", a[1], b[1])):
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
            diff = max_diff(x, y) if x.shape == y.shape else f"shape {list(y.shape)}"
            raise _Fail(f"posterior gave a different {what} for the same images on two "
                        f"calls (max difference {diff}); it must be deterministic.")


SAMPLE_CHECKS = (
    check_sample_shape_and_range, check_sample_same_seed_same_images,
    check_sample_seeds_differ, check_sample_leaves_state_unchanged,
)
"""The checks of ``sample``, yielded by :func:`zsbench.testing.check_model` for a model
that offers it."""

INVERT_CHECKS = (
    check_invert_shape, check_invert_deterministic, check_invert_leaves_state_unchanged,
    check_invert_not_worse_than_encode,
)
"""The checks of ``invert``, yielded for a model that offers it."""

POSTERIOR_CHECKS = (
    check_posterior_shape_and_variance, check_posterior_mean_equals_encode,
    check_posterior_deterministic,
)
"""The checks of ``posterior``, yielded for a model that offers it."""


def capability_checks(model: Model) -> list[CheckFunction]:
    """The check functions of the optional capabilities ``model`` offers (``sample``,
    ``invert``, ``posterior``; see :func:`zsbench.plugin.capable`), in that order."""
    checks: list[CheckFunction] = []
    for method, group in (("sample", SAMPLE_CHECKS), ("invert", INVERT_CHECKS),
                          ("posterior", POSTERIOR_CHECKS)):
        if capable(model, method):
            checks += group
    return checks
