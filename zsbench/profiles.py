"""Profiles and sweeps of a suite: ``[profiles.NAME]`` overlaid on the configuration, and a
model entry's list-valued parameters expanded into variants."""
from __future__ import annotations

import copy
import itertools
import typing
from typing import Any

from zsbench.errors import ZsbenchError, did_you_mean_hint
from zsbench.names import MODEL_RESERVED, SECTIONS, TRANSECT_KEYS
from zsbench.regions import REGION_SHAPES
from zsbench.registry import Registry, value_fits
from zsbench.suite_checker import _Checker, _type_name


def _apply_profile(check: _Checker, config: dict[str, Any], profile: str,
                   registry: Registry) -> dict[str, Any]:
    """Overlay ``[profiles.NAME]`` on the config. In an array section (``model``,
    ``metric``, ...) ``section.LABEL.KEY`` targets one entry (by label, name or plugin) and
    ``section.KEY`` sets KEY on every entry whose plugin accepts it."""
    profiles = config.get("profiles", {})
    if profile not in profiles:
        listed = ", ".join(sorted(profiles)) or "none"
        hint = did_you_mean_hint(profile, profiles)
        raise check.fail(f"profiles.{profile}", f'no profile "{profile}" in this suite.',
                         f"{hint}profiles defined: {listed}.")
    return overlay(check, config, profiles[profile], f"profiles.{profile}", registry,
                   exclude=("profiles", "variants"))


def overlay(check: _Checker, config: dict[str, Any], overrides: Any, where: str,
            registry: Registry, *, exclude: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``config`` with ``overrides`` (a profile's or a variant's table, given at
    the key ``where``) laid over it: ``section.KEY = VALUE`` sets a key of a table section;
    in an array section ``section.LABEL.KEY`` targets one entry (by label, name or plugin)
    and ``section.KEY`` every entry whose plugin accepts the key. Sections in ``exclude``
    may not be overridden."""
    if not isinstance(overrides, dict):
        raise check.fail(where, f"expected a table of overrides, got "
                         f"{_type_name(overrides)}.",
                         f"write [{where}] with lines like model.epochs = 2.")
    config = copy.deepcopy(config)
    for section, values in overrides.items():
        key = f"{where}.{section}"
        check.keys({section: 0}, [s for s in SECTIONS if s not in exclude], where)
        if not isinstance(values, dict):
            raise check.fail(key, f"expected overrides like {section}.KEY = VALUE.")
        if SECTIONS[section] == "table":
            config.setdefault(section, {}).update(copy.deepcopy(values))
            continue
        entries = config.get(section, [])
        by_label = {str(e.get("label", e.get("name", e.get("plugin")))): e for e in entries}
        for k, v in values.items():
            if k in by_label and isinstance(v, dict):
                by_label[k].update(copy.deepcopy(v))
                continue
            takers = [e for e in entries if _accepts_key(registry, section, e, k)]
            if not takers:
                raise check.fail(f"{key}.{k}", f'no [[{section}]] entry is labelled "{k}" or '
                                 f'accepts the key "{k}".',
                                 f"labels: {', '.join(by_label) or 'none'}.")
            for e in takers:
                e[k] = copy.deepcopy(v)
    return config


def _accepts_key(registry: Registry, section: str, entry: dict[str, Any], key: str) -> bool:
    if section == "transect":
        return key in TRANSECT_KEYS
    if section == "holdout":
        return key in REGION_SHAPES.get(entry.get("shape", ""), (None, {}))[1]
    if key in MODEL_RESERVED - {"plugin"}:
        return True
    try:
        return key in registry.get(section, str(entry.get("plugin"))).cls.parameters()
    except ZsbenchError:
        return False


def _sweep(check: _Checker, spec_key: str, cls: type, params: dict[str, Any]
           ) -> list[dict[str, Any]]:
    """Expand list values of parameters that do not take lists into a grid of variants."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    swept = {}
    for k, v in params.items():
        if isinstance(v, list) and k in hints:
            if not value_fits(v, hints[k]):
                if not v:
                    raise check.fail(f"{spec_key}.{k}", "an empty sweep list.",
                                     "give at least one value.")
                swept[k] = v
    if not swept:
        return [params]
    variants = []
    for combo in itertools.product(*swept.values()):
        p = dict(params)
        p.update(dict(zip(swept, combo)))
        variants.append(p)
    return variants
