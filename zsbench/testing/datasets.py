"""The dataset checks: the latent space, shapes and dtypes, determinism, rendering any
point of the space and refusing points outside it, recovering factors from renders,
weightings."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from zsbench.plugin import Dataset, capable, to_float
from zsbench.recovery import (
    VERIFY_FACTOR_TOLERANCE,
    VERIFY_TOLERANCE,
    factor_errors,
    render_mismatch,
)
from zsbench.space import LatentSpace
from zsbench.testing._base import (
    Check,
    PluginLike,
    Subject,
    _Fail,
    as_array,
    bind,
    conformance_check,
    expect_clear_error,
    global_rng,
)
from zsbench.testing.common import COMMON_CHECKS


class DatasetHarness(Subject):
    """A dataset under test; ``loaded()`` is one ``load(seed=seed)``, shared."""

    base = Dataset
    kind = "dataset"

    def __init__(self, plugin: PluginLike, *, label: str | None = None, seed: int = 0) -> None:
        super().__init__(plugin, label=label, seed=seed)
        self._loaded: tuple[np.ndarray, np.ndarray] | None = None

    def loaded(self) -> tuple[np.ndarray, np.ndarray]:
        if self._loaded is None:
            with global_rng(7):
                self._loaded = self.fresh().load(seed=self.seed)
        return self._loaded


def space_points(space: LatentSpace, seed: int, n_random: int = 6) -> np.ndarray:
    """The centre, corners (at most 64) and random points of ``space``: ``[K, F]``."""
    lows = np.array([f.bounds[0] for f in space.factors])
    highs = np.array([f.bounds[1] for f in space.factors])
    rows = [space.point({})]
    f_dim = space.dim
    if f_dim <= 6:
        for mask in range(2 ** f_dim):
            rows.append(np.where([(mask >> i) & 1 for i in range(f_dim)], highs, lows))
    else:
        rows += [lows, highs]
    centre = space.point({})
    for i, f in enumerate(space.factors):  # discrete factors: the centre must be a value
        if f.values is not None:
            values = np.asarray(f.values, dtype=np.float64)
            centre[i] = values[np.argmin(np.abs(values - centre[i]))]
    rows[0] = centre
    pts = np.vstack(rows + [space.sample_uniform(n_random, rng=np.random.default_rng(seed))])
    return pts.astype(np.float64)


dataset_check = conformance_check(DatasetHarness)


def image_dtype_problem(images: np.ndarray, what: str) -> str | None:
    """Why ``images`` break the pixel contract (uint8, or float32 in [0, 1]), or None."""
    if images.dtype == np.uint8:
        return None
    if images.dtype != np.float32:
        return f"{what} gave images of dtype {images.dtype}; expected uint8 or float32."
    if images.size and not (np.isfinite(images).all() and images.min() >= 0.0
                            and images.max() <= 1.0):
        return (f"{what} gave float32 images outside [0, 1] (min {np.nanmin(images):g}, "
                f"max {np.nanmax(images):g}); float pixels must lie in [0, 1].")
    return None


@dataset_check
def check_space(h: DatasetHarness) -> None:
    """A :class:`LatentSpace` of uniquely named factors with finite bounds or values."""
    space = h.fresh().space
    if not isinstance(space, LatentSpace):
        raise _Fail(f"space is {type(space).__name__}; expected a zsbench.space.LatentSpace.")
    if space.dim < 1:
        raise _Fail("the space has no factors; expected at least one.")
    names = space.names
    if len(set(names)) != len(names):
        raise _Fail(f"factor names repeat: {names}.")
    for f in space.factors:
        if not isinstance(f.name, str) or not f.name.isidentifier():
            raise _Fail(f"factor name {f.name!r} is not an identifier; suites write "
                        "points as {{ name = value }}.")
        if f.values is not None:
            vals = np.asarray(f.values, dtype=np.float64)
            if vals.size == 0 or not np.isfinite(vals).all():
                raise _Fail(f"discrete factor {f.name!r} needs finite values, got "
                            f"{f.values!r}.")
            if len(set(vals.tolist())) != vals.size:
                raise _Fail(f"discrete factor {f.name!r} repeats values: {f.values!r}.")
        else:
            lo, hi = f.bounds
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise _Fail(f"continuous factor {f.name!r} has bounds [{lo}, {hi}]; "
                            "expected finite low < high.")


@dataset_check
def check_image_shape(h: DatasetHarness) -> None:
    """``image_shape`` is a tuple ``(C, H, W)`` of positive ints."""
    shape = h.fresh().image_shape
    if (not isinstance(shape, tuple) or len(shape) != 3
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)):
        raise _Fail(f"image_shape is {shape!r}; expected a tuple (C, H, W) of three "
                    "positive ints.")


@dataset_check
def check_load_shapes_and_dtypes(h: DatasetHarness) -> None:
    """``load`` gives float factors ``[N, F]`` inside the space and images ``[N, C, H, W]``,
    uint8 or float32 in [0, 1]."""
    ds = h.fresh()
    factors, images = h.loaded()
    factors = as_array(factors, "load(seed=...)[0] (factors)")
    images = as_array(images, "load(seed=...)[1] (images)")
    space, shape = ds.space, ds.image_shape
    if factors.ndim != 2 or factors.shape[1] != space.dim or len(factors) < 1:
        raise _Fail(f"load gave factors of shape {list(factors.shape)}; expected [N, F] "
                    f"with F = {space.dim} ({', '.join(space.names)}) and N >= 1.")
    if not np.issubdtype(factors.dtype, np.floating):
        raise _Fail(f"load gave factors of dtype {factors.dtype}; expected float64.")
    if not np.isfinite(factors).all():
        raise _Fail("load gave NaN or infinite factors.")
    outside = ~space.contains(factors)
    if outside.any():
        raise _Fail(f"{int(outside.sum())} loaded points lie outside the space "
                    f"({space.describe()}), e.g. {factors[np.argmax(outside)].tolist()}.")
    problem = image_dtype_problem(images, "load")
    if problem:
        raise _Fail(problem)
    if list(images.shape) != [len(factors), *shape]:
        raise _Fail(f"load gave images of shape {list(images.shape)}; expected "
                    f"[N, C, H, W] = {[len(factors), *shape]} (N from the factors, "
                    "C, H, W from image_shape).")


@dataset_check
def check_load_deterministic(h: DatasetHarness) -> None:
    """Two loads with one seed are identical, whatever the global random state."""
    f1, x1 = h.loaded()
    with global_rng(8):
        f2, x2 = h.fresh().load(seed=h.seed)
    if not (np.array_equal(np.asarray(f1), np.asarray(f2))
            and np.array_equal(np.asarray(x1), np.asarray(x2))):
        raise _Fail(f"two loads with seed={h.seed} differ when the global random state "
                    "differs; draw points from np.random.default_rng(seed) only.")


@dataset_check
def check_render_shape_and_dtype(h: DatasetHarness) -> None:
    """``render(factors [N, F]) -> [N, C, H, W]``, uint8 or float32 in [0, 1]."""
    ds = h.fresh()
    pts = space_points(ds.space, h.seed)[:5]
    out = as_array(ds.render(pts), "render(factors [5, F])")
    problem = image_dtype_problem(out, "render")
    if problem:
        raise _Fail(problem)
    if list(out.shape) != [len(pts), *ds.image_shape]:
        raise _Fail(f"render returned shape {list(out.shape)}; expected [N, C, H, W] = "
                    f"{[len(pts), *ds.image_shape]}.")


@dataset_check
def check_render_deterministic(h: DatasetHarness) -> None:
    """``render`` is a pure function of the factors, independent of the batch."""
    ds = h.fresh()
    pts = space_points(ds.space, h.seed)
    with global_rng(1):
        a = np.asarray(ds.render(pts))
    with global_rng(2):
        b = np.asarray(h.fresh().render(pts))
    if not np.array_equal(a, b):
        raise _Fail("rendering the same points twice gave different images; render "
                    "must be a pure function of the factors.")
    one = np.asarray(ds.render(pts[2:3]))
    if not np.array_equal(one, a[2:3]):
        raise _Fail("rendering one point alone differs from rendering it in a batch.")


@dataset_check
def check_render_any_point(h: DatasetHarness) -> None:
    """Every point of the space renders: centre, corners and random points."""
    ds = h.fresh()
    space = ds.space
    pts = space_points(space, h.seed + 1, n_random=16)
    for i in range(len(pts)):
        p = pts[i:i + 1]
        try:
            out = np.asarray(ds.render(p))
        except Exception as exc:
            described = ", ".join(f"{n}={v:g}" for n, v in zip(space.names, p[0]))
            raise _Fail(f"render failed at the point ({described}) of the space: "
                        f"{type(exc).__name__}: {exc}. Every point of the space "
                        "(corners included) must render.") from exc
        if out.shape != (1, *ds.image_shape) or image_dtype_problem(out, "render"):
            raise _Fail(f"render of one point gave {out.dtype} {list(out.shape)}.")


@dataset_check
def check_render_rejects_bad_points(h: DatasetHarness) -> None:
    """A wrong factor count and a point outside the space raise a clear error."""
    ds = h.fresh()
    space = ds.space
    centre = space_points(space, h.seed)[:1]
    bad: list[tuple[str, np.ndarray]] = [
        (f"render(factors of shape [1, {space.dim + 1}])", np.hstack([centre, centre[:, :1]])),
    ]
    f0 = space.factors[0]
    out_pt = centre.copy()
    out_pt[0, 0] = f0.bounds[1] + max(f0.span, 1.0)
    bad.append((f"render(a point with {f0.name} = {out_pt[0, 0]:g} outside "
                f"{space.describe()})", out_pt))
    for what, pts in bad:
        expect_clear_error(what, lambda pts=pts: ds.render(pts), None,
                           "(space.check(factors) gives one)")


@dataset_check
def check_weightings(h: DatasetHarness) -> None:
    """Each named weighting maps factors ``[N, F]`` to positive finite weights ``[N]``."""
    ds = h.fresh()
    weightings: Any = ds.weightings()
    if not isinstance(weightings, dict):
        raise _Fail(f"weightings() returned {type(weightings).__name__}; expected a dict "
                    "of name -> function.")
    if not weightings:
        return
    factors = np.asarray(h.loaded()[0], dtype=np.float64)
    for wname, fn in weightings.items():
        w = as_array(fn(factors), f"weighting {wname!r}")
        if w.shape != (len(factors),):
            raise _Fail(f"weighting {wname!r} returned shape {list(w.shape)}; expected "
                        f"[N] = [{len(factors)}].")
        if not np.isfinite(w).all() or (w <= 0).any():
            raise _Fail(f"weighting {wname!r} returned non-positive or non-finite "
                        "weights; expected positive finite weights.")


@dataset_check
def check_recover_inverts_render(h: DatasetHarness) -> None:
    """A dataset that offers ``recover`` recovers its own exact renders: rendering the
    recovered factors gives back each image (centre, corners, random points of the space)
    within ``zsbench.recovery.VERIFY_TOLERANCE`` relative root-mean-square difference (the
    standard datasets stay under 0.04), and ``factor_distance`` puts the recovered factors
    within ``VERIFY_FACTOR_TOLERANCE`` of each factor's range of the true ones (the standard
    datasets: under 0.015). Datasets without ``recover`` pass."""
    ds = h.fresh()
    if not capable(ds, "recover"):
        return
    pts = space_points(ds.space, h.seed + 2)
    images = to_float(np.asarray(ds.render(pts)))
    rec = ds.recover(images)
    factors = as_array(rec.factors, "recover(images).factors")
    if factors.shape != pts.shape or not np.isfinite(factors).all():
        raise _Fail(f"recover gave factors of shape {list(factors.shape)} (finite: "
                    f"{bool(np.isfinite(factors).all())}); expected finite [N, F] = "
                    f"{list(pts.shape)}.")
    outside = ~ds.space.contains(factors)
    if outside.any():
        raise _Fail(f"recover gave {int(outside.sum())} points outside the space "
                    f"({ds.space.describe()}), e.g. {factors[np.argmax(outside)].tolist()}.")
    mismatch = render_mismatch(ds, images, factors)
    worst = int(np.argmax(mismatch))
    if not mismatch[worst] <= VERIFY_TOLERANCE:
        truth = ", ".join(f"{n}={v:g}" for n, v in zip(ds.space.names, pts[worst]))
        got = ", ".join(f"{n}={v:g}" for n, v in zip(ds.space.names, factors[worst]))
        raise _Fail(f"recover does not invert render: the exact render of ({truth}) came "
                    f"back as ({got}), whose render differs from it by "
                    f"{mismatch[worst]:.2f} of its root-mean-square intensity "
                    f"(at most {VERIFY_TOLERANCE} allowed). Check that recover reads the "
                    "images the way render writes them (uint8 or float in [0, 1]).")
    err = factor_errors(ds, pts, factors)
    worst = int(np.argmax(err.max(axis=1)))
    if not err[worst].max() <= VERIFY_FACTOR_TOLERANCE:
        truth = ", ".join(f"{n}={v:g}" for n, v in zip(ds.space.names, pts[worst]))
        got = ", ".join(f"{n}={v:g}" for n, v in zip(ds.space.names, factors[worst]))
        name = ds.space.names[int(np.argmax(err[worst]))]
        raise _Fail(f"the exact render of ({truth}) came back as ({got}): the same image, "
                    f"but factor_distance puts {name} {err[worst].max():.2f} of its range "
                    f"away (at most {VERIFY_FACTOR_TOLERANCE} allowed), so the factor scores "
                    f"would count a perfect reconstruction as wrong. Override factor_distance "
                    f"to measure {name} as the images show it (e.g. an orientation modulo "
                    "the shape's symmetry).")


@dataset_check
def check_recover_accepts_render_output(h: DatasetHarness) -> None:
    """``recover`` reads what ``render`` returns (uint8, or float32 in [0, 1]) as it reads
    the same images as floats, or refuses it with a clear error; it never returns other
    factors without a word."""
    ds = h.fresh()
    if not capable(ds, "recover"):
        return
    pts = space_points(ds.space, h.seed + 3)
    raw = np.asarray(ds.render(pts))
    try:
        found = as_array(ds.recover(raw).factors, "recover(render(points)).factors")
    except Exception as exc:
        if not str(exc).strip():
            raise _Fail(f"recover(images as render returns them, {raw.dtype}) raised "
                        f"{type(exc).__name__} with an empty message.") from exc
        return
    expected = np.asarray(ds.recover(to_float(raw)).factors, dtype=np.float64)
    err = factor_errors(ds, expected, found) if found.shape == expected.shape else None
    if err is None or not err.max() <= VERIFY_FACTOR_TOLERANCE:
        raise _Fail(f"recover gives other factors for the images as render returns them "
                    f"({raw.dtype}) than for the same images as floats in [0, 1] (largest "
                    f"difference {'shape' if err is None else f'{err.max():.2f}'} of a "
                    "factor's range): read both, e.g. with zsbench.plugin.to_float, or refuse "
                    "the dtype you do not read with a clear error.")


LOAD_CHECKS = (check_space, check_image_shape, check_load_shapes_and_dtypes,
               check_load_deterministic)
RENDER_CHECKS = (check_render_shape_and_dtype, check_render_deterministic,
                 check_render_any_point, check_render_rejects_bad_points,
                 check_recover_inverts_render, check_recover_accepts_render_output)


def check_dataset(dataset: PluginLike, *, seed: int = 0,
                  label: str | None = None) -> Iterator[Check]:
    """Yield the checks of a dataset plugin as :class:`Check` ``(name, run)`` pairs.

    ``dataset``: an instance configured small (e.g. ``MyData(n_samples=40)``: ``load`` runs
    a few times), a class (defaults) or a zero-argument factory. Renderable datasets also
    get the ``render`` checks; fixed ones (``renderable = False``) get the ``load`` checks.
    """
    h = DatasetHarness(dataset, label=label, seed=seed)
    render = RENDER_CHECKS if getattr(h.cls, "renderable", True) else ()
    for check in (*COMMON_CHECKS, *LOAD_CHECKS, *render, check_weightings):
        yield bind(check, h)
