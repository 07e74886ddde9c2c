"""The loaders of the original dSprites, Shapes3D and MPI3D files, on tiny files written in
exactly the original formats (same keys, dtypes, per-image shapes and factor order; only
fewer images). Every image encodes its own grid coordinates in its pixels, so a loader that
pairs an image with the wrong factors, or reads the factors in the wrong order, fails."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zsbench.errors import DataError, PluginParameterError
from zsbench.regions import Box
from zsbench_plugins.datasets import DSpritesDataset, MPI3DDataset, Shapes3DDataset
from zsbench_plugins.datasets import mpi3d as mpi3d_module
from zsbench_plugins.datasets import shapes3d as shapes3d_module
from zsbench_plugins.datasets.mpi3d import write_mpi3d
from zsbench_plugins.datasets.sprites import GRID_SHAPE as DSPRITES_GRID
from zsbench_plugins.datasets.sprites import grid_points as dsprites_points

# -- dSprites -------------------------------------------------------------------------------


def _write_dsprites(path: Path, index: np.ndarray) -> np.ndarray:
    """A tiny dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz in the original layout (README
    of github.com/deepmind/dsprites-dataset): compressed npz with ``imgs`` uint8 [N, 64, 64]
    (0/1), ``latents_values`` float64 [N, 6] (color, shape 1..3, scale, orientation, posX,
    posY), ``latents_classes`` int64 [N, 6] and a pickled ``metadata`` dict. The image's
    first row holds its class indices (as 0/1 bits). Returns the classes [N, 6]."""
    classes = np.column_stack([np.zeros(len(index), np.int64),
                               np.array(np.unravel_index(index, DSPRITES_GRID)).T])
    f = dsprites_points(index)
    values = np.column_stack([np.ones(len(index)), f[:, 0] + 1.0, f[:, 1:]])
    imgs = np.zeros((len(index), 64, 64), np.uint8)
    for j in range(5):  # 6 bits per class index, row j
        bits = (classes[:, 1 + j, None] >> np.arange(6)[None, :]) & 1
        imgs[:, j, :6] = bits
    metadata = np.array({"latents_sizes": np.array([1, 3, 6, 40, 32, 32]),
                         "latents_names": ("color", "shape", "scale", "orientation",
                                           "posX", "posY")}, dtype=object)
    np.savez_compressed(path, imgs=imgs, latents_values=values.astype(np.float64),
                        latents_classes=classes, metadata=metadata)
    return classes


def test_dsprites_reads_the_original_layout(tmp_path: Path) -> None:
    index = np.array([0, 1, 31, 32, 4095, 40960, 245759, 245760, 491520, 737279])
    path = tmp_path / "dsprites.npz"
    classes = _write_dsprites(path, index)
    factors, images = DSpritesDataset(path=str(path)).load(seed=0)
    assert factors.dtype == np.float64 and images.dtype == np.uint8
    assert images.shape == (len(index), 1, 64, 64) and set(np.unique(images)) <= {0, 255}
    np.testing.assert_allclose(factors, dsprites_points(index))
    decoded = np.stack([((images[:, 0, j, :6] > 0) << np.arange(6)).sum(axis=1)
                        for j in range(5)], axis=1)
    np.testing.assert_array_equal(decoded, classes[:, 1:])
    np.testing.assert_array_equal(factors[:, 0], classes[:, 1])  # shape 0..2 = class


def test_dsprites_missing_file_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        DSpritesDataset(path=str(tmp_path / "none.npz")).load(seed=0)
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in str(info.value)
    assert "github.com/deepmind/dsprites-dataset" in str(info.value)
    assert "git hash-object" in str(info.value) and "Fix:" in str(info.value)


def test_dsprites_found_in_a_folder_or_the_data_dir(tmp_path: Path, monkeypatch) -> None:
    name = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    _write_dsprites(tmp_path / name, np.array([0, 5, 737279]))
    factors, _ = DSpritesDataset(path=str(tmp_path)).load(seed=0)
    assert len(factors) == 3
    monkeypatch.setenv("ZSBENCH_DATA_DIR", str(tmp_path))
    again, _ = DSpritesDataset().load(seed=0)
    np.testing.assert_array_equal(again, factors)


# -- Shapes3D -------------------------------------------------------------------------------

SHAPES3D_INDEX = np.concatenate([np.arange(0, 480000, 1601), [479999]])


def _encode(images: np.ndarray, codes: np.ndarray) -> None:
    """Write ``codes [N, F]`` (small ints) into the first pixel row, one per column."""
    images[:, 0, : codes.shape[1], 0] = codes


def _write_shapes3d(path: Path, index: np.ndarray = SHAPES3D_INDEX) -> np.ndarray:
    """A tiny 3dshapes.h5 in the original layout (github.com/deepmind/3d-shapes README):
    ``images`` uint8 [N, 64, 64, 3], ``labels`` float64 [N, 6], rows in grid order. Returns
    the grid indices [N, 6] each image encodes."""
    pytest.importorskip("h5py")
    codes = np.array(np.unravel_index(index, shapes3d_module.GRID_SHAPE)).T
    images = np.zeros((len(index), 64, 64, 3), np.uint8)
    _encode(images, codes)
    shapes3d_module.write_shapes3d(path, shapes3d_module.grid(index), images)
    return codes


def test_shapes3d_factors_and_grid_follow_the_original_order() -> None:
    ds = Shapes3DDataset()
    assert ds.space.names == ["floor_hue", "wall_hue", "object_hue", "scale", "shape",
                              "orientation"]
    assert [len(f.values or ()) for f in ds.space.factors] == [10, 10, 10, 8, 4, 15]
    g = ds.grid()
    assert g.shape == (480000, 6) and ds.image_shape == (3, 64, 64) and not ds.renderable
    np.testing.assert_allclose(g[1], [0, 0, 0, 0.75, 0, -30 + 60 / 14])  # orientation fastest
    np.testing.assert_allclose(g[15], [0, 0, 0, 0.75, 1, -30])
    np.testing.assert_allclose(g[-1], [0.9, 0.9, 0.9, 1.25, 3, 30])
    assert ds.space.contains(g).all()


def test_shapes3d_loads_a_tiny_original_file(tmp_path: Path) -> None:
    codes = _write_shapes3d(tmp_path / "3dshapes.h5")
    factors, images = Shapes3DDataset(path=str(tmp_path / "3dshapes.h5")).load(seed=0)
    assert factors.dtype == np.float64 and images.dtype == np.uint8
    assert images.shape == (len(codes), 3, 64, 64)
    np.testing.assert_array_equal(images[:, 0, 0, :6], codes)  # channel 0, first row
    np.testing.assert_allclose(factors, shapes3d_module.grid(SHAPES3D_INDEX))
    # a folder, or $ZSBENCH_DATA_DIR, find the same file under its standard name
    again, _ = Shapes3DDataset(path=str(tmp_path)).load(seed=0)
    np.testing.assert_array_equal(again, factors)


def test_shapes3d_subset_reads_the_chosen_rows_and_the_include_box(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codes = _write_shapes3d(tmp_path / "3dshapes.h5")
    monkeypatch.setenv("ZSBENCH_DATA_DIR", str(tmp_path))
    all_f, all_x = Shapes3DDataset().load(seed=0)
    f, x = Shapes3DDataset(n_samples=25).load(seed=4)
    assert len(f) == 25 and x.shape == (25, 3, 64, 64)
    rows = [int(np.flatnonzero((all_f == r).all(axis=1))[0]) for r in f]
    assert rows == sorted(rows)  # file order
    np.testing.assert_array_equal(x, all_x[rows])
    np.testing.assert_array_equal(x[:, 0, 0, :6], codes[rows])
    f2, _ = Shapes3DDataset(n_samples=25).load(seed=4)
    np.testing.assert_array_equal(f2, f)  # the same seed, the same rows
    box = {"shape": [3.0, 3.0], "scale": [1.2, 1.25]}
    inc, _ = Shapes3DDataset(n_samples=5, include=box).load(seed=4)
    in_box = (all_f[:, 4] == 3) & (all_f[:, 3] >= 1.2)
    assert in_box.sum() >= 3
    assert {tuple(r) for r in all_f[in_box]} <= {tuple(r) for r in inc}
    assert 5 <= len(inc) <= 5 + in_box.sum()


def test_shapes3d_refuses_files_that_are_not_the_original(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    labels = shapes3d_module.grid(SHAPES3D_INDEX)
    images = np.zeros((len(labels), 64, 64, 3), np.uint8)
    swapped = labels[:, [5, 1, 2, 3, 4, 0]]  # orientation where floor_hue belongs
    shapes3d_module.write_shapes3d(tmp_path / "a.h5", swapped, images)
    with pytest.raises(DataError, match="floor_hue"):
        Shapes3DDataset(path=str(tmp_path / "a.h5")).load(seed=0)
    with h5py.File(tmp_path / "b.h5", "w") as fh:
        fh.create_dataset("images", data=images.astype(np.float32))
        fh.create_dataset("labels", data=labels)
    with pytest.raises(DataError, match="uint8"):
        Shapes3DDataset(path=str(tmp_path / "b.h5")).load(seed=0)
    with h5py.File(tmp_path / "c.h5", "w") as fh:
        fh.create_dataset("imgs", data=images)
    with pytest.raises(DataError, match="no images or labels"):
        Shapes3DDataset(path=str(tmp_path / "c.h5")).load(seed=0)


def test_shapes3d_missing_file_and_missing_h5py_say_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZSBENCH_DATA_DIR", raising=False)
    with pytest.raises(DataError) as info:
        Shapes3DDataset().load(seed=0)
    text = str(info.value)
    assert "3dshapes.h5" in text and "github.com/deepmind/3d-shapes" in text
    assert "no checksum is published" in text and "[480000, 64, 64, 3]" in text
    monkeypatch.setenv("ZSBENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="holds no 3dshapes.h5"):
        Shapes3DDataset().load(seed=0)
    (tmp_path / "3dshapes.h5").write_bytes(b"not hdf5")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(DataError, match=r'pip install "zsbench\[shapes3d\]"'):
        Shapes3DDataset().load(seed=0)


def test_shapes3d_and_mpi3d_reject_bad_parameters() -> None:
    with pytest.raises(PluginParameterError, match="n_samples"):
        Shapes3DDataset(n_samples=0)
    with pytest.raises(PluginParameterError, match="include"):
        Shapes3DDataset(include={"hue": [0, 1]})
    with pytest.raises(PluginParameterError, match="include"):
        MPI3DDataset(include={"object_color": [3, 1]})
    with pytest.raises(PluginParameterError, match="variant"):
        MPI3DDataset(variant="sim")  # type: ignore[arg-type]


# -- MPI3D ----------------------------------------------------------------------------------


class TinyMPI3D(MPI3DDataset):
    """MPI3D with a smaller grid (the original's factor order, fewer values), so that a
    whole file in the original layout fits a test."""

    sizes = {v: (3, 2, 2, 3, 2, 4, 5) for v in ("toy", "realistic", "real")} | {
        "complex": (2, 2, 2, 3, 2, 4, 5)}


def _write_tiny_mpi3d(path: Path, variant: str = "real", *, compressed: bool = False
                      ) -> np.ndarray:
    """A whole tiny-grid file in the original layout (github.com/rr-learning/
    disentanglement_dataset README and read_data.py: ``np.savez(..., images=...)``, uint8
    [N, 64, 64, 3], rows in row-major grid order). Returns the codes [N, 7]."""
    sizes = TinyMPI3D.sizes[variant]
    n = int(np.prod(sizes))
    codes = np.array(np.unravel_index(np.arange(n), sizes)).T
    images = np.zeros((n, 64, 64, 3), np.uint8)
    _encode(images, codes)
    write_mpi3d(path, images, compressed=compressed)
    return codes


def test_mpi3d_factors_and_grid_follow_the_original_order() -> None:
    ds = MPI3DDataset()
    assert ds.space.names == ["object_color", "object_shape", "object_size", "camera_height",
                              "background_color", "horizontal_axis", "vertical_axis"]
    assert ds.factor_sizes() == (6, 6, 2, 3, 3, 40, 40)
    assert MPI3DDataset(variant="complex").factor_sizes() == (4, 4, 2, 3, 3, 40, 40)
    assert "2 = cylinder" in ds.space["object_shape"].description
    g = ds.grid()
    assert g.shape == (1036800, 7)
    np.testing.assert_array_equal(g[1], [0, 0, 0, 0, 0, 0, 1])  # vertical_axis fastest
    np.testing.assert_array_equal(g[40], [0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(g[-1], [5, 5, 1, 2, 2, 39, 39])
    # the README's reshape([6,6,2,3,3,40,40,64,64,3]) puts row i at these coordinates
    np.testing.assert_array_equal(g[123456], np.unravel_index(123456, (6, 6, 2, 3, 3, 40, 40)))


@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_loads_a_tiny_original_file(tmp_path: Path, compressed: bool) -> None:
    path = tmp_path / "mpi3d_real.npz"
    codes = _write_tiny_mpi3d(path, compressed=compressed)
    with zipfile.ZipFile(path) as zf:  # the layout read_data.py writes: one stored member
        info = zf.getinfo("images.npy")
        assert zf.namelist() == ["images.npy"]
        assert (info.compress_type == zipfile.ZIP_STORED) is (not compressed)
    factors, images = TinyMPI3D(path=str(path)).load(seed=0)
    assert factors.dtype == np.float64 and images.dtype == np.uint8
    assert images.shape == (len(codes), 3, 64, 64)
    np.testing.assert_array_equal(factors, codes)
    np.testing.assert_array_equal(images[:, 0, 0, :7], codes)
    sub_f, sub_x = TinyMPI3D(path=str(tmp_path), n_samples=17).load(seed=2)
    flat = np.ravel_multi_index(sub_f.astype(int).T, TinyMPI3D.sizes["real"])
    assert len(sub_f) == 17 and np.all(np.diff(flat) > 0)  # distinct rows, in file order
    np.testing.assert_array_equal(sub_x[:, 0, 0, :7], sub_f)
    inc_f, _ = TinyMPI3D(path=str(path), n_samples=3,
                         include={"object_color": [2, 2], "horizontal_axis": [3, 3]}).load(seed=2)
    box = Box(low={"object_color": 2.0, "horizontal_axis": 3.0},
              high={"object_color": 2.0, "horizontal_axis": 3.0})
    assert box.contains(inc_f, TinyMPI3D().space).sum() == 2 * 2 * 3 * 2 * 5


def test_mpi3d_complex_variant_and_file_names(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    codes = _write_tiny_mpi3d(tmp_path / "mpi3d_real_complex.npz", "complex")
    monkeypatch.setenv("ZSBENCH_DATA_DIR", str(tmp_path))
    factors, _ = TinyMPI3D(variant="complex").load(seed=0)
    np.testing.assert_array_equal(factors, codes)
    with pytest.raises(DataError, match="holds no mpi3d_toy.npz"):
        TinyMPI3D(variant="toy").load(seed=0)


def test_mpi3d_refuses_files_that_are_not_the_original(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZSBENCH_DATA_DIR", raising=False)
    _write_tiny_mpi3d(tmp_path / "mpi3d_real.npz")
    with pytest.raises(DataError, match=r"has 1036800.*no labels"):
        MPI3DDataset(path=str(tmp_path)).load(seed=0)  # the real grid, a tiny file
    np.savez(tmp_path / "other.npz", imgs=np.zeros((240, 64, 64, 3), np.uint8))
    with pytest.raises(DataError, match='no array "images"'):
        TinyMPI3D(path=str(tmp_path / "other.npz")).load(seed=0)
    np.savez(tmp_path / "gray.npz", images=np.zeros((240, 64, 64), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 \[N, 64, 64, 3\]"):
        TinyMPI3D(path=str(tmp_path / "gray.npz")).load(seed=0)
    with pytest.raises(DataError) as info:
        MPI3DDataset(path=str(tmp_path / "missing.npz")).load(seed=0)
    text = str(info.value)
    assert "mpi3d_real.npz" in text and "huggingface.co/datasets/waleedgondal/mpi3d" in text
    assert "no checksum is published" in text and "[1036800, 64, 64, 3]" in text


def test_mpi3d_stored_member_is_memory_mapped_not_read_whole(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """A stored (uncompressed) member, as read_data.py writes, is never read through the zip
    stream: only np.memmap touches its pixels."""
    path = tmp_path / "mpi3d_real.npz"
    _write_tiny_mpi3d(path)

    def no_stream(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stored member was streamed")

    monkeypatch.setattr(mpi3d_module.zipfile.ZipFile, "open", no_stream)
    factors, images = TinyMPI3D(path=str(path), n_samples=5).load(seed=1)
    np.testing.assert_array_equal(images[:, 0, 0, :7], factors)


def test_loaders_pass_the_conformance_kit(tmp_path: Path) -> None:
    """zsbench.testing's dataset checks on each loader and a tiny original-format file (the
    way tests/test_testing_kit.py can drive them)."""
    from zsbench.testing import check_dataset

    _write_tiny_mpi3d(tmp_path / "mpi3d_real.npz")
    check_dataset(TinyMPI3D(path=str(tmp_path)))
    check_dataset(TinyMPI3D(path=str(tmp_path), n_samples=50))
    _write_dsprites(tmp_path / "dsprites.npz", np.arange(0, 737280, 7001))
    check_dataset(DSpritesDataset(path=str(tmp_path / "dsprites.npz")))
    pytest.importorskip("h5py")
    _write_shapes3d(tmp_path / "3dshapes.h5")
    check_dataset(Shapes3DDataset(path=str(tmp_path)))
    check_dataset(Shapes3DDataset(path=str(tmp_path), n_samples=40))
