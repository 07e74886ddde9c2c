"""A content-addressed cache of datasets and trained models.

An entry's key is the sha256 of a canonical JSON description of everything that determines
it (plugin, plugin version, parameters, seed, and for models the dataset key, the splits,
the holdout and the versions involved). Each entry is a folder holding one payload file and
``meta.json`` with the payload's sha256; writes go to a temporary folder renamed into place
(atomic), and a payload whose hash does not match is reported, removed and recomputed.

The root is ``$ZSBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/zsbench``, else
``~/.cache/zsbench``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("datasets", "models")
PAYLOADS = {"datasets": "data.npz", "models": "model.ckpt"}
MARK = "zsbench-cache-entry"
"""``meta.json`` of every entry zsbench writes holds ``"format": MARK``: only such entries
are listed or removed, so a cache folder pointed at the wrong place deletes nothing else."""
KEY_CHARS = set("0123456789abcdef")


def default_root() -> Path:
    if os.environ.get("ZSBENCH_CACHE_DIR"):
        return Path(os.environ["ZSBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zsbench"


def content_key(payload: Any, *, length: int | None = None, spaced: bool = False) -> str:
    """sha256 (hex, cut to ``length`` characters) of the canonical JSON of ``payload``:
    sorted keys, anything not JSON as ``str``. The one place zsbench hashes a configuration.

    ``spaced=True`` keeps json's default ``", "``/``": "`` separators: the form a suite's
    ``config_hash`` and ``experiment_hash`` have always been computed in; they are stored in
    run manifests and committed baselines, so their values must not change."""
    separators = (", ", ": ") if spaced else (",", ":")
    blob = json.dumps(payload, sort_keys=True, separators=separators, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()
    return digest if length is None else digest[:length]


def _library_dirs() -> tuple[Path, ...]:
    """Where the standard library and installed distributions live (their versions, not
    their files, identify them)."""
    paths = sysconfig.get_paths()
    return tuple({Path(paths[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")
                  if paths.get(k)})


def _within(path: Path, dirs: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(d) for d in dirs)


def _module_root(name: str) -> Path | None:
    """The source of the top-level package (its folder) or module (its file) of ``name``."""
    top = sys.modules.get(name.partition(".")[0])
    file = getattr(top, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    return path.parent if path.name == "__init__.py" else path


def _reachable_modules(cls: type) -> Iterator[str]:
    """Names of the modules ``cls``, its bases and, transitively, their module globals
    (imported modules, functions and classes) lead to."""
    stack = [k.__module__ for k in cls.__mro__]
    seen: set[str] = set()
    library = _library_dirs()
    while stack:
        name = stack.pop()
        module = sys.modules.get(name)
        if name in seen or module is None:
            continue
        seen.add(name)
        yield name
        file = getattr(module, "__file__", None)
        if not file or _within(Path(file).resolve(), library):
            continue  # a library module: its globals are not the plugin's code
        for value in list(vars(module).values()):
            ref = value.__name__ if isinstance(value, type(sys)) else getattr(value, "__module__",
                                                                              None)
            if isinstance(ref, str) and ref not in seen:
                stack.append(ref)


def source_files(cls: type) -> list[Path]:
    """Every source file that can decide what an instance of ``cls`` computes: the whole
    top-level package (or single module) of ``cls`` and of each module it reaches through
    its bases and module globals (helper modules included), plus the zsbench distribution
    (``zsbench`` and ``zsbench_plugins``: the training loop, the networks). Code that lives
    in installed libraries (the standard library, site-packages) is left out: the versions
    in a key identify it, and an editable install lies outside site-packages, so its source
    is covered."""
    library = _library_dirs()
    roots = {_module_root("zsbench"), _module_root("zsbench_plugins"), _module_root(cls.__module__)}
    for name in _reachable_modules(cls):
        root = _module_root(name)
        if root is not None and not _within(root, library):
            roots.add(root)
    files: set[Path] = set()
    for root in roots - {None}:
        files.update(root.rglob("*.py") if root.is_dir() else [root])
    return sorted(files)


def code_hash(cls: type) -> str:
    """sha256 over :func:`source_files` of ``cls`` (each file's name within its package and
    its contents: a checkout moved elsewhere keeps its keys), so that editing any code that
    decides a plugin's output invalidates what the cache holds for it."""
    h = hashlib.sha256()
    for path in source_files(cls):
        name = next((path.relative_to(p) for p in path.parents
                     if not (p / "__init__.py").exists()), path)
        h.update(str(name).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            continue
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One cache entry as ``zsbench cache ls`` shows it."""

    kind: str
    key: str
    size: int
    created: str
    describe: str


class Cache:
    """Datasets and trained models by content key. ``warn`` receives one line per problem
    (a corrupt entry recomputed)."""

    def __init__(self, root: Path | None = None, *,
                 warn: Callable[[str], None] = lambda s: None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.warn = warn

    def _dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def unusable(self) -> str | None:
        """Why this cache cannot be used (its root is a file, or cannot be written: tried
        by creating and removing a folder in it, which creates the root), or None."""
        root = self.root
        probe = root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            return f"the cache path {probe} is a file, not a folder"
        if not os.access(probe, os.W_OK | os.X_OK):
            return f"the cache folder {probe} is not writable"
        try:  # permissions are not all: a read-only file system, a mount, a quota
            root.mkdir(parents=True, exist_ok=True)
            os.rmdir(tempfile.mkdtemp(dir=root, prefix=".zsbench-probe-"))
        except OSError as exc:
            return (f"the cache folder {root} cannot be written "
                    f"({exc.strerror or type(exc).__name__})")
        return None

    def check_root(self) -> None:
        """Raise a ZsbenchError when the root exists but is not a folder."""
        from zsbench.errors import ZsbenchError

        if self.root.exists() and not self.root.is_dir():
            raise ZsbenchError(f"{self.root}: the cache path is a file, not a folder. Fix: "
                               "give --cache-dir (or $ZSBENCH_CACHE_DIR) a folder.")

    @staticmethod
    def _meta(meta_path: Path, kind: str) -> dict[str, Any] | None:
        """The metadata of an entry zsbench wrote, or None for anything else."""
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        folder = meta_path.parent
        if not (isinstance(meta, dict) and meta.get("format", MARK) == MARK
                and meta.get("key") == folder.name and len(folder.name) == 64
                and isinstance(meta.get("sha256"), str) and len(meta["sha256"]) == 64
                and set(folder.name) <= KEY_CHARS and folder.parent.name == folder.name[:2]
                and (folder / PAYLOADS[kind]).is_file()):
            return None
        return meta

    def _candidates(self, kind: str) -> list[Path]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("*/*/meta.json") if p.is_file())

    def _read(self, kind: str, key: str, payload_name: str) -> tuple[Path, dict] | None:
        folder = self._dir(kind, key)
        meta_path, payload = folder / "meta.json", folder / payload_name
        try:
            if not meta_path.is_file():
                return None
        except OSError:
            return None
        meta = self._meta(meta_path, kind)
        try:
            ok = (meta is not None and payload.is_file()
                  and file_sha256(payload) == meta["sha256"])
        except OSError:
            ok = False
        if not ok:
            self.warn(f"cache entry {kind}/{key[:12]} is corrupt (malformed metadata or a hash "
                      "that does not match); recomputing it")
            shutil.rmtree(folder, ignore_errors=True)
            return None
        assert meta is not None
        return payload, meta

    def _write(self, kind: str, key: str, payload_name: str, fill: Callable[[Path], None],
               describe: str, info: dict[str, Any]) -> None:
        final = self._dir(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key[:12]}."))
        try:
            fill(tmp / payload_name)
            meta = {"format": MARK, "key": key, "describe": describe, "info": info,
                    "created": _dt.datetime.now().isoformat(timespec="seconds"),
                    "sha256": file_sha256(tmp / payload_name)}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
            if final.exists():  # another process got there first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # -- datasets ------------------------------------------------------------------------
    def load_dataset(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(factors [N, F], images [N, C, H, W])`` or None."""
        found = self._read("datasets", key, "data.npz")
        if found is None:
            return None
        try:
            with np.load(found[0], allow_pickle=False) as npz:
                factors, images = npz["factors"], npz["images"]
            if factors.ndim != 2 or images.ndim != 4 or len(factors) != len(images):
                raise ValueError("arrays of the wrong shape")
        except (OSError, ValueError, KeyError) as exc:
            self.warn(f"cache entry datasets/{key[:12]} is malformed ({exc}); recomputing it")
            shutil.rmtree(self._dir("datasets", key), ignore_errors=True)
            return None
        return factors, images

    def save_dataset(self, key: str, factors: np.ndarray, images: np.ndarray,
                     describe: str) -> None:
        def fill(path: Path) -> None:
            with open(path, "wb") as fh:
                np.savez(fh, factors=factors, images=images)

        self._write("datasets", key, "data.npz", fill, describe, {"n": len(factors)})

    # -- models --------------------------------------------------------------------------
    def model_file(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        """The cached checkpoint and its stored info (e.g. the training summary), or None."""
        found = self._read("models", key, "model.ckpt")
        if found is None:
            return None
        info = found[1].get("info", {})
        return found[0], info if isinstance(info, dict) else {}

    def save_model(self, key: str, save: Callable[[Path], None], describe: str,
                   info: dict[str, Any]) -> None:
        self._write("models", key, "model.ckpt", save, describe, info)

    def discard_model(self, key: str) -> None:
        """Remove a model entry that cannot be used."""
        shutil.rmtree(self._dir("models", key), ignore_errors=True)

    # -- maintenance ---------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        """Every entry zsbench wrote (recognised by its metadata); other files are ignored."""
        out = []
        for kind in KINDS:
            for meta_path in self._candidates(kind):
                meta = self._meta(meta_path, kind)
                if meta is None:
                    continue
                try:
                    size = sum(p.stat().st_size for p in meta_path.parent.iterdir()
                               if p.is_file())
                except OSError:
                    size = 0
                out.append(Entry(kind, meta_path.parent.name, size,
                                 str(meta.get("created", "?")), str(meta.get("describe", "?"))))
        return out

    def foreign(self) -> list[Path]:
        """Folders under the cache's kinds that zsbench did not write (never removed)."""
        out = []
        for kind in KINDS:
            folder = self.root / kind
            if not folder.is_dir():
                continue
            for meta_path in self._candidates(kind):
                if self._meta(meta_path, kind) is None:
                    out.append(meta_path.parent)
        return out

    def clear(self, kind: str | None = None) -> int:
        """Remove the entries zsbench wrote (of one kind); return how many. Anything else
        under the cache folder is left alone."""
        n = 0
        for k in KINDS if kind is None else (kind,):
            for meta_path in self._candidates(k):
                if self._meta(meta_path, k) is None:
                    continue
                shutil.rmtree(meta_path.parent, ignore_errors=True)
                n += 1
                try:
                    meta_path.parent.parent.rmdir()  # the two-letter folder, once empty
                except OSError:
                    pass
        return n
