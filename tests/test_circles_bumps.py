"""The circles (Park et al. 2024) and bumps (Liang et al. 2025) datasets: the image formulas,
the class design and sampling protocols, determinism, exact inverse rendering within the
stated tolerances, residuals that reject images outside the family, and the kit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zsbench.errors import DataError, PluginParameterError
from zsbench.recovery import factor_errors
from zsbench.testing import check_dataset
from zsbench_plugins.datasets import BumpsDataset, CirclesDataset, zsbench_add_datasets
from zsbench_plugins.datasets.circles import BLUE, RED

# -- circles ------------------------------------------------------------------------------


def test_circles_space_and_images() -> None:
    ds = CirclesDataset(n_per_class=3)
    assert ds.space.names == ["x", "y", "radius", "colour"]
    assert [f.bounds for f in ds.space.factors] == [(-0.25, 0.25), (-0.25, 0.25), (0.1, 0.7),
                                                    (0.0, 1.0)]
    f, x = ds.load(seed=0)
    assert f.shape == (12, 4) and f.dtype == np.float64
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    u = CirclesDataset(n_per_class=3, image_size=16, pixels="uint8").load(seed=0)[1]
    assert u.shape == (12, 3, 16, 16) and u.dtype == np.uint8


def test_circles_class_design() -> None:
    ds = CirclesDataset(n_per_class=50)
    f = ds.factors(seed=3)
    assert len(f) == 200
    pairs, counts = np.unique(f[:, 2:], axis=0, return_counts=True)
    # exactly the 2 x 2 classes (radius, colour), n_per_class each
    assert pairs.tolist() == [[0.25, 0.0], [0.25, 1.0], [0.65, 0.0], [0.65, 1.0]]
    assert counts.tolist() == [50, 50, 50, 50]
    assert ds.space.contains(f).all()
    assert f[:, :2].std(axis=0).min() > 0.1  # uniform positions, not one point
    three = CirclesDataset(colours=[0.0, 0.5, 1.0], radii=[0.3], n_per_class=7).factors(seed=0)
    assert np.unique(three[:, 3]).tolist() == [0.0, 0.5, 1.0] and len(three) == 21


def test_circles_colours_and_formula() -> None:
    ds = CirclesDataset(blur=1.0, background=0.9)
    # a large disc's centre pixel carries its colour: red at 0, blue at 1, the mix between
    pts = np.array([[0.0, 0.0, 0.65, 0.0], [0.0, 0.0, 0.65, 1.0], [0.0, 0.0, 0.65, 0.25]])
    x = ds.render_float(pts)
    centre = x[:, :, 15, 15]  # pixel 15.5 -> 15 and 16 straddle the centre
    np.testing.assert_allclose(centre[0], RED, atol=1e-6)
    np.testing.assert_allclose(centre[1], BLUE, atol=1e-6)
    np.testing.assert_allclose(centre[2], 0.75 * RED + 0.25 * BLUE, atol=1e-6)
    # one pixel against a direct evaluation: bg + Phi((r - d) / blur) (rgb - bg)
    p = np.array([[0.1, -0.2, 0.3, 0.4]])
    i, j = 12, 20
    s = 15.5
    d = math.hypot(j - (0.1 + 1) * s, i - (-0.2 + 1) * s)
    m = 0.5 * (1.0 + math.erf((0.3 * s - d) / math.sqrt(2.0)))
    rgb = 0.6 * RED + 0.4 * BLUE
    np.testing.assert_allclose(ds.render(p)[0, :, i, j], 0.9 + m * (rgb - 0.9), atol=1e-6)
    # far from the disc: the grey background
    np.testing.assert_allclose(ds.render(p)[0, :, 0, 0], 0.9, atol=1e-6)


def test_circles_deterministic_from_seed() -> None:
    ds = CirclesDataset(n_per_class=5, image_size=16)
    f1, x1 = ds.load(seed=4)
    np.random.seed(123)
    f2, x2 = CirclesDataset(n_per_class=5, image_size=16).load(seed=4)
    assert np.array_equal(f1, f2) and np.array_equal(x1, x2)
    assert not np.array_equal(f1, ds.factors(seed=5))


@pytest.mark.parametrize("pixels", ["float32", "uint8"])
def test_circles_recover_exact_renders(pixels: str) -> None:
    ds = CirclesDataset(pixels=pixels)
    truth = ds.space.sample_uniform(300, rng=np.random.default_rng(11))
    images = ds.render(truth)
    rec = ds.recover(images)
    err = factor_errors(ds, truth, rec.factors)  # units of each factor's range
    assert np.percentile(err, 99, axis=0).max() < 0.01, np.percentile(err, 99, axis=0)
    assert rec.residual.max() < 0.01
    assert ds.space.contains(rec.factors).all()
    # float model outputs in [0, 1] of the same images read the same
    again = ds.recover(images.astype(np.float32) / (255.0 if pixels == "uint8" else 1.0))
    np.testing.assert_allclose(again.factors, rec.factors, atol=1e-6)


def test_circles_residual_rejects_images_outside_the_family() -> None:
    ds = CirclesDataset()
    exact = ds.render(np.array([[-0.2, -0.2, 0.25, 0.0], [0.2, 0.2, 0.25, 0.0]]))
    blank = np.full((1, 3, 32, 32), 0.9, dtype=np.float32)
    two = np.minimum(exact[:1], exact[1:])  # two red discs on one image
    rec = ds.recover(np.concatenate([exact, blank, two]))
    assert rec.residual[:2].max() < 1e-4
    assert rec.residual[2] > 0.03   # blank grey: about 0.04
    assert rec.residual[3] > 0.1    # two discs: about 0.16


def test_circles_rejects_bad_parameters_and_images() -> None:
    for bad in ({"radii": [0.05, 0.3]}, {"radii": []}, {"colours": [0.0, 0.0]},
                {"colours": [1.5]}, {"n_per_class": 0}, {"image_size": 4}, {"blur": 0.0},
                {"background": 2.0}, {"pixels": "float64"}):
        with pytest.raises(PluginParameterError):
            CirclesDataset(**bad)
    ds = CirclesDataset(n_per_class=1)
    with pytest.raises(DataError):
        ds.render(np.array([[0.5, 0.0, 0.3, 0.0]]))  # x outside [-0.25, 0.25]
    with pytest.raises(DataError):
        ds.recover(np.zeros((2, 1, 32, 32), dtype=np.float32))


# -- bumps --------------------------------------------------------------------------------


def test_bumps_space_and_images() -> None:
    ds = BumpsDataset(n_samples=30)
    assert ds.space.names == ["x", "y"]
    assert [f.bounds for f in ds.space.factors] == [(0.0, 27.0), (0.0, 27.0)]
    f, x = ds.load(seed=0)
    assert f.shape == (30, 2) and x.shape == (30, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.array_equal(f, np.round(f))  # integer centres by default
    stripes = BumpsDataset(stripes=True)
    assert [f.bounds for f in stripes.space.factors] == [(-6.0, 33.0), (-6.0, 33.0)]
    u = BumpsDataset(n_samples=5, pixels="uint8").load(seed=0)[1]
    assert u.dtype == np.uint8 and u.shape == (5, 1, 28, 28)


def test_bumps_formula_one_pixel() -> None:
    x, y, i, j = 10.3, 4.6, 5, 11  # pixel (row i, column j) sits at (x, y) = (j, i)
    dark = BumpsDataset(sigma=1.5).render(np.array([[x, y]]))[0, 0, i, j]
    expected = 1.0 - math.exp(-((j - x) ** 2 + (i - y) ** 2) / (2 * 1.5 ** 2))
    assert dark == pytest.approx(expected, abs=1e-6)
    bright = BumpsDataset(sigma=1.5, invert=False).render(np.array([[x, y]]))[0, 0, i, j]
    assert bright == pytest.approx(1.0 - expected, abs=1e-6)
    # an integer centre is the darkest pixel, at row y and column x
    img = BumpsDataset().render(np.array([[7.0, 20.0]]))[0, 0]
    assert np.unravel_index(np.argmin(img), img.shape) == (20, 7) and img[20, 7] == 0.0


def test_bumps_stripes_window_of_the_canvas() -> None:
    # the paper's construction: the bump on a 40x40 canvas, cropped at offset 6
    canvas_xy = np.array([[3, 20], [38, 1], [15, 15], [0, 39], [12, 28]])
    xv, yv = np.meshgrid(np.arange(40), np.arange(40))
    crops = np.stack([(1.0 - np.exp(-((xv - cx) ** 2 + (yv - cy) ** 2) / 2.0))[6:34, 6:34]
                      for cx, cy in canvas_xy])
    ours = BumpsDataset(stripes=True).render(canvas_xy.astype(np.float64) - 6.0)[:, 0]
    np.testing.assert_allclose(ours, crops, atol=1e-6)
    f = BumpsDataset(stripes=True, n_samples=4000).factors(seed=0)
    assert f.min() == -6.0 and f.max() == 33.0 and np.array_equal(f, np.round(f))


def test_bumps_sampling_deterministic_from_seed() -> None:
    ds = BumpsDataset(n_samples=50, integer=False)
    f1, x1 = ds.load(seed=2)
    np.random.seed(99)
    f2, x2 = BumpsDataset(n_samples=50, integer=False).load(seed=2)
    assert np.array_equal(f1, f2) and np.array_equal(x1, x2)
    assert not np.array_equal(f1, np.round(f1))  # continuous centres
    assert not np.array_equal(f1, ds.factors(seed=3))
    g = BumpsDataset(n_samples=5000).factors(seed=0)
    assert np.unique(g[:, 0]).tolist() == list(range(28))  # the whole grid, with replacement


@pytest.mark.parametrize("params", [{}, {"integer": False}, {"pixels": "uint8"},
                                    {"invert": False, "sigma": 1.3}])
def test_bumps_recover_in_frame(params: dict) -> None:
    ds = BumpsDataset(n_samples=400, **params)
    rng = np.random.default_rng(5)
    truth = np.concatenate([ds.factors(seed=1), rng.uniform(0.0, 27.0, size=(400, 2))])
    rec = ds.recover(ds.render(truth))
    err = np.abs(rec.factors - truth)
    assert np.percentile(err, 99) < 0.05, np.percentile(err, 99)
    assert rec.residual.max() < 0.01


def test_bumps_recover_stripes() -> None:
    ds = BumpsDataset(stripes=True)
    rng = np.random.default_rng(8)
    truth = np.concatenate([rng.uniform(-6.0, 33.0, size=(600, 2)),
                            BumpsDataset(stripes=True, n_samples=300).factors(seed=0)])
    rec = ds.recover(ds.render(truth))
    assert rec.residual.max() < 0.01
    inside = ((truth >= 0.0) & (truth <= 27.0)).all(axis=1)
    err = np.abs(rec.factors - truth)
    assert np.percentile(err[inside], 99) < 0.05
    # off the window: every centre that shows is found (float32 keeps the faint edge), and
    # a blank image's centre is any other blank one: factor_distance says 0
    off = ~inside
    shows = ds.visible(truth)
    assert (off & shows).sum() > 50 and (off & ~shows).sum() > 50
    assert np.percentile(err[off & shows], 99) < 0.05
    dist = ds.factor_distance(truth, rec.factors)
    assert dist[~shows].max() == 0.0
    assert np.all(~ds.visible(rec.factors[~shows]))


def test_bumps_factor_distance() -> None:
    ds = BumpsDataset(stripes=True)
    truth = np.array([[-6.0, 10.0], [10.0, 10.0], [-6.0, 10.0], [-1.0, 10.0]])
    found = np.array([[33.0, -6.0], [10.5, 9.0], [0.0, 10.0], [-2.0, 10.0]])
    d = ds.factor_distance(truth, found)
    np.testing.assert_allclose(d, [[0.0, 0.0], [0.5, 1.0], [6.0, 0.0], [1.0, 0.0]])
    assert ds.visible(np.array([[-3.0, 10.0], [-4.0, 10.0]])).tolist() == [True, False]


def test_bumps_residual_rejects_images_outside_the_family() -> None:
    ds = BumpsDataset()
    one = ds.render(np.array([[5.0, 5.0], [20.0, 14.0]]))
    two = np.minimum(one[:1], one[1:])  # two bumps on one image
    blank = np.ones((1, 1, 28, 28), dtype=np.float32)
    rec = ds.recover(np.concatenate([one, two, blank]))
    assert rec.residual[:2].max() < 1e-6
    assert rec.residual[2] > 0.05   # two bumps: about 0.063
    assert rec.residual[3] > 0.04   # white: about 0.0495 (a quarter bump in a corner)
    # with the canvas, a white image is a member: a centre far off the window
    stripes = BumpsDataset(stripes=True).recover(blank)
    assert stripes.residual[0] < 1e-6


def test_bumps_rejects_bad_parameters_and_images() -> None:
    for bad in ({"n_samples": 0}, {"sigma": 0.2}, {"image_size": 4}, {"canvas": 20},
                {"stripes": 1}, {"pixels": "int8"}, {"integer": "yes"}):
        with pytest.raises(PluginParameterError):
            BumpsDataset(**bad)
    ds = BumpsDataset()
    with pytest.raises(DataError):
        ds.render(np.array([[-1.0, 3.0]]))  # outside [0, 27] without the canvas
    with pytest.raises(DataError):
        ds.recover(np.zeros((1, 3, 28, 28), dtype=np.float32))


# -- both: registered, and the conformance kit ---------------------------------------------


def test_registered_through_the_hook() -> None:
    names = {c.name for c in zsbench_add_datasets()}
    assert {"circles", "bumps"} <= names


@pytest.mark.parametrize("dataset", [
    CirclesDataset(n_per_class=4, image_size=16),
    CirclesDataset(n_per_class=4, image_size=16, pixels="uint8", blur=0.7, background=0.5),
    BumpsDataset(n_samples=20, image_size=16),
    BumpsDataset(n_samples=20, stripes=True, integer=False),
    BumpsDataset(n_samples=20, pixels="uint8", invert=False),
], ids=["circles", "circles-uint8", "bumps", "bumps-stripes", "bumps-uint8-bright"])
def test_kit(dataset: object) -> None:
    failures = {}
    for check in check_dataset(dataset):
        try:
            check.run()
        except Exception as exc:  # collect every failing check, not only the first
            failures[check.name] = str(exc)
    assert failures == {}


@pytest.mark.parametrize("name", ["bumps", "circles"])
def test_validity_bar_rejects_blank_and_doubled_images_and_keeps_exact_ones(name) -> None:
    from zsbench_plugins.datasets.bumps import BumpsDataset
    from zsbench_plugins.datasets.circles import CirclesDataset

    ds = BumpsDataset(n_samples=40) if name == "bumps" else CirclesDataset(n_per_class=10)
    f = ds.factors(seed=0)
    x = ds.render(f).astype(np.float32)
    bar = ds.validity_threshold(x)
    background = 1.0 if name == "bumps" else float(ds.background)
    blank = np.full_like(x[:1], background)
    # two objects: the second image's object pasted onto the first image
    far = int(np.argmax(np.linalg.norm(f[:, :2] - f[:1, :2], axis=1)))
    moved = np.abs(x[far:far + 1] - background) > 0.05
    doubled = np.where(moved, x[far:far + 1], x[:1])
    residual = ds.recover(np.concatenate([x[:8], blank, doubled])).residual
    assert (residual[:8] < 0.2 * bar).all()
    assert residual[8] > 1.2 * bar and residual[9] > 1.2 * bar


def test_circles_validity_keeps_noisy_correct_discs_and_rejects_blank_and_doubled() -> None:
    from zsbench.judging import Judging
    from zsbench.recovery import judge_draws
    from zsbench_plugins.datasets.circles import CirclesDataset

    ds = CirclesDataset(n_per_class=8)
    f = ds.factors(seed=0)
    x = ds.render(f).astype(np.float32)
    bar = ds.validity_threshold(x)
    noisy = np.clip(x[:8] + np.random.default_rng(0).normal(0, 0.05, x[:8].shape), 0, 1)
    blank = np.full_like(x[:1], ds.background)
    same_size = f[f[:, 2] == f[0, 2]]
    other = int(np.argmax(np.linalg.norm(same_size[:, :2] - f[0, :2], axis=1)))
    second = ds.render(same_size[other:other + 1]).astype(np.float32)
    doubled = np.where(np.abs(second - ds.background) > 0.05, second, x[:1])
    images = np.concatenate([x[:8], noisy, blank, doubled]).astype(np.float32)
    requests = np.concatenate([f[:8], f[:8], f[:1], f[:1]])
    judged = judge_draws(ds, requests, images, threshold=bar, judging=Judging())
    assert judged["valid"][:16].all() and not judged["failed"][:16].any()
    assert not judged["valid"][16] and not judged["valid"][17]
