"""Shapes3D (Burgess & Kim 2018, "3dshapes"), read from the original HDF5 file.

Nothing is downloaded at run time: the user points ``path`` at a local copy of
``3dshapes.h5`` (or at a folder holding it, or sets ``$ZSBENCH_DATA_DIR``). h5py is an
optional dependency (``pip install "zsbench[shapes3d]"``), imported only when the file is
read.

Facts about the file, and where each was read:

- Keys ``images`` (uint8 ``[480000, 64, 64, 3]``, RGB) and ``labels`` (float64 ``[480000,
  6]``): github.com/deepmind/3d-shapes, ``README.md`` ("The data is stored in a HDF5 file
  with the following fields") and ``3dshapes_loading_example.ipynb``.
- The factor order of ``labels``' columns, ``floor_hue, wall_hue, object_hue, scale,
  shape, orientation``, and the number of values 10, 10, 10, 8, 4, 15 (10*10*10*8*4*15 =
  480 000): ``3dshapes_loading_example.ipynb`` (``_FACTORS_IN_ORDER``,
  ``_NUM_VALUES_PER_FACTOR``). Rows are in grid order, orientation fastest (README: "We
  varied one latent at a time (starting from orientation, then shape, etc)").
- The label *values*: the README says the hues are "linearly spaced in [0, 1]" and the scale
  "in [0, 1]", but code that reads the real file, github.com/mmrl/disent-and-gen
  ``src/dataset/shapes3d.py`` (``Shapes3D.lat_values``), lists hues 0.0, 0.1, ..., 0.9,
  scale ``linspace(0.75, 1.25, 8)`` and orientation ``linspace(-30, 30, 15)`` (degrees); those
  are declared here. The loader checks every label against them (within a small tolerance)
  and refuses a file whose labels differ, naming the factor.
- Shape names (0 cube, 1 cylinder, 2 sphere, 3 capsule/"pill"): the same file of
  disent-and-gen ("0=square, 1=cylinder, 2=sphere, 3=pill"); the 3d-shapes README does not
  name them.
- Where to get it: the 3d-shapes README ("Download data file from Google Cloud Storage"),
  https://console.cloud.google.com/storage/browser/3d-shapes. No checksum is published there.

The file is HDF5 (not an ``.npz``): h5py reads only the rows asked for, so ``n_samples``
(a seeded subset of the grid) costs the memory of those rows alone (the full set is 5.9 GB
of uint8 pixels).

This module also holds the helpers that locate an original data file
(:class:`OriginalFile`, :func:`find_original`); ``mpi3d`` uses them too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset
from zsbench.space import Factor, LatentSpace

#: The environment variable naming a folder that holds the original data files under their
#: standard names (used when a dataset's ``path`` is left empty).
DATA_DIR_ENV = "ZSBENCH_DATA_DIR"

#: Rows read from a file per call (bounds the temporaries: 2048 RGB 64x64 images = 25 MB).
READ_CHUNK = 2048


# -- locating an original file --------------------------------------------------------------

@dataclass(frozen=True)
class OriginalFile:
    """What a user must fetch by hand: the file's standard ``name``, where it comes from
    (``source``), a ``checksum`` sentence (a published sha256, or what to expect when none
    is published) and its ``format`` in a few words."""

    plugin: str
    name: str
    source: str
    checksum: str
    format: str

    def missing(self, problem: str) -> DataError:
        """The error for a file that is not where the suite says: names the file, where to
        get it, how to check it and how to point zsbench at it."""
        return DataError(
            f'dataset "{self.plugin}": {problem} zsbench never downloads data: get '
            f"{self.name} ({self.format}) from {self.source}; {self.checksum}",
            f'set path = "/where/it/is/{self.name}" (or its folder) in the suite\'s '
            f"[dataset] table, or put it in the folder ${DATA_DIR_ENV} names.")


def find_original(path: str, spec: OriginalFile) -> Path:
    """The local file ``spec`` describes: ``path`` itself when it is a file, ``path /
    spec.name`` when it is a folder, ``$ZSBENCH_DATA_DIR / spec.name`` when ``path`` is
    empty; else :meth:`OriginalFile.missing`."""
    if path:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            if (p / spec.name).is_file():
                return p / spec.name
            raise spec.missing(f'the folder path = "{path}" holds no {spec.name}.')
        raise spec.missing(f'no file at path = "{path}".')
    folder = os.environ.get(DATA_DIR_ENV, "")
    if folder:
        candidate = Path(folder).expanduser() / spec.name
        if candidate.is_file():
            return candidate
        raise spec.missing(f'path is not set and ${DATA_DIR_ENV} = "{folder}" holds no '
                           f"{spec.name}.")
    raise spec.missing(f"path is not set and ${DATA_DIR_ENV} is not set.")


def check_n_samples(plugin: str, n_samples: Any) -> None:
    """``n_samples`` must be None or a positive integer."""
    if n_samples is not None and (not isinstance(n_samples, (int, np.integer))
                                  or isinstance(n_samples, bool) or n_samples < 1):
        raise PluginParameterError("dataset", plugin, "n_samples",
                                   f"must be a positive integer, got {n_samples!r}.",
                                   "give e.g. n_samples = 20000, or leave it out for every "
                                   "image of the file.")


def check_include(plugin: str, include: Any, space: LatentSpace) -> None:
    """``include`` must be None or a table ``{factor: [low, high]}`` of factors of
    ``space`` with ``low <= high``."""
    if include is None:
        return
    fix = ("give a box of grid points always loaded, e.g. include = { shape = [1, 1], "
           "scale = [1.1, 1.25] }, or leave it out.")
    if not isinstance(include, dict) or not include:
        raise PluginParameterError("dataset", plugin, "include", f"got {include!r}.", fix)
    for name, pair in include.items():
        if name not in space.names:
            raise PluginParameterError("dataset", plugin, "include",
                                       f'"{name}" is not a factor (factors: '
                                       f"{', '.join(space.names)}).", fix)
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in pair) or pair[0] > pair[1]):
            raise PluginParameterError("dataset", plugin, "include",
                                       f"{name} = {pair!r} is not [low, high] with low <= "
                                       "high.", fix)


def chosen_rows(n_rows: int, n_samples: int | None, seed: int,
                always: np.ndarray | None = None) -> np.ndarray:
    """Sorted row indices: all ``n_rows``, or a subset of ``n_samples`` drawn without
    replacement by ``np.random.default_rng(seed)``, joined with the rows where the bool mask
    ``always [n_rows]`` is set."""
    if n_samples is None or int(n_samples) >= n_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    rows = rng.choice(n_rows, size=int(n_samples), replace=False)
    if always is not None:
        rows = np.union1d(rows, np.flatnonzero(always))
    return np.sort(rows)


def include_mask(factors: np.ndarray, space: LatentSpace,
                 include: dict[str, Sequence[float]] | None) -> np.ndarray | None:
    """Bool ``[N]``: the rows of ``factors [N, F]`` inside the box ``include`` (``{factor:
    [low, high]}``, bounds included); None without a box."""
    if not include:
        return None
    mask = np.ones(len(factors), dtype=bool)
    for name, (low, high) in include.items():
        col = factors[:, space.index(name)]
        mask &= (col >= float(low) - 1e-9) & (col <= float(high) + 1e-9)
    return mask


def grid_points(values: Sequence[Sequence[float]], index: np.ndarray | None = None
                ) -> np.ndarray:
    """Points ``float64 [N, F]`` of the grid whose factor ``f`` takes ``values[f]``, in
    row-major order (the last factor fastest), for flat grid ``index`` (default: all)."""
    sizes = tuple(len(v) for v in values)
    flat = np.arange(int(np.prod(sizes))) if index is None else np.asarray(index)
    idx = np.unravel_index(flat, sizes)
    return np.stack([np.asarray(v, dtype=np.float64)[i] for v, i in zip(values, idx)], axis=1)


def snap(labels: np.ndarray, space: LatentSpace, *, plugin: str, where: Path) -> np.ndarray:
    """``labels [N, F]`` replaced by the nearest declared value of each (discrete) factor;
    a :class:`DataError` when a label lies farther than a thousandth of the factor's
    spacing from every value (the file is not the one whose grid this loader declares)."""
    out = np.empty(labels.shape, dtype=np.float64)
    for i, f in enumerate(space.factors):
        values = np.asarray(f.values, dtype=np.float64)
        col = np.asarray(labels[:, i], dtype=np.float64)
        nearest = np.abs(col[:, None] - values[None, :]).argmin(axis=1)
        spacing = float(np.min(np.diff(np.sort(values)))) if len(values) > 1 else 1.0
        off = np.abs(col - values[nearest])
        if len(col) and float(off.max()) > 1e-3 * spacing:
            bad = col[int(off.argmax())]
            raise DataError(
                f'dataset "{plugin}": {where} has {f.name} = {bad!r} (column {i} of the '
                f"labels), which is none of the values this loader declares "
                f"({', '.join(f'{v:g}' for v in values)}).",
                "use the original file; the labels' columns must follow the factor order "
                f"{', '.join(space.names)}.")
        out[:, i] = values[nearest]
    return out


# -- Shapes3D ------------------------------------------------------------------------------

HUES = tuple(k / 10.0 for k in range(10))
SCALES = tuple(float(v) for v in np.linspace(0.75, 1.25, 8))
SHAPES = (0.0, 1.0, 2.0, 3.0)
ORIENTATIONS = tuple(float(v) for v in np.linspace(-30.0, 30.0, 15))
#: The factors, in the order of the file's ``labels`` columns, with their values.
FACTOR_VALUES: dict[str, tuple[float, ...]] = {
    "floor_hue": HUES,
    "wall_hue": HUES,
    "object_hue": HUES,
    "scale": SCALES,
    "shape": SHAPES,
    "orientation": ORIENTATIONS,
}
GRID_SHAPE = tuple(len(v) for v in FACTOR_VALUES.values())  # (10, 10, 10, 8, 4, 15)
GRID_SIZE = int(np.prod(GRID_SHAPE))  # 480 000
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")

SHAPES3D_FILE = OriginalFile(
    plugin="shapes3d",
    name="3dshapes.h5",
    source="the 3d-shapes repository's Google Cloud Storage bucket "
           "(https://github.com/deepmind/3d-shapes, README: 'Download data file from Google "
           "Cloud Storage', https://console.cloud.google.com/storage/browser/3d-shapes)",
    checksum="no checksum is published; the original holds 'images' uint8 "
             "[480000, 64, 64, 3] and 'labels' float64 [480000, 6].",
    format="HDF5; reading it needs h5py: pip install \"zsbench[shapes3d]\"",
)


def grid(index: np.ndarray | None = None) -> np.ndarray:
    """The Shapes3D grid ``float64 [480000, 6]`` (or the points at flat ``index``), in the
    file's row order: floor_hue slowest, orientation fastest."""
    return grid_points(list(FACTOR_VALUES.values()), index)


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise DataError('dataset "shapes3d": reading 3dshapes.h5 needs h5py, which is not '
                        "installed.", 'pip install "zsbench[shapes3d]" (or pip install '
                        "h5py).") from None
    return h5py


def write_shapes3d(path: str | os.PathLike[str], labels: np.ndarray, images: np.ndarray
                   ) -> Path:
    """Write an HDF5 file in the layout of the original ``3dshapes.h5``: ``images`` uint8
    ``[N, 64, 64, 3]`` and ``labels`` float64 ``[N, 6]`` (e.g. a tiny one for tests)."""
    h5py = _h5py()
    path = Path(path)
    with h5py.File(path, "w") as fh:
        fh.create_dataset("images", data=np.asarray(images, dtype=np.uint8))
        fh.create_dataset("labels", data=np.asarray(labels, dtype=np.float64))
    return path


class Shapes3DDataset(Dataset):
    """Shapes3D: 3D scenes of floor, wall and one object, from the original 3dshapes.h5.

    Factors (the file's label order; all discrete): ``floor_hue``, ``wall_hue``,
    ``object_hue`` in {0, 0.1, ..., 0.9}; ``scale`` in linspace(0.75, 1.25, 8); ``shape``
    in {0, 1, 2, 3} (cube, cylinder, sphere, capsule); ``orientation`` in linspace(-30, 30,
    15) degrees. Images are RGB ``uint8 [N, 3, 64, 64]``. Fixed dataset: no renderer.

    Parameters
    ----------
    path:
        The file ``3dshapes.h5``, or a folder holding it; empty: ``$ZSBENCH_DATA_DIR``.
    n_samples:
        None: every image of the file; a number: a seeded subset of that many rows (grid
        points), read alone from the file and kept in file order.
    include:
        With ``n_samples``: a box ``{factor: [low, high]}`` whose grid points are loaded
        whatever the draw (added to it), e.g. a small holdout that a subset would miss.
    """

    name = "shapes3d"
    renderable = False
    depends_on = ("h5py",)

    def __init__(self, *, path: str = "", n_samples: int | None = None,
                 include: dict[str, list[float]] | None = None) -> None:
        self.path = path
        self.n_samples = n_samples
        self.include = include
        check_n_samples(self.name, n_samples)
        check_include(self.name, include, self.space)

    @property
    def space(self) -> LatentSpace:
        """The six discrete factors, in the file's label order."""
        descriptions = {
            "floor_hue": "hue of the floor",
            "wall_hue": "hue of the wall",
            "object_hue": "hue of the object",
            "scale": "size of the object",
            "shape": "0 = cube, 1 = cylinder, 2 = sphere, 3 = capsule",
            "orientation": "rotation of the scene in degrees",
        }
        return LatentSpace(tuple(Factor(n, values=v, description=descriptions[n])
                                 for n, v in FACTOR_VALUES.items()))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(3, 64, 64)``."""
        return (3, 64, 64)

    def grid(self) -> np.ndarray:
        """Every point of the full grid, ``float64 [480000, 6]``, in file order (no file
        needed)."""
        return grid()

    def load(self, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factors float64 [N, 6], images uint8 [N, 3, 64, 64])``, reading only the
        chosen rows."""
        p = find_original(self.path, SHAPES3D_FILE)
        h5py = _h5py()
        try:
            fh = h5py.File(p, "r")
        except OSError as exc:
            raise DataError(f'dataset "shapes3d": {p} is not an HDF5 file ({exc}).',
                            "point path at the original 3dshapes.h5.") from None
        with fh:
            missing = [k for k in ("images", "labels") if k not in fh]
            if missing:
                raise DataError(f'dataset "shapes3d": {p} has no {" or ".join(missing)} '
                                f"(it holds {', '.join(sorted(fh.keys())) or 'nothing'}).",
                                "point path at the original 3dshapes.h5.")
            images, labels = fh["images"], fh["labels"]
            n = labels.shape[0] if labels.ndim == 2 else -1
            if (images.ndim != 4 or tuple(images.shape[1:]) != (64, 64, 3)
                    or images.dtype != np.uint8 or labels.shape != (images.shape[0], 6)
                    or labels.dtype.kind != "f"):
                raise DataError(
                    f'dataset "shapes3d": {p} holds images {images.dtype} '
                    f"{list(images.shape)} and labels {labels.dtype} {list(labels.shape)}; "
                    "expected uint8 [N, 64, 64, 3] and float64 [N, 6].",
                    "point path at the original 3dshapes.h5.")
            factors = snap(np.asarray(labels[()]), self.space, plugin=self.name, where=p)
            rows = chosen_rows(n, self.n_samples, seed,
                               include_mask(factors, self.space, self.include))
            out = np.empty((len(rows), 64, 64, 3), dtype=np.uint8)
            if len(rows) == n:  # every row: contiguous blocks
                for a in range(0, n, READ_CHUNK):
                    out[a:a + READ_CHUNK] = images[a:a + READ_CHUNK]
            else:  # h5py fancy indexing wants increasing indices: rows are sorted
                for a in range(0, len(rows), READ_CHUNK):
                    out[a:a + READ_CHUNK] = images[rows[a:a + READ_CHUNK]]
        return factors[rows], np.ascontiguousarray(out.transpose(0, 3, 1, 2))
