"""Tests of the standard dataset plugins: polar, gaussian, gaussian_t, digits, mnist."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset
from zsbench_plugins.datasets import (
    DigitsDataset,
    GaussianDataset,
    GaussianTDataset,
    MnistDataset,
    PolarDataset,
    zsbench_add_datasets,
)
from zsbench_plugins.datasets.digits import read_idx, write_idx
from zsbench_plugins.datasets.gaussian import CORRELATIONS, VARIANCES
from zsbench_plugins.datasets.polar import FRAME

GRID_POS = np.dstack(np.mgrid[-3:3:.17, -3:3:.17])


def test_hook_contributes_all_datasets() -> None:
    classes = zsbench_add_datasets()
    assert {c.name for c in classes} == {"polar", "gaussian", "gaussian_t", "digits", "mnist",
                                             "sprites", "dsprites", "circles", "bumps",
                                             "shapes3d", "mpi3d"}
    for cls in classes:
        assert issubclass(cls, Dataset)
        assert cls.summary()
        assert all(p.kind is p.KEYWORD_ONLY for p in cls.parameters().values())


@pytest.mark.parametrize("cls,params", [
    (PolarDataset, {"n_samples": 7, "image_size": 32, "sampling": "grid", "line_width": 2.0}),
    (GaussianDataset, {"sampling": "uniform", "n_samples": 5, "order": "grid",
                       "test_split": "suite", "pixels": "uint8"}),
    (GaussianTDataset, {"sampling": "grid", "n_samples": 11875, "order": "experiment",
                        "test_split": "experiment", "pixels": "float32"}),
    (DigitsDataset, {"classes": [3]}),
    (MnistDataset, {"path": "/nowhere", "classes": [0, 1], "part": "all"}),
])
def test_params_stored_unchanged(cls: type[Dataset], params: dict) -> None:
    assert cls(**params).get_params() == params


# -- polar -------------------------------------------------------------------------------

def _radius_map(size: int) -> np.ndarray:
    """Distance of each pixel centre from the origin, in curve units: ``[size, size]``."""
    centres = (np.arange(size) + 0.5) * (2 * FRAME / size) - FRAME
    return np.hypot(centres[None, :], centres[:, None])


def _mean_radius(image: np.ndarray) -> float:
    """Intensity-weighted mean distance from the origin of ``image [S, S]``."""
    img = image.astype(np.float64)
    return float((img * _radius_map(img.shape[0])).sum() / img.sum())


def test_polar_shape_dtype_and_determinism() -> None:
    ds = PolarDataset(n_samples=40, image_size=32)
    assert ds.image_shape == (1, 32, 32)
    f, x = ds.load(seed=3)
    assert f.shape == (40, 2) and f.dtype == np.float64
    assert x.shape == (40, 1, 32, 32) and x.dtype == np.uint8
    assert ds.space.contains(f).all()
    f2, x2 = ds.load(seed=3)
    np.testing.assert_array_equal(f, f2)
    np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(f, ds.factors(seed=4))
    assert x.reshape(40, -1).max(axis=1).min() > 200  # every image shows a bright line
    # each image depends on its own point only
    np.testing.assert_array_equal(ds.render(f[5:6]), x[5:6])


def test_polar_does_not_touch_global_rng() -> None:
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    PolarDataset(n_samples=5, image_size=16).load(seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_polar_circle_sits_at_its_radius() -> None:
    size = 64
    ds = PolarDataset(image_size=size)
    img = ds.render(np.array([[2.0, 0.0]]))[0, 0].astype(np.float64)
    radius = _radius_map(size)
    assert _mean_radius(img) == pytest.approx(2.0, abs=0.02)
    px = 2 * FRAME / size  # curve units per pixel
    near = np.abs(radius - 2.0) < 1.0 * px
    assert img[near].sum() / img.sum() > 0.97  # the ink lies within a pixel of the circle
    assert img[np.abs(radius - 2.0) > 2 * px].max() == 0
    # continuous, no gaps: around every point of the circle, one of the four nearest pixels
    # is at least half bright (a line between pixel centres shares its ink)
    theta = np.linspace(-np.pi, np.pi, 2000, endpoint=False)
    u = (2.0 * np.cos(theta) + FRAME) / px - 0.5
    v = (FRAME - 2.0 * np.sin(theta)) / px - 0.5
    iu, iv = np.floor(u).astype(int), np.floor(v).astype(int)
    local = np.max([img[iv, iu], img[iv, iu + 1], img[iv + 1, iu], img[iv + 1, iu + 1]], axis=0)
    assert local.min() >= 127


def test_polar_fixed_frame_larger_a_draws_larger_curve() -> None:
    ds = PolarDataset(image_size=64)
    a = np.array([0.5, 0.8, 1.2, 1.6, 2.0])
    images = ds.render(np.column_stack([a, np.full_like(a, 0.5)]))
    radii = [_mean_radius(im[0]) for im in images]
    assert np.all(np.diff(radii) > 0.2)
    # the largest curve fits the frame: nothing touches the border
    biggest = ds.render(np.array([[2.0, 2.0]]))[0, 0]
    border = np.concatenate([biggest[0], biggest[-1], biggest[:, 0], biggest[:, -1]])
    assert border.max() == 0
    assert biggest.max() == 255  # it crosses itself at the origin: saturates


def test_polar_negative_radius_passes_through_origin() -> None:
    size = 64
    img = PolarDataset(image_size=size).render(np.array([[0.5, 2.0]]))[0, 0]
    c = size // 2
    assert img[c - 1:c + 1, c - 1:c + 1].max() > 200
    # an always-positive R (a > b) keeps away from the origin
    img2 = PolarDataset(image_size=size).render(np.array([[2.0, 0.5]]))[0, 0]
    assert img2[c - 4:c + 4, c - 4:c + 4].max() == 0


def test_polar_render_rejects_bad_points() -> None:
    ds = PolarDataset(image_size=16)
    with pytest.raises(DataError, match="outside the latent space"):
        ds.render(np.array([[2.5, 1.0]]))
    with pytest.raises(DataError, match="outside"):
        ds.render(np.array([[1.0, -0.1]]))
    with pytest.raises(DataError, match="shape"):
        ds.render(np.array([1.0, 1.0]))
    with pytest.raises(DataError, match="shape"):
        ds.render(np.ones((2, 3)))


def test_polar_bad_params() -> None:
    with pytest.raises(PluginParameterError, match="image_size"):
        PolarDataset(image_size=2)
    with pytest.raises(PluginParameterError, match="line_width"):
        PolarDataset(line_width=0.0)


def test_polar_grid_sampling() -> None:
    ds = PolarDataset(n_samples=100, image_size=16, sampling="grid")
    f = ds.factors(seed=0)
    np.testing.assert_array_equal(f, ds.factors(seed=99))
    assert abs(len(f) - 100) <= 10
    a, b = np.unique(f[:, 0]), np.unique(f[:, 1])
    assert len(a) * len(b) == len(f)
    assert a[0] == 0.5 and a[-1] == 2.0 and b[0] == 0.0 and b[-1] == 2.0
    # square cells: equal steps along a and b
    assert np.diff(a).mean() == pytest.approx(np.diff(b).mean(), rel=0.1)
    assert ds.render(f[:3]).shape == (3, 1, 16, 16)


def test_polar_large_images_and_line_width() -> None:
    pts = np.array([[1.25, 1.0], [2.0, 2.0]])
    big = PolarDataset(image_size=256).render(pts)
    assert big.shape == (2, 1, 256, 256) and big.dtype == np.uint8
    assert _mean_radius(big[0, 0]) == pytest.approx(
        _mean_radius(PolarDataset(image_size=64).render(pts[:1])[0, 0]), abs=0.05)
    thin = PolarDataset(image_size=64).render(pts).astype(np.float64).sum()
    thick = PolarDataset(image_size=64, line_width=3.0).render(pts).astype(np.float64).sum()
    assert 2.0 < thick / thin < 3.2  # three times the ink, less the overlaps


def test_polar_small_b_weighting() -> None:
    weigh = PolarDataset().weightings()["small_b"]
    f = np.column_stack([np.full(9, 1.0), np.linspace(0.0, 2.0, 9)])
    w = weigh(f)
    assert w.shape == (9,) and (w > 0).all()
    assert w.mean() == pytest.approx(1.0)
    assert np.all(np.diff(w) < 0)
    np.testing.assert_allclose(w, np.exp(-f[:, 1]) / np.exp(-f[:, 1]).mean())


# -- gaussian ----------------------------------------------------------------------------

POINTS = [(0.1, 0.1, -0.95), (4.9, 0.3, float(CORRELATIONS[-1])), (1.3, 2.5, 0.05),
          (0.1, 4.9, -0.95), (2.0, 2.0, 0.0), (0.7, 3.3, 0.6)]


def _scale(vx: float, vy: float, c: float) -> np.ndarray:
    s = c * np.sqrt(vx * vy)
    return np.array([[vx, s], [s, vy]])


def test_gaussian_matches_scipy() -> None:
    ds = GaussianDataset()
    dens = ds.density(np.array(POINTS))
    assert dens.shape == (len(POINTS), 36, 36) and dens.dtype == np.float64
    for d, (vx, vy, c) in zip(dens, POINTS):
        ref = stats.multivariate_normal(mean=[0, 0], cov=_scale(vx, vy, c)).pdf(GRID_POS)
        np.testing.assert_allclose(d, ref / ref.max(), atol=1e-6, rtol=0)
    images = ds.render(np.array(POINTS))
    assert images.shape == (len(POINTS), 1, 36, 36) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0], np.rint(dens * 255).astype(np.uint8))


def test_gaussian_grid_is_exactly_the_aranges() -> None:
    ds = GaussianDataset()
    f, x = ds.load(seed=0)
    assert f.shape == (11875, 3) and x.shape == (11875, 1, 36, 36) and x.dtype == np.uint8
    expected = {(vx, vy, c) for vx in np.arange(0.1, 5, 0.2) for vy in np.arange(0.1, 5, 0.2)
                for c in np.arange(-0.95, 0.95, 0.1)}
    assert len(expected) == 11875
    assert {tuple(row) for row in f} == expected
    np.testing.assert_array_equal(f, ds.factors(seed=123))  # the grid ignores the seed
    space = ds.space
    assert space.names == ["vx", "vy", "c"]
    assert space["vx"].bounds == (VARIANCES[0], VARIANCES[-1])
    assert space["c"].bounds == (CORRELATIONS[0], CORRELATIONS[-1])
    assert x.reshape(len(x), -1).max(axis=1).min() == 255  # max-normalized


def test_gaussian_uniform_and_subset_sampling() -> None:
    ds = GaussianDataset(sampling="uniform", n_samples=500)
    f = ds.factors(seed=1)
    assert f.shape == (500, 3)
    assert ds.space.contains(f).all()
    assert len(np.unique(f[:, 0])) == 500  # continuous, not the grid
    np.testing.assert_array_equal(f, ds.factors(seed=1))
    assert not np.array_equal(f, ds.factors(seed=2))
    sub = GaussianDataset(n_samples=50).factors(seed=0)
    grid = {tuple(r) for r in GaussianDataset().factors(seed=0)}
    assert len(sub) == 50 and all(tuple(r) in grid for r in sub)
    with pytest.raises(DataError, match="n_samples"):
        GaussianDataset(n_samples=20000).factors(seed=0)


def test_gaussian_render_rejects_bad_points() -> None:
    ds = GaussianDataset()
    with pytest.raises(DataError):
        ds.render(np.array([[0.05, 1.0, 0.0]]))
    with pytest.raises(DataError):
        ds.density(np.array([[1.0, 1.0, 0.9]]))  # c above 0.85
    with pytest.raises(DataError, match="shape"):
        ds.render(np.array([[1.0, 1.0]]))


# -- gaussian_t --------------------------------------------------------------------------

def test_gaussian_t_matches_scipy() -> None:
    ds = GaussianTDataset()
    pts = np.array([p + (df,) for p in POINTS for df in (2.0, 200.0)])
    dens = ds.density(pts)
    for d, (vx, vy, c, df) in zip(dens, pts):
        ref = stats.multivariate_t(loc=[0, 0], shape=_scale(vx, vy, c), df=df).pdf(GRID_POS)
        np.testing.assert_allclose(d, ref / ref.max(), atol=1e-6, rtol=0)
    # heavier tails at df = 2
    assert dens[0::2][:, 0, 0].sum() > dens[1::2][:, 0, 0].sum()
    with pytest.raises(DataError):
        ds.render(np.array([[1.0, 1.0, 0.0, 3.0]]))  # df must be 2 or 200


def test_gaussian_t_df_rule() -> None:
    ds = GaussianTDataset()
    f = ds.factors(seed=0)
    assert f.shape == (11875, 4)
    np.testing.assert_array_equal(f, ds.factors(seed=0))
    other = ds.factors(seed=1)
    np.testing.assert_array_equal(f[:, :3], other[:, :3])
    assert not np.array_equal(f[:, 3], other[:, 3])
    assert set(np.unique(f[:, 3])) == {2.0, 200.0}
    assert 0.4 < (f[:, 3] == 2.0).mean() < 0.6
    u = np.random.default_rng(0).uniform(0.0, 10.0, size=len(f))  # the grid draws nothing
    s2 = (f[:, 0] + f[:, 1]) ** 2
    np.testing.assert_array_equal(f[:, 3], np.where(s2 - u > 20, 2.0, 200.0))
    assert (f[s2 > 30, 3] == 2.0).all() and (f[s2 <= 20, 3] == 200.0).all()
    uni = GaussianTDataset(sampling="uniform", n_samples=300).load(seed=5)
    assert uni[0].shape == (300, 4) and uni[1].shape == (300, 1, 36, 36)


# -- digits and mnist --------------------------------------------------------------------

def test_digits_filter_and_shapes() -> None:
    ds = DigitsDataset()
    assert ds.classes == [1, 8] and not ds.renderable
    f, x = ds.load(seed=0)
    assert x.dtype == np.uint8 and x.shape == (len(f), 1, 8, 8) and ds.image_shape == (1, 8, 8)
    assert f.shape == (len(x), 1) and set(np.unique(f)) == {1.0, 8.0}
    assert 300 < len(f) < 400 and x.max() == 255
    assert ds.space["digit"].values == (1.0, 8.0)
    f3, x3 = DigitsDataset(classes=[3, 0, 7]).load(seed=0)
    assert set(np.unique(f3)) == {0.0, 3.0, 7.0}
    assert DigitsDataset(classes=[7, 3]).space["digit"].values == (3.0, 7.0)
    with pytest.raises(PluginParameterError, match="classes"):
        DigitsDataset(classes=[12])
    with pytest.raises(PluginParameterError, match="classes"):
        DigitsDataset(classes=[])


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, dtype: str, suffix: str) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, arr)
    raw = path.read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    code = {"uint8": 8, "int8": 9, "int16": 11, "int32": 12, "float32": 13, "float64": 14}
    assert raw[:4] == bytes([0, 0, code[dtype], 3])
    assert raw[4:16] == bytes([0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5])  # big-endian dims


def test_idx_reader_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01x")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "code").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01x")
    with pytest.raises(DataError, match="type code"):
        read_idx(tmp_path / "code")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match="header says"):
        read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "missing")


def _write_mnist(root: Path, prefix: str, n: int, seed: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def test_mnist_loads_idx_files(tmp_path: Path) -> None:
    train_x, train_y = _write_mnist(tmp_path, "train", 60, 0, gz=False)
    test_x, test_y = _write_mnist(tmp_path, "t10k", 20, 1, gz=True)
    ds = MnistDataset(path=str(tmp_path))
    assert ds.image_shape == (1, 28, 28)
    assert ds.space["digit"].values == tuple(float(d) for d in range(10))
    f, x = ds.load(seed=0)
    np.testing.assert_array_equal(x[:, 0], train_x)
    np.testing.assert_array_equal(f[:, 0], train_y)
    f, x = MnistDataset(path=str(tmp_path), part="test", classes=[1, 8]).load(seed=0)
    keep = np.isin(test_y, [1, 8])
    np.testing.assert_array_equal(x[:, 0], test_x[keep])
    np.testing.assert_array_equal(f[:, 0], test_y[keep])
    assert f.dtype == np.float64 and x.dtype == np.uint8
    f, x = MnistDataset(path=str(tmp_path), part="all").load(seed=0)
    assert len(f) == 80
    np.testing.assert_array_equal(x[60:, 0], test_x)


def test_mnist_missing_files_name_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*train-labels-idx1-ubyte"):
        MnistDataset(path=str(tmp_path / "nope")).load(seed=0)
    _write_mnist(tmp_path, "train", 5, 0, gz=True)
    with pytest.raises(DataError, match="no file t10k-images-idx3-ubyte"):
        MnistDataset(path=str(tmp_path), part="test").load(seed=0)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="no file train-labels-idx1-ubyte"):
        MnistDataset(path=str(tmp_path)).load(seed=0)


# -- the seed experiment's grid order, split and float pixels ------------------------------

def test_gaussian_experiment_order_split_and_float_pixels(tmp_path: Path) -> None:
    from sklearn.model_selection import train_test_split

    from zsbench.registry import Registry
    from zsbench.runner import prepare_data
    from zsbench.suite import load_suite

    v, c = np.arange(0.1, 5, 0.2), np.arange(-0.95, 0.95, 0.1)
    expected = np.array(np.meshgrid(v, v, c)).T.reshape(-1, 3)
    ds = GaussianTDataset(order="experiment", test_split="experiment", pixels="float32")
    f = ds.factors(seed=0)
    np.testing.assert_array_equal(f[:, :3], expected)
    assert GaussianDataset().fixed_test(100) is None
    _, test_rows = train_test_split(np.arange(len(f)), test_size=0.2, random_state=19)
    mask = ds.fixed_test(len(f))
    np.testing.assert_array_equal(np.flatnonzero(mask), np.sort(test_rows))
    images = ds.render(f[:20])
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images[:, 0], ds.density(f[:20]).astype(np.float32))
    assert not np.array_equal(images, GaussianTDataset().render(f[:20]) / np.float32(255))

    # the runner keeps exactly the experiment's test rows (whatever test_fraction says)
    suite_file = tmp_path / "e3.toml"
    suite_file.write_text('[suite]\nname = "e3"\n[dataset]\nplugin = "gaussian"\n'
                          'order = "experiment"\ntest_split = "experiment"\n'
                          'pixels = "float32"\n[splits]\ntest_fraction = 0.5\n'
                          'validation_fraction = 0.1\n'
                          '[[model]]\nplugin = "ae"\n[[metric]]\nplugin = "frobenius"\n')
    data = prepare_data(load_suite(suite_file, registry=Registry()), Registry())
    test = data.splits["test"]
    np.testing.assert_array_equal(test.factors, expected[np.sort(test_rows)])
    assert test.images.dtype == np.float32
    rest = {tuple(r) for r in data.splits["train"].factors} | {
        tuple(r) for r in data.splits["validation"].factors}
    assert len(rest) == len(expected) - len(test_rows)
    assert len(data.splits["validation"]) == round(0.1 * len(expected))  # of the whole
    with pytest.raises(PluginParameterError, match="order"):
        GaussianDataset(order="meshgrid")
    with pytest.raises(PluginParameterError, match="order"):
        GaussianDataset(order="experiment", sampling="uniform")


def test_a_missing_data_folder_names_the_suite_file_and_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    suite = tmp_path / "mnist.toml"
    suite.write_text('[suite]\nname = "m"\nseeds = [0]\n[dataset]\nplugin = "mnist"\n'
                     f'path = "{tmp_path / "nowhere"}"\n[[model]]\nplugin = "ae"\n'
                     'label = "ae"\n[[metric]]\nplugin = "holdout_reconstruction"\n')
    proc = subprocess.run([sys.executable, "-m", "zsbench.cli", "validate", str(suite)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{suite}: [dataset]: " in proc.stderr and "is not a directory" in proc.stderr
    assert proc.stderr.count("Fix:") == 1
