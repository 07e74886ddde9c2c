"""The validation helpers of the suite loader: :class:`_Checker` knows the file being read
and builds :class:`~zsbench.errors.SuiteError` messages naming the key and a fix."""
from __future__ import annotations

import math
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zsbench.errors import SuiteError, did_you_mean_hint
from zsbench.judging import Judging, JudgingError, parse_judging
from zsbench.names import BYTES_PER_PIXEL
from zsbench.space import LatentSpace

if TYPE_CHECKING:
    from zsbench.plugin import Dataset


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


class _Checker:
    """Validation helpers that know the file being read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str | None = None) -> SuiteError:
        return SuiteError(str(self.path), key, problem, fix)

    def keys(self, table: Mapping[str, Any], allowed: typing.Iterable[str], key: str) -> None:
        allowed = list(allowed)
        for k in table:
            if k not in allowed:
                hint = did_you_mean_hint(k, allowed)
                raise self.fail(f"{key}.{k}" if key else k, "unknown key.",
                                f"{hint}allowed keys here: {', '.join(allowed)}.")

    def typed(self, table: Mapping[str, Any], key: str, name: str, kind: type,
              required: bool = False) -> Any:
        if name not in table:
            if required:
                raise self.fail(f"{key}.{name}", "is missing.",
                                f"add {name} = ... ({_type_name(kind())}).")
            return None
        value = table[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise self.fail(f"{key}.{name}", f"expected {_type_name(kind())}, got "
                            f"{_type_name(value)} ({value!r}).")
        return value

    def point(self, value: Any, key: str, space: LatentSpace, *, partial: bool = True,
              inside: bool = True) -> dict[str, float]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table of factor values like "
                            f"{{ {space.names[0]} = ... }}, got {_type_name(value)}.")
        for name, v in value.items():
            if name not in space.names:
                hint = did_you_mean_hint(name, space.names)
                raise self.fail(f"{key}.{name}", f'"{name}" is not a factor of this dataset.',
                                f"{hint}factors: {', '.join(space.names)}.")
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise self.fail(f"{key}.{name}", f"expected a number, got {_type_name(v)}.")
            if not math.isfinite(v):
                raise self.fail(f"{key}.{name}", f"expected a finite number, got {v!r}.")
            if inside:
                lo, hi = space[name].bounds
                if not lo - 1e-9 <= v <= hi + 1e-9:
                    raise self.fail(f"{key}.{name}",
                                    f"{v:g} lies outside the latent space ({name} in "
                                    f"[{lo:g}, {hi:g}]).", "choose a value inside the bounds.")
        if not partial:
            missing = [n for n in space.names if n not in value]
            if missing:
                raise self.fail(key, f"misses factor(s) {', '.join(missing)}.",
                                "name every factor, or give the rest in `fixed = {...}`.")
        return {k: float(v) for k, v in value.items()}


def _check_judging(check: _Checker, table: Any, dataset: Dataset) -> Judging:
    """The suite's ``[judging]`` (:mod:`zsbench.judging`) read against the dataset's factors;
    a tolerance in units of a factor's resolution needs the dataset to state one."""
    space = dataset.space
    try:
        judging = parse_judging(table, space.names, where="judging")
        spans = [f.span if f.span > 0 else 1.0 for f in space.factors]
        judging.factor_tolerance(space.names, spans, dataset.resolution)
    except JudgingError as exc:
        problem, _, fix = str(exc).partition(" Fix: ")
        key, _, problem = problem.partition(": ")
        raise check.fail(key.replace("[judging]", "judging"), problem, fix or None) from None
    return judging


def _check_memory(check: _Checker, dataset: Dataset, image_shape: tuple[int, int, int] | None,
                  data_seed: int) -> None:
    """Refuse a dataset whose images would not fit in this machine's memory."""
    if image_shape is None:
        return
    sizes = [k for k in dataset.get_params() if k.startswith("n_")] or ["n_samples"]
    fix = f"lower {' or '.join(f'dataset.{k}' for k in sizes)} (or dataset.image_size)."
    n = getattr(dataset, "n_samples", None)
    if not isinstance(n, int) or isinstance(n, bool):
        if not dataset.renderable:
            return
        try:
            n = len(dataset.factors(seed=data_seed))
        except MemoryError:
            raise check.fail("dataset", "even the factors of its points do not fit in this "
                             "machine's memory.", fix) from None
        except Exception:
            return
    need = n * math.prod(image_shape) * BYTES_PER_PIXEL
    have = physical_memory()
    if have and need > have:
        raise check.fail("dataset", f"{n} images of {'x'.join(map(str, image_shape))} pixels "
                         f"need about {need / 2**30:,.1f} GiB, more than this machine's "
                         f"{have / 2**30:,.1f} GiB of memory.", fix)


def physical_memory() -> int | None:
    """Bytes of physical memory, or None when the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
