"""Suite schema constants and name helpers: which sections and keys a suite file has, and
what may name a suite, a profile or a file. A leaf module (it imports nothing of zsbench)."""
from __future__ import annotations

import re

SECTIONS: dict[str, str] = {
    "suite": "table",
    "dataset": "table",
    "splits": "table",
    "holdout": "array of tables",
    "transect": "array of tables",
    "model": "array of tables",
    "metric": "array of tables",
    "output": "array of tables",
    "leaderboard": "table",
    "tolerances": "table",
    "judging": "table",
    "executor": "table",
    "profiles": "table",
    "variants": "table",
}
SUITE_KEYS = {"name": str, "description": str, "seeds": list, "data_seed": int,
              "variants_side_by_side": int}
SPLIT_KEYS = {"test_fraction": float, "validation_fraction": float, "rim_points": int}
LEADERBOARD_KEYS = {"columns": list, "sort": str}
TRANSECT_KEYS = {"name", "start", "end", "through", "direction", "points", "fixed"}
MODEL_RESERVED = {"plugin", "label", "weighting"}
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,99}")
"""A suite or profile name: letters, digits and ``._=+-``, no path separators, not ``..``."""
BYTES_PER_PIXEL = 5  # uint8 images plus their float32 copies in the splits


def plain_name(name: str) -> bool:
    """Whether ``name`` can be a file name as is (no ``/``, ``\\``, ``..`` or leading dot)."""
    return bool(PLAIN_NAME.fullmatch(name)) and ".." not in name


def file_safe(label: str) -> str:
    """A model label as a file name: characters other than letters, digits and ``-_.=``
    become ``_``."""
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)


def instance_names(plugins: list[str]) -> list[str]:
    """One name per plugin instance of a suite section, in order: the plugin's name where it
    is used once, ``PLUGIN-K`` (K from 1) where several instances share it (two
    ``over_prompting`` metrics), so their per-item files never overwrite each other."""
    total = {p: plugins.count(p) for p in plugins}
    seen: dict[str, int] = {}
    out = []
    for p in plugins:
        seen[p] = seen.get(p, 0) + 1
        out.append(p if total[p] == 1 else f"{p}-{seen[p]}")
    return out
