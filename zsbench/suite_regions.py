"""``[[holdout]]`` regions and ``[[transect]]`` lines of a suite, parsed and checked
against the dataset's latent space."""
from __future__ import annotations

import math
from typing import Any

from zsbench.errors import DataError, did_you_mean_hint
from zsbench.names import TRANSECT_KEYS
from zsbench.regions import REGION_SHAPES, Region, Transect, region_from_config
from zsbench.space import LatentSpace
from zsbench.suite_checker import _Checker, _type_name


def _region(check: _Checker, cfg: Any, key: str, space: LatentSpace) -> Region:
    if not isinstance(cfg, dict):
        raise check.fail(key, f"expected a table with shape = ..., got {_type_name(cfg)}.")
    shape = check.typed(cfg, key, "shape", str, required=True)
    if shape not in REGION_SHAPES:
        hint = did_you_mean_hint(shape, REGION_SHAPES)
        raise check.fail(f"{key}.shape", f'unknown shape "{shape}".',
                         f"{hint}shapes: {', '.join(REGION_SHAPES)}.")
    _, fields = REGION_SHAPES[shape]
    check.keys(cfg, ["shape", *fields], key)
    for fname, ftype in fields.items():
        optional = ftype.endswith("?")
        ftype = ftype.rstrip("?")
        fkey = f"{key}.{fname}"
        if fname not in cfg:
            if optional:
                continue
            raise check.fail(fkey, "is missing.", f"a {shape} needs: "
                             f"{', '.join(f for f, t in fields.items() if not t.endswith('?'))}.")
        value = cfg[fname]
        if ftype == "number":
            v = check.typed(cfg, key, fname, float)
            if not math.isfinite(v):
                raise check.fail(fkey, f"expected a finite number, got {v!r}.")
            if fname in ("radius", "outer") and v <= 0:
                raise check.fail(fkey, f"must be positive, got {v!r}.")
            if fname == "inner" and v < 0:
                raise check.fail(fkey, f"must be 0 or more (a distance from the centre), got "
                                 f"{v!r}.", "use inner = 0 for a full disk, or a ball.")
        elif ftype == "table":
            inside = fname in ("center", "low", "high")
            check.point(value, fkey, space, inside=inside)
            if not value:
                raise check.fail(fkey, "is empty.", f"name at least one factor: "
                                 f"{', '.join(space.names)}.")
            if fname == "scale" and any(v <= 0 for v in value.values()):
                raise check.fail(fkey, "scales must be positive.")
            if fname == "normal" and not any(v != 0 for v in value.values()):
                raise check.fail(fkey, "is the zero vector, so it defines no half-space.",
                                 "give at least one non-zero component.")
        elif ftype == "regions":
            if not isinstance(value, list) or not value:
                raise check.fail(fkey, "expected a non-empty array of region tables.")
        elif ftype == "region":
            if not isinstance(value, dict):
                raise check.fail(fkey, "expected a region table.")
    if shape == "annulus" and cfg["inner"] >= cfg["outer"]:
        raise check.fail(f"{key}.inner", "inner must be smaller than outer.")
    if shape == "box":
        if set(cfg["low"]) != set(cfg["high"]):
            raise check.fail(key, "low and high must name the same factors.")
        for k in cfg["low"]:
            lo, hi = cfg["low"][k], cfg["high"][k]
            values = space[k].values
            if lo == hi and values is not None and float(lo) in values:
                continue  # one value of a discrete factor
            if lo >= hi:
                raise check.fail(f"{key}.low.{k}", "low must be below high.",
                                 "low = high is allowed for a discrete factor only, to select "
                                 "one of its values." if lo == hi else None)

    def build(sub: Any, index: int | None) -> Region:
        return _region(check, sub, f"{key}.regions[{index}]" if index is not None
                       else f"{key}.region", space)

    return region_from_config(cfg, build)


def _transect(check: _Checker, cfg: dict[str, Any], key: str, space: LatentSpace,
              holdout: Region | None) -> Transect:
    check.keys(cfg, TRANSECT_KEYS, key)
    name = check.typed(cfg, key, "name", str, required=True)
    points = check.typed(cfg, key, "points", int)
    points = 15 if points is None else points
    if points < 2:
        raise check.fail(f"{key}.points", f"needs at least 2 points, got {points}.")
    fixed = check.point(cfg.get("fixed", {}), f"{key}.fixed", space)
    if "through" in cfg or "direction" in cfg:
        through = cfg.get("through")
        direction = cfg.get("direction")
        if direction is None:
            raise check.fail(f"{key}.direction", "is missing.",
                             "with `through`, give direction = { factor = ... }.")
        d = check.point(direction, f"{key}.direction", space, inside=False)
        if through == "hole" or through is None:
            anchor = holdout.anchor() if holdout is not None else None
            if anchor is None:
                raise check.fail(f"{key}.through", "there is no holdout centre to pass through.",
                                 "give through = { factor = ... } explicitly.")
            centre = anchor
        else:
            centre = check.point(through, f"{key}.through", space)
        c = space.point(centre, fill=fixed)
        try:
            return Transect.through(name, space, c, space.point(d, fill={n: 0.0 for n in space.names}),
                                    points)
        except DataError as exc:
            raise check.fail(key, str(exc)) from exc
    for end in ("start", "end"):
        if end not in cfg:
            raise check.fail(f"{key}.{end}", "is missing.",
                             "give start and end points, or through + direction.")
    start = check.point({**fixed, **cfg["start"]}, f"{key}.start", space, partial=False)
    end_ = check.point({**fixed, **cfg["end"]}, f"{key}.end", space, partial=False)
    t = Transect.between(name, space.point(start), space.point(end_), points)
    inside = space.contains(t.points)
    if not inside.all():
        raise check.fail(key, "the transect leaves the latent space.",
                         f"keep it within {space.describe()}.")
    return t
