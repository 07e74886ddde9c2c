"""MPI3D (Gondal et al. 2019): a robot arm moving an object, read from the original ``.npz``.

Nothing is downloaded at run time: ``path`` names a local copy of ``mpi3d_toy.npz``,
``mpi3d_realistic.npz`` or ``mpi3d_real.npz`` (or a folder holding it; empty:
``$ZSBENCH_DATA_DIR``).

Facts about the files, and where each was read:

- One array under the key ``images``, uint8 ``[1036800, 64, 64, 3]`` (RGB), in row-major
  grid order of the factors ``object_color`` (6), ``object_shape`` (6), ``object_size`` (2),
  ``camera_height`` (3), ``background_color`` (3), ``horizontal_axis`` (40),
  ``vertical_axis`` (40): github.com/rr-learning/disentanglement_dataset, ``README.md``
  ("Reading the Datasets": ``np.load(...)['images']`` then
  ``reshape([6,6,2,3,3,40,40,64,64,3])``; the factor table with the values' names). The
  same order is what github.com/mmrl/disent-and-gen ``src/dataset/mpi.py`` assumes
  (``latent_values = product(*MPI3D.lat_values.values())``).
- The files hold no labels: the factors of row ``i`` are its grid coordinates, so a file
  must hold exactly the whole grid.
- ``real``, ``realistic`` and ``toy`` share that grid. The README's fourth set, "real-world
  complex shapes" (``variant = "complex"``), has 4 colours and 4 shapes (460 800 images,
  ``reshape([4,4,2,3,3,40,40,64,64,3])``); its download is a Google Drive link whose file
  name the README does not give (``mpi3d_real_complex.npz`` here is the README's label).
- Storage: the repository's ``read_data.py`` writes the array with ``np.savez`` (not
  ``savez_compressed``), i.e. a stored, uncompressed zip member. This loader memory-maps
  such a member and reads only the chosen rows; a compressed member (a re-packed copy) is
  streamed once, keeping only the chosen rows. Either way ``n_samples`` costs the memory of
  its rows alone (the whole grid is 12.7 GB of uint8).
- Where to get them: the README's "Downloads" (huggingface.co/datasets/waleedgondal/mpi3d,
  updated in commit a7a6729, "Corrected corrupted mpi3d_real.npz dataset"). No checksum is
  published.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.datasets.shapes3d import (
    READ_CHUNK,
    OriginalFile,
    check_include,
    check_n_samples,
    chosen_rows,
    find_original,
    grid_points,
    include_mask,
)

Variant = Literal["toy", "realistic", "real", "complex"]
VARIANTS: tuple[str, ...] = ("toy", "realistic", "real", "complex")
FACTOR_NAMES: tuple[str, ...] = ("object_color", "object_shape", "object_size",
                                 "camera_height", "background_color", "horizontal_axis",
                                 "vertical_axis")
#: Values per factor of each variant (README, "Datasets Information").
SIZES: dict[str, tuple[int, ...]] = {
    "toy": (6, 6, 2, 3, 3, 40, 40),
    "realistic": (6, 6, 2, 3, 3, 40, 40),
    "real": (6, 6, 2, 3, 3, 40, 40),
    "complex": (4, 4, 2, 3, 3, 40, 40),
}
#: What each value of the named factors means (README's factor tables).
VALUE_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "six": {
        "object_color": ("white", "green", "red", "blue", "brown", "olive"),
        "object_shape": ("cone", "cube", "cylinder", "hexagonal", "pyramid", "sphere"),
    },
    "complex": {
        "object_color": ("yellow", "green", "olive", "red"),
        "object_shape": ("coffee-cup", "tennis-ball", "croissant", "beer-cup"),
    },
}
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "object_size": ("small", "large"),
    "camera_height": ("top", "center", "bottom"),
    "background_color": ("purple", "sea green", "salmon"),
}
FILE_NAMES: dict[str, str] = {
    "toy": "mpi3d_toy.npz",
    "realistic": "mpi3d_realistic.npz",
    "real": "mpi3d_real.npz",
    "complex": "mpi3d_real_complex.npz",
}
_SOURCE = ("the MPI3D repository's download links (https://github.com/rr-learning/"
           "disentanglement_dataset, README 'Downloads': https://huggingface.co/datasets/"
           "waleedgondal/mpi3d/resolve/main/{name})")
_COMPLEX_SOURCE = ("the Google Drive link in the MPI3D repository's README 'Downloads' "
                   "(https://github.com/rr-learning/disentanglement_dataset; item 4, "
                   "mpi3d_real_complex)")


def original_file(variant: str, sizes: tuple[int, ...] | None = None) -> OriginalFile:
    """The :class:`OriginalFile` of ``variant``."""
    sizes = sizes or SIZES[variant]
    n = int(np.prod(sizes))
    name = FILE_NAMES[variant]
    return OriginalFile(
        plugin="mpi3d", name=name,
        source=_COMPLEX_SOURCE if variant == "complex" else _SOURCE.format(name=name),
        checksum=(f"no checksum is published; the original holds one array 'images' uint8 "
                  f"[{n}, 64, 64, 3] ({n * 64 * 64 * 3 / 1e9:.1f} GB of pixels; the "
                  "repository's read_data.py writes it uncompressed)."),
        format="NumPy .npz")


def write_mpi3d(path: str | os.PathLike[str], images: np.ndarray, *,
                compressed: bool = False) -> Path:
    """Write ``images`` uint8 ``[N, 64, 64, 3]`` in the layout of the original files: an
    ``.npz`` with the one key ``images``, uncompressed as ``read_data.py`` writes it
    (``compressed``: a deflated member instead, as a re-packed copy would have)."""
    path = Path(path)
    save = np.savez_compressed if compressed else np.savez
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
        save(fh, images=np.asarray(images, dtype=np.uint8))
    return path


def _npy_header(fh: object) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fh)  # type: ignore[arg-type]
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)  # type: ignore[arg-type]
    return np.lib.format.read_array_header_2_0(fh)  # type: ignore[arg-type]


def read_npz_rows(path: Path, key: str, rows: np.ndarray | None, *, plugin: str,
                  row_shape: tuple[int, ...], dtype: np.dtype,
                  expect: Callable[[int], None] | None = None) -> np.ndarray:
    """The rows at sorted indices ``rows`` (all rows for None) of the array under ``key`` in
    the ``.npz`` at ``path``, reading no more of the file than needed: a stored member is
    memory-mapped, a compressed one streamed once. The member must hold ``dtype`` ``[N,
    *row_shape]`` in C order (:class:`DataError` otherwise); ``expect(N)`` is called with
    its number of rows before any is read (it raises to refuse the file)."""
    member = f"{key}.npy"
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f'dataset "{plugin}": {path} is not an .npz (zip) file ({exc}).',
                        "point path at the original file.") from None
    with zf:
        names = zf.namelist()
        if member not in names:
            raise DataError(f'dataset "{plugin}": {path} has no array "{key}" (it holds '
                            f"{', '.join(n.removesuffix('.npy') for n in names) or 'nothing'}).",
                            "point path at the original file.")
        info = zf.getinfo(member)

        def check(shape: tuple[int, ...], fortran: bool, found: np.dtype) -> int:
            if (len(shape) != 1 + len(row_shape) or tuple(shape[1:]) != row_shape
                    or found != dtype or fortran):
                raise DataError(
                    f'dataset "{plugin}": {path} holds "{key}" {found} {list(shape)}'
                    f"{' (Fortran order)' if fortran else ''}; expected {dtype} "
                    f"[N, {', '.join(map(str, row_shape))}].", "point path at the original file.")
            n = int(shape[0])
            if expect is not None:
                expect(n)
            return n

        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)
                if local[:4] != b"PK\x03\x04":
                    raise DataError(f'dataset "{plugin}": {path} is a damaged zip file.',
                                    "fetch the file again.")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                raw.seek(info.header_offset + 30 + name_len + extra_len)
                shape, fortran, found = _npy_header(raw)
                n = check(shape, fortran, found)
                offset = raw.tell()
            take = np.arange(n) if rows is None else np.asarray(rows)
            if n == 0 or len(take) == 0:
                return np.empty((len(take), *row_shape), dtype=dtype)
            data = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(n, *row_shape))
            out = np.empty((len(take), *row_shape), dtype=dtype)
            for a in range(0, len(take), READ_CHUNK):
                out[a:a + READ_CHUNK] = data[take[a:a + READ_CHUNK]]
            del data
            return out
        with zf.open(member) as stream:  # compressed: one pass, keep the chosen rows
            shape, fortran, found = _npy_header(stream)
            n = check(shape, fortran, found)
            take = np.arange(n) if rows is None else np.asarray(rows)
            out = np.empty((len(take), *row_shape), dtype=dtype)
            row_bytes = int(np.prod(row_shape)) * dtype.itemsize
            filled = 0
            for a in range(0, n, READ_CHUNK):
                b = min(a + READ_CHUNK, n)
                block = stream.read((b - a) * row_bytes)
                if len(block) != (b - a) * row_bytes:
                    raise DataError(f'dataset "{plugin}": {path} ends early.',
                                    "fetch the file again.")
                lo, hi = np.searchsorted(take, [a, b])
                if hi > lo:
                    arr = np.frombuffer(block, dtype=dtype).reshape(b - a, *row_shape)
                    out[filled:filled + hi - lo] = arr[take[lo:hi] - a]
                    filled += hi - lo
                if filled == len(take):
                    break
            return out


class MPI3DDataset(Dataset):
    """MPI3D: an object on a robot arm, in a simulated (toy, realistic) or real scene.

    Factors (all discrete, values 0..k-1 in the files' order): ``object_color`` (6;
    ``complex``: 4), ``object_shape`` (6; ``complex``: 4), ``object_size`` (2),
    ``camera_height`` (3), ``background_color`` (3), ``horizontal_axis`` (40) and
    ``vertical_axis`` (40), the arm's two degrees of freedom. Images are RGB ``uint8 [N,
    3, 64, 64]``. Fixed dataset: no renderer.

    Parameters
    ----------
    path:
        The ``.npz`` of the chosen variant, or a folder holding it under its standard name;
        empty: ``$ZSBENCH_DATA_DIR``.
    variant:
        ``"real"`` (real-world camera images; the default, as in Schott et al. and Montero
        et al.), ``"realistic"`` or ``"toy"`` (rendered), or ``"complex"`` (real-world
        complex shapes).
    n_samples:
        None: the whole grid; a number: a seeded subset of that many grid points, the only
        rows read from the file, in file order.
    include:
        With ``n_samples``: a box ``{factor: [low, high]}`` whose grid points are loaded
        whatever the draw (added to it), e.g. a small holdout that a subset would miss.
    """

    name = "mpi3d"
    renderable = False
    #: Values per factor of each variant; a subclass may declare a smaller grid (tests).
    sizes: ClassVar[dict[str, tuple[int, ...]]] = SIZES

    def __init__(self, *, path: str = "", variant: Variant = "real",
                 n_samples: int | None = None,
                 include: dict[str, list[float]] | None = None) -> None:
        self.path = path
        self.variant = variant
        self.n_samples = n_samples
        self.include = include
        if variant not in VARIANTS:
            raise PluginParameterError("dataset", self.name, "variant",
                                       f"got {variant!r}.",
                                       f"give one of {', '.join(VARIANTS)}.")
        check_n_samples(self.name, n_samples)
        check_include(self.name, include, self.space)

    def factor_sizes(self) -> tuple[int, ...]:
        """Values per factor, in the files' factor order."""
        return tuple(self.sizes[self.variant])

    @property
    def space(self) -> LatentSpace:
        """The seven discrete factors with values 0..k-1."""
        named = VALUE_NAMES["complex" if self.variant == "complex" else "six"]
        factors = []
        for fname, k in zip(FACTOR_NAMES, self.factor_sizes()):
            labels = named.get(fname) or COMMON_NAMES.get(fname)
            if labels is not None and len(labels) == k:
                desc = ", ".join(f"{i} = {s}" for i, s in enumerate(labels))
            else:
                desc = f"position 0..{k - 1}" if fname.endswith("axis") else f"0..{k - 1}"
            factors.append(Factor(fname, values=tuple(float(v) for v in range(k)),
                                  description=desc))
        return LatentSpace(tuple(factors))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(3, 64, 64)``."""
        return (3, 64, 64)

    def grid(self) -> np.ndarray:
        """Every point of the grid, ``float64 [N, 7]``, in file order (no file needed)."""
        return grid_points([range(k) for k in self.factor_sizes()])

    def load(self, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factors float64 [N, 7], images uint8 [N, 3, 64, 64])``, reading only the
        chosen rows."""
        sizes = self.factor_sizes()
        spec = original_file(self.variant, sizes)
        p = find_original(self.path, spec)
        total = int(np.prod(sizes))
        every = self.grid()
        rows = chosen_rows(total, self.n_samples, seed,
                           include_mask(every, self.space, self.include))

        def expect(n: int) -> None:
            if n != total:
                raise DataError(
                    f'dataset "mpi3d": {p} holds {n} images; the {self.variant} grid '
                    f"({' x '.join(map(str, sizes))}) has {total}. The file has no labels, so "
                    "the factors of each image are its position in that grid.",
                    f"point path at the original {spec.name}, or set variant to the file's.")

        images = read_npz_rows(p, "images", rows, plugin=self.name, row_shape=(64, 64, 3),
                               dtype=np.dtype(np.uint8), expect=expect)
        return every[rows], np.ascontiguousarray(images.transpose(0, 3, 1, 2))
