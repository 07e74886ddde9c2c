"""The conditional-generator checks, for models that offer ``generate(factors, *, seed)``:
shapes and range, seeding (same seed, same images; a stochastic model's seeds differ), the
request followed (different requests, different images), rows independent of the rest of
the request, exact save and load, determinism of ``fit``, the global random state and the
inputs left alone, clear errors for a malformed request.

The model is fitted on the kit's blob images with their true factors (``x``, ``y`` in
[0, 1]; see :class:`~zsbench.testing.data.BlobsDataset`), as the runner fits it.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np

from zsbench.plugin import Model
from zsbench.testing._base import (
    _Fail,
    changed_rng_states,
    conformance_check,
    deterministic_torch,
    equal_params,
    expect_clear_error,
    global_rng,
    max_diff,
    rng_states,
)
from zsbench.testing.model_harness import EXACT, REQUESTS, ModelHarness, _images_out

generator_check = conformance_check(ModelHarness)


def _generate(model: Model, factors: np.ndarray, seed: int, what: str,
              image_shape: tuple[int, ...]) -> np.ndarray:
    return _images_out(model.generate(np.array(factors, dtype=np.float64), seed=seed), what,
                       len(factors), image_shape)


@generator_check
def check_generate_shape_and_range(h: ModelHarness) -> None:
    """``generate(factors [N, F], seed=...)`` -> float images ``[N, C, H, W]`` in [0, 1]."""
    _generate(h.fitted(), REQUESTS, 0, "generate", h.image_shape)


@generator_check
def check_generate_same_seed_same_images(h: ModelHarness) -> None:
    """The same request and seed give the same images, call after call."""
    m = h.fitted()
    a = _generate(m, REQUESTS, 7, "generate", h.image_shape)
    b = _generate(m, REQUESTS, 7, "generate", h.image_shape)
    if max_diff(a, b) > EXACT:
        raise _Fail(f"two calls generate(factors, seed=7) differ (max difference "
                    f"{max_diff(a, b):.3g}): generate ignores its seed and draws from a "
                    "global or hidden random state (numpy's, torch's or python's). Draw "
                    "every random number from `seed` (zsbench.plugin.row_noise). The checks "
                    "that compare draws (rows, save and load, fit) wait for this one.")


@generator_check
def check_generate_seeds_differ(h: ModelHarness) -> None:
    """A stochastic generator (the class attribute ``stochastic = True``, the default) gives
    different draws for two seeds, and for a request repeated in several rows (fresh noise
    per row). A deterministic one (``stochastic = False``) gives identical images."""
    m = h.fitted()
    a = _generate(m, REQUESTS, 1, "generate", h.image_shape)
    b = _generate(m, REQUESTS, 2, "generate", h.image_shape)
    same = np.repeat(REQUESTS[:1], 4, axis=0)
    rows = _generate(m, same, 1, "generate", h.image_shape)
    spread = float(np.abs(rows - rows[:1]).max())
    if getattr(h.cls, "stochastic", True):
        if max_diff(a, b) <= EXACT:
            raise _Fail("generate gave identical images for seed=1 and seed=2; a stochastic "
                        "generator must draw its noise from `seed` (a deterministic one "
                        "says so with the class attribute stochastic = False).")
        if spread <= EXACT:
            raise _Fail("generate gave identical images for one request repeated in four "
                        "rows; every row must get fresh noise (zsbench.plugin.row_noise), "
                        "so that a request's draws can be told apart.")
    elif max_diff(a, b) > EXACT or spread > EXACT:
        raise _Fail("a generator declared stochastic = False gave different images for "
                    "another seed or a repeated request.")


@generator_check
def check_generate_follows_request(h: ModelHarness) -> None:
    """Different requests give different images under the same seed (a generator that
    ignores its condition draws the same images for any request). A baseline declared
    ``follows_request = False`` (``blank``) must give the same images instead."""
    m = h.fitted()
    a = _generate(m, np.repeat(REQUESTS[:1], 4, axis=0), 3, "generate", h.image_shape)
    b = _generate(m, np.repeat(REQUESTS[1:2], 4, axis=0), 3, "generate", h.image_shape)
    if not getattr(h.cls, "follows_request", True):
        if max_diff(a, b) > EXACT:
            raise _Fail("a generator declared follows_request = False gave different images "
                        f"for the requests {REQUESTS[0].tolist()} and {REQUESTS[1].tolist()}.")
        return
    if max_diff(a, b) <= EXACT:
        raise _Fail(f"generate gave the same images for the requests {REQUESTS[0].tolist()} "
                    f"and {REQUESTS[1].tolist()} under one seed: it ignores the factors it "
                    "is asked for.")


@generator_check
def check_generate_rows_independent(h: ModelHarness) -> None:
    """A row's image depends on its request, the seed and its position alone: the first
    ``k`` rows of a request come out the same on their own, and changing one row changes
    no other (no batch statistics, no noise shared across the batch)."""
    m = h.fitted()
    full = _generate(m, REQUESTS, 5, "generate", h.image_shape)
    if not h.generate_is_seeded():
        return  # check_generate_same_seed_same_images reports it, naming the cause
    head = _generate(m, REQUESTS[:3], 5, "generate", h.image_shape)
    if max_diff(full[:3], head) > EXACT:
        raise _Fail(f"generate(f[:3], seed) differs from the first 3 rows of generate(f, "
                    f"seed) (max difference {max_diff(full[:3], head):.3g}): rows depend on "
                    "the batch; draw each row's noise with zsbench.plugin.row_noise and "
                    "avoid batch statistics.")
    changed = REQUESTS.copy()
    changed[-1] = [0.5, 0.5]
    other = _generate(m, changed, 5, "generate", h.image_shape)
    if max_diff(full[:-1], other[:-1]) > EXACT:
        raise _Fail("changing the last row of a request changed the images of the other "
                    f"rows (max difference {max_diff(full[:-1], other[:-1]):.3g}).")


@generator_check
def check_generate_inputs_not_modified(h: ModelHarness) -> None:
    """``generate`` leaves the requested factors as they were."""
    f = REQUESTS.copy()
    h.fitted().generate(f, seed=0)
    if not np.array_equal(f, REQUESTS):
        raise _Fail("generate modified the factors it was given; work on copies.")


@generator_check
def check_generate_deterministic_fit(h: ModelHarness) -> None:
    """The same seed gives the same generator, whatever the global random state; fit and
    generate leave the global random state alone."""
    a, _ = h.fit_fresh(global_seed=1)
    with global_rng(2024), deterministic_torch():
        before = rng_states()
        b, _ = h.fit_fresh(global_seed=2)
        xb = _generate(b, REQUESTS, 0, "generate", h.image_shape)
        changed = changed_rng_states(before, rng_states())
    xa = _generate(a, REQUESTS, 0, "generate", h.image_shape)
    if h.generate_is_seeded() and not np.allclose(xa, xb, rtol=1e-4, atol=1e-5):
        raise _Fail(f"two fits with seed={h.seed} generate differently (max difference "
                    f"{max_diff(xa, xb):.3g}) when the global random state differed; draw "
                    "every random number from the `seed` argument.")
    if changed:
        raise _Fail(f"fit or generate changed the global random state of "
                    f"{', '.join(changed)}; use generators seeded from `seed`.")


@generator_check
def check_generate_save_load_round_trip(h: ModelHarness) -> None:
    """``save -> load`` gives the same parameters and the same draws."""
    m = h.fitted()
    with tempfile.TemporaryDirectory(prefix="zsbench-kit-") as tmp:
        path = Path(tmp) / "model.ckpt"
        m.save(path)
        if not path.is_file():
            raise _Fail(f"save(path) did not write the file {path.name}.")
        loaded = type(m).load(path)
    if not equal_params(loaded.get_params(), m.get_params()):
        raise _Fail(f"the loaded model has parameters {loaded.get_params()!r}; expected "
                    f"{m.get_params()!r}.")
    a = _generate(m, REQUESTS, 4, "generate", h.image_shape)
    b = _generate(loaded, REQUESTS, 4, "generate (loaded)", h.image_shape)
    if h.generate_is_seeded() and max_diff(a, b) > 1e-6:
        raise _Fail(f"after save -> load, generate differs (max difference "
                    f"{max_diff(a, b):.3g}); save every weight (an average of the weights "
                    "included) at full precision.")


@generator_check
def check_generate_bad_request(h: ModelHarness) -> None:
    """A malformed request (wrong width, one axis, NaN) raises a clear error."""
    m = h.fitted()
    for what, bad in (("generate(factors of width 3) [8, 3]", np.hstack([REQUESTS,
                                                                          REQUESTS[:, :1]])),
                      ("generate(factors without the row axis [2])", REQUESTS[0]),
                      ("generate(factors with NaN)", np.where(np.eye(8, 2) > 0, np.nan,
                                                             REQUESTS))):
        expect_clear_error(what, lambda f=bad: m.generate(f, seed=0),
                           "say which shape was expected and which was given",
                           "(e.g. zsbench.errors.DataError) naming the expected shape")


@generator_check
def check_generate_quiet_without_progress(h: ModelHarness) -> None:
    """With ``progress=False`` (when the model has it) fit and generate print nothing."""
    model = h.fresh()
    if "progress" in h.cls.parameters():
        model = h.cls(**{**model.get_params(), "progress": False})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings(), global_rng(3), deterministic_torch():
        warnings.simplefilter("ignore")
        model.fit(h.images.copy(), seed=h.seed, **h.fit_extras(model))
        model.generate(REQUESTS, seed=0)
    printed = (out.getvalue() + err.getvalue()).strip()
    if printed:
        raise _Fail(f"fit and generate printed {printed[:120]!r}; print nothing unless "
                    "progress=True.")


@generator_check
def check_generate_fit_weights_and_validation(h: ModelHarness) -> None:
    """``fit`` takes per-sample ``weights [N]`` and ``validation`` images ``[M, C, H, W]``
    (as the runner passes them) and leaves both unchanged, and its draws stay images in
    [0, 1]; weights of 1 everywhere give the same generator as no weights (a weight scales
    its sample's loss, so 1 changes nothing)."""
    n = len(h.images)
    weights = np.linspace(0.5, 1.5, n)
    weights /= weights.mean()
    w_copy, validation = weights.copy(), h.validation.copy()
    m, _ = h.fit_fresh(weights=weights, validation=validation)
    _generate(m, REQUESTS, 0, "generate after fit(weights=, validation=)", h.image_shape)
    if not (np.array_equal(weights, w_copy) and np.array_equal(validation, h.validation)):
        raise _Fail("fit modified the weights or validation images it was given; work on "
                    "copies.")
    ones, _ = h.fit_fresh(weights=np.ones(n))
    a = _generate(h.fitted(), REQUESTS, 0, "generate after fit()", h.image_shape)
    b = _generate(ones, REQUESTS, 0, "generate after fit(weights=[1, ..., 1])", h.image_shape)
    if h.generate_is_seeded() and max_diff(a, b) > EXACT:
        raise _Fail(f"fit(weights=[1, ..., 1]) gave another generator than fit(weights=None) "
                    f"(max difference {max_diff(a, b):.3g}); a weight multiplies its "
                    "sample's loss (zsbench.training.train does it for you), so weights of "
                    "1 must change nothing.")


@generator_check
def check_generate_fit_wrong_shape(h: ModelHarness) -> None:
    """``fit`` refuses images without the channel axis, and factors whose rows do not match
    the images, with a clear error (instead of training on garbage)."""
    model = h.fresh()
    extras = h.fit_extras(model)
    bad: list[tuple[str, dict]] = [(f"fit(images without the channel axis "
                                    f"{list(h.images[:, 0].shape)})",
                                    {"images": h.images[:, 0].copy(), **extras})]
    if "factors" in extras:
        short = extras["factors"][:-1]
        bad.append((f"fit(images {list(h.images.shape)}, factors {list(short.shape)})",
                    {"images": h.images.copy(), **extras, "factors": short.copy()}))
    for what, kwargs in bad:
        images = kwargs.pop("images")
        expect_clear_error(what, lambda i=images, k=kwargs: h.fresh().fit(i, seed=h.seed, **k),
                           "say which shape was expected and which was given",
                           "(e.g. zsbench.errors.DataError) naming the expected shape")


GENERATOR_CHECKS = (
    check_generate_shape_and_range, check_generate_same_seed_same_images,
    check_generate_seeds_differ, check_generate_follows_request,
    check_generate_rows_independent, check_generate_inputs_not_modified,
    check_generate_deterministic_fit, check_generate_save_load_round_trip,
    check_generate_bad_request, check_generate_quiet_without_progress,
    check_generate_fit_weights_and_validation, check_generate_fit_wrong_shape,
)
"""Every conditional-generator check, in the order :func:`zsbench.testing.check_model`
yields them for a model that offers ``generate``."""
