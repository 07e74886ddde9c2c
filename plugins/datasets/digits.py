"""E5: fixed handwritten-digit datasets whose only factor is the class label.

``digits`` uses scikit-learn's bundled 8x8 digits (shipped with scikit-learn: no download).
``mnist`` reads the standard IDX files (optionally gzipped) from a directory the user names;
nothing here downloads anything, ever. :func:`read_idx` and :func:`write_idx` implement the
IDX format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of
dimensions, the dimensions as big-endian uint32, then the data, big-endian, row-major.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import IO, Literal, cast

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset
from zsbench.space import Factor, LatentSpace

#: IDX type code -> numpy dtype (big-endian, as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _open(path: Path, mode: Literal["rb", "wb"]) -> IO[bytes]:
    """A binary file object; gzip when the name ends in ``.gz`` (writing) or the content
    starts with the gzip magic bytes (reading)."""
    if "r" in mode:
        with open(path, "rb") as fh:
            gz = fh.read(2) == _GZIP_MAGIC
    else:
        gz = path.suffix == ".gz"
    if gz:
        return cast(IO[bytes], gzip.GzipFile(filename=str(path), mode=mode, mtime=0))
    return open(path, mode)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a native-endian array of its stored shape.

    Raises :class:`DataError` naming the file for a missing file, a bad magic number, an
    unknown type code, or a size that does not match the header."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist.")
    try:
        with _open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file: its first two bytes must be zero "
                        f"(magic number 0x0000TTDD), got {raw[:4].hex() or 'an empty file'}.")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items())
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X}; known: {known}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions need {header} bytes, "
                        f"the file has {len(raw)}).")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: the header says shape {list(dims)} of {dtype.name} "
                        f"({expected} bytes of data), but the file holds {len(raw) - header}.")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip when ``path`` ends in ``.gz``); returns the path.

    Supported dtypes: uint8, int8, int16, int32, float32, float64; at most 255 dims."""
    path = Path(path)
    arr = np.asarray(array)
    for code, dtype in IDX_DTYPES.items():
        if arr.dtype.newbyteorder(">") == dtype or arr.dtype == dtype:
            break
    else:
        raise DataError(f"cannot write dtype {arr.dtype} as IDX; use one of "
                        f"{', '.join(d.name for d in IDX_DTYPES.values())}.")
    if arr.ndim > 255:
        raise DataError(f"IDX holds at most 255 dimensions, got {arr.ndim}.")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    with _open(path, "wb") as fh:
        fh.write(header)
        fh.write(np.ascontiguousarray(arr, dtype=dtype).tobytes())
    return path


def _check_classes(dataset: str, classes: object, allowed: range) -> list[int]:
    """The selected classes, sorted, or :class:`PluginParameterError`."""
    if (not isinstance(classes, (list, tuple)) or not classes
            or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                       for c in classes)):
        raise PluginParameterError("dataset", dataset, "classes",
                                   f"must be a non-empty list of integers, got {classes!r}.",
                                   "give e.g. classes = [1, 8].")
    bad = [c for c in classes if int(c) not in allowed]
    if bad or len(set(classes)) != len(classes):
        problem = (f"{bad} are not digits {allowed.start}..{allowed.stop - 1}." if bad
                   else f"{list(classes)} repeats a class.")
        raise PluginParameterError("dataset", dataset, "classes", problem,
                                   "give distinct digits, e.g. classes = [1, 8].")
    return sorted(int(c) for c in classes)


def _label_space(classes: list[int]) -> LatentSpace:
    return LatentSpace((Factor("digit", values=tuple(float(c) for c in classes),
                               description="the class label"),))


def _select(images: np.ndarray, labels: np.ndarray, classes: list[int]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Keep the samples whose label is in ``classes``: ``(factors [N, 1] float64,
    images [N, 1, H, W] uint8)`` in the original order."""
    keep = np.isin(labels, classes)
    factors = labels[keep].astype(np.float64)[:, None]
    return factors, np.ascontiguousarray(images[keep][:, None])


class DigitsDataset(Dataset):
    """scikit-learn's bundled 8x8 handwritten digits, filtered to some classes (E5).

    No download: the data ships with scikit-learn. Images are ``uint8 [N, 1, 8, 8]``
    (the 0..16 gray levels scaled to 0..255); the one factor is the discrete label ``digit``
    with the selected ``classes`` as values. Fixed data: there is no renderer.

    Parameters
    ----------
    classes:
        The digits to keep (default: 1 and 8).
    """

    name = "digits"
    renderable = False

    def __init__(self, *, classes: list[int] = [1, 8]) -> None:  # noqa: B006 (never mutated)
        self.classes = classes
        _check_classes(self.name, classes, range(10))

    @property
    def space(self) -> LatentSpace:
        """``digit`` in the selected classes."""
        return _label_space(_check_classes(self.name, self.classes, range(10)))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, 8, 8)``."""
        return (1, 8, 8)

    def load(self, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factors [N, 1] float64, images [N, 1, 8, 8] uint8)`` in scikit-learn's order
        (the data is fixed: ``seed`` changes nothing)."""
        from sklearn.datasets import load_digits

        classes = _check_classes(self.name, self.classes, range(10))
        bunch = load_digits()
        images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
        images = np.clip(images, 0, 255).astype(np.uint8)
        return _select(images, np.asarray(bunch.target), classes)


#: The MNIST file stems by part: (images, labels).
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _variants(stem: str) -> list[str]:
    """Accepted file names for a stem: as is, with ``.gz``, and the dotted spelling some
    mirrors use (``train-images.idx3-ubyte``)."""
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


class MnistDataset(Dataset):
    """MNIST (or any IDX digit set, e.g. Fashion-MNIST) read from local IDX files (E5).

    Nothing is downloaded: ``path`` names a directory holding ``train-images-idx3-ubyte``
    and ``train-labels-idx1-ubyte`` and/or ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``). Images are ``uint8 [N, 1, H, W]``
    (28x28 for MNIST); the one factor is the discrete label ``digit``.

    Parameters
    ----------
    path:
        The directory with the IDX files.
    classes:
        The digits to keep; ``None`` keeps all ten.
    part:
        ``"train"``, ``"test"`` (the t10k files) or ``"all"`` (train then test).
    """

    name = "mnist"
    renderable = False

    def __init__(
        self,
        *,
        path: str,
        classes: list[int] | None = None,
        part: Literal["train", "test", "all"] = "train",
    ) -> None:
        self.path = path
        self.classes = classes
        self.part = part
        if part not in ("train", "test", "all"):
            raise PluginParameterError("dataset", self.name, "part", f"got {part!r}.",
                                       'give "train", "test" or "all".')
        if classes is not None:
            _check_classes(self.name, classes, range(10))

    def _classes(self) -> list[int]:
        if self.classes is None:
            return list(range(10))
        return _check_classes(self.name, self.classes, range(10))

    def _parts(self) -> list[str]:
        return ["train", "test"] if self.part == "all" else [str(self.part)]

    def files(self) -> list[tuple[Path, Path]]:
        """``(images file, labels file)`` for each part read, or :class:`DataError` naming
        the directory, the missing file and the names expected."""
        root = Path(os.path.expanduser(str(self.path)))
        if not root.is_dir():
            expected = ", ".join(n for p in self._parts() for n in MNIST_FILES[p])
            raise DataError(
                f'dataset "mnist": {root} is not a directory. Fix: set path to the directory '
                f"holding the IDX files {expected} (optionally .gz). zsbench never "
                f"downloads data."
            )
        found = []
        for part in self._parts():
            pair = []
            for stem in MNIST_FILES[part]:
                hit = next((root / n for n in _variants(stem) if (root / n).is_file()), None)
                if hit is None:
                    raise DataError(
                        f'dataset "mnist" (part = "{self.part}"): {root} has no file {stem} '
                        f"(looked for {', '.join(_variants(stem))}). Expected in that "
                        f"directory: {', '.join(n for p in self._parts() for n in MNIST_FILES[p])}"
                        f" (optionally .gz). zsbench never downloads data."
                    )
                pair.append(hit)
            found.append((pair[0], pair[1]))
        return found

    @property
    def space(self) -> LatentSpace:
        """``digit`` in the selected classes (all ten when ``classes`` is None)."""
        return _label_space(self._classes())

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, H, W)`` from the header of the first images file (``(1, 28, 28)`` for
        MNIST)."""
        images, _ = self.files()[0]
        with _open(images, "rb") as fh:
            head = fh.read(16)
        if len(head) < 16 or head[3] != 3:
            raise DataError(f"{images} is not an IDX file of images [N, H, W].")
        h, w = (int(d) for d in np.frombuffer(head, dtype=">u4", count=2, offset=8))
        return (1, h, w)

    def load(self, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factors [N, 1] float64, images [N, 1, H, W] uint8)`` in file order (train
        before test for ``part = "all"``; ``seed`` changes nothing)."""
        classes = self._classes()
        all_images, all_labels = [], []
        for images_file, labels_file in self.files():
            images = read_idx(images_file)
            labels = read_idx(labels_file)
            if images.ndim != 3 or images.dtype != np.uint8:
                raise DataError(f"{images_file}: expected uint8 images [N, H, W], got "
                                f"{images.dtype} {list(images.shape)}.")
            if labels.ndim != 1 or len(labels) != len(images):
                raise DataError(f"{labels_file}: expected {len(images)} labels [N] to match "
                                f"{images_file.name}, got shape {list(labels.shape)}.")
            all_images.append(images)
            all_labels.append(labels.astype(np.int64))
        if len({im.shape[1:] for im in all_images}) > 1:
            raise DataError(f"the train and test images of {self.path} differ in size.")
        images = np.concatenate(all_images)
        labels = np.concatenate(all_labels)
        if self.classes is None and ((labels < 0) | (labels > 9)).any():
            raise DataError(f"labels in {self.path} outside 0..9; set classes to choose some.")
        return _select(images, labels, classes)
