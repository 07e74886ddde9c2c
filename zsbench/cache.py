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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("datasets", "models")


def default_root() -> Path:
    if os.environ.get("ZSBENCH_CACHE_DIR"):
        return Path(os.environ["ZSBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zsbench"


def content_key(payload: Any) -> str:
    """sha256 of the canonical JSON of ``payload``."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


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

    def _read(self, kind: str, key: str, payload_name: str) -> tuple[Path, dict] | None:
        folder = self._dir(kind, key)
        meta_path, payload = folder / "meta.json", folder / payload_name
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            ok = payload.is_file() and file_sha256(payload) == meta["sha256"]
        except (OSError, ValueError, KeyError):
            ok, meta = False, {}
        if not ok:
            self.warn(f"cache entry {kind}/{key[:12]} is corrupt (its hash does not match); "
                      "recomputing it")
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return payload, meta

    def _write(self, kind: str, key: str, payload_name: str, fill: Callable[[Path], None],
               describe: str, info: dict[str, Any]) -> None:
        final = self._dir(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key[:12]}."))
        try:
            fill(tmp / payload_name)
            meta = {"key": key, "describe": describe, "info": info,
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
        with np.load(found[0], allow_pickle=False) as npz:
            return npz["factors"], npz["images"]

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
        return found[0], found[1].get("info", {})

    def save_model(self, key: str, save: Callable[[Path], None], describe: str,
                   info: dict[str, Any]) -> None:
        self._write("models", key, "model.ckpt", save, describe, info)

    def discard_model(self, key: str) -> None:
        """Remove a model entry that cannot be used."""
        shutil.rmtree(self._dir("models", key), ignore_errors=True)

    # -- maintenance ---------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        out = []
        for kind in KINDS:
            for meta_path in sorted((self.root / kind).glob("*/*/meta.json")):
                try:
                    meta = json.loads(meta_path.read_text())
                except (OSError, ValueError):
                    meta = {}
                size = sum(p.stat().st_size for p in meta_path.parent.iterdir() if p.is_file())
                out.append(Entry(kind, meta_path.parent.name, size, meta.get("created", "?"),
                                 meta.get("describe", "?")))
        return out

    def clear(self, kind: str | None = None) -> int:
        """Remove all entries (of one kind); return how many."""
        n = 0
        for k in KINDS if kind is None else (kind,):
            folder = self.root / k
            n += len(list(folder.glob("*/*/meta.json")))
            shutil.rmtree(folder, ignore_errors=True)
        return n
