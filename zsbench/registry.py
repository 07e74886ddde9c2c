"""Plugin discovery and lookup.

Every plugin, the standard ones included, is a module declared under the ``zsbench``
entry-point group. The registry imports each one in isolation: a plugin that fails to import
or whose hook raises is recorded as broken (with its distribution and the error) and every
other plugin still loads.

Environment variables:

- ``ZSBENCH_DISABLE_PLUGIN_AUTOLOAD=1``: load only the plugins of the ``zsbench``
  distribution itself, plus the modules named in ``ZSBENCH_PLUGINS`` (for reproducible runs).
- ``ZSBENCH_PLUGINS=mod.a,mod.b``: extra plugin modules to import and register by name.
- ``ZSBENCH_DISABLE_PLUGINS=ep1,ep2``: entry-point names never to load.
"""

from __future__ import annotations

import importlib
import inspect
import importlib.metadata
import os
import traceback
import types
import typing
from collections import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from zsbench import hookspecs
from zsbench.errors import (
    DuplicatePluginError,
    PluginParameterError,
    UnknownPluginError,
    did_you_mean,
)
from zsbench.plugin import PLUGIN_KINDS, Configurable

GROUP = "zsbench"
OWN_DISTRIBUTION = "zsbench"


@dataclass(frozen=True)
class PluginInfo:
    """One plugin class with where it came from."""

    kind: str
    name: str
    cls: type[Configurable]
    distribution: str
    version: str
    source: str

    @property
    def summary(self) -> str:
        return self.cls.summary()


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin module that failed to import, or a hook of it that raised."""

    source: str
    distribution: str
    version: str
    error: str
    detail: str


def _env_list(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


def _autoload_enabled() -> bool:
    return os.environ.get("ZSBENCH_DISABLE_PLUGIN_AUTOLOAD", "").strip() in ("", "0", "false")


class Registry:
    """All plugins of all kinds, looked up by kind and name.

    ``extra`` registers plugin objects (modules or instances with hook functions) given in
    code, e.g. by tests, as distribution ``"(in code)"``.
    """

    def __init__(self, *, autoload: bool | None = None, extra: Iterable[object] = ()) -> None:
        self.autoload = _autoload_enabled() if autoload is None else autoload
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, dict[str, PluginInfo]] = {k: {} for k in PLUGIN_KINDS}
        self.broken: list[BrokenPlugin] = []
        self._origin: dict[int, tuple[str, str, str]] = {}
        self._load_entry_points()
        # the core's executors: a run never depends on an optional plugin to run at all
        from zsbench import __version__, executors

        self._register(executors, "zsbench.executors", OWN_DISTRIBUTION, __version__)
        #: modules registered in code (worker processes import them by name) and whether
        #: some plugin object registered in code is no importable module (it cannot leave
        #: this process)
        self.code_modules: list[str] = []
        self.code_objects = False
        for name in _env_list("ZSBENCH_PLUGINS"):
            self._import_and_register(name, lambda n=name: importlib.import_module(n),
                                      "(ZSBENCH_PLUGINS)", "")
        for i, obj in enumerate(extra):
            source = getattr(obj, "__name__", f"extra-{i}")
            self._register(obj, source, "(in code)", "")
            if isinstance(obj, types.ModuleType) and obj.__spec__ is not None:
                self.code_modules.append(obj.__name__)  # importable by name in a worker
            else:
                self.code_objects = True
        self._drop_unknown_hooks()
        self._collect()

    # -- loading -----------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        blocked = set(_env_list("ZSBENCH_DISABLE_PLUGINS"))
        seen: set[str] = set()
        for dist in importlib.metadata.distributions():
            dist_name = dist.metadata["Name"] or "?"
            key = dist_name.lower().replace("_", "-")
            if key in seen:
                continue
            seen.add(key)
            if not self.autoload and key != OWN_DISTRIBUTION:
                continue
            for ep in dist.entry_points:
                if ep.group != GROUP or ep.name in blocked:
                    continue
                self._import_and_register(ep.name, ep.load, dist_name, dist.version)

    def _import_and_register(self, source: str, load: Any, dist: str, version: str) -> None:
        try:
            obj = load()
        except Exception as exc:  # a broken plugin must not break the others
            self.broken.append(BrokenPlugin(source, dist, version,
                                            f"{type(exc).__name__}: {exc}",
                                            traceback.format_exc()))
            return
        self._register(obj, source, dist, version)

    def _register(self, obj: object, source: str, dist: str, version: str) -> None:
        if self.pm.is_registered(obj):
            return
        name = source if not self.pm.has_plugin(source) else f"{source}@{dist}"
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:
            self.broken.append(BrokenPlugin(source, dist, version,
                                            f"{type(exc).__name__}: {exc}",
                                            traceback.format_exc()))
            return
        self._origin[id(obj)] = (source, dist, version)

    def _drop_unknown_hooks(self) -> None:
        """Unregister, and record as broken, each plugin implementing a hook zsbench does
        not declare (a misspelt hook name): one plugin's typo must not fail the registry,
        as pluggy's ``check_pending()`` would."""
        for hook_name in list(vars(self.pm.hook)):
            caller = getattr(self.pm.hook, hook_name)
            if hook_name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook or not self.pm.is_registered(impl.plugin):
                    continue
                source, dist, version = self._origin.get(id(impl.plugin),
                                                         (impl.plugin_name, "?", ""))
                self.pm.unregister(impl.plugin)
                self.broken.append(BrokenPlugin(
                    source, dist, version,
                    f"implements {hook_name!r}, which is not a zsbench hook. Fix: rename the "
                    f"function to one of the hooks in zsbench.hookspecs, or drop its "
                    f"@hookimpl.", ""))

    def _collect(self) -> None:
        for kind, hook_name in hookspecs.CONTRIBUTING_HOOKS.items():
            base = PLUGIN_KINDS[kind]
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                source, dist, version = self._origin.get(id(impl.plugin), (impl.plugin_name, "?", ""))
                try:
                    classes = impl.function() or []
                    for cls in classes:
                        if not (isinstance(cls, type) and issubclass(cls, base)):
                            raise TypeError(f"{hook_name} returned {cls!r}, not a subclass of "
                                            f"zsbench.plugin.{base.__name__}")
                        if not getattr(cls, "name", ""):
                            raise TypeError(f"{cls.__qualname__} has no `name`")
                except Exception as exc:
                    self.broken.append(BrokenPlugin(source, dist, version,
                                                    f"{type(exc).__name__}: {exc}",
                                                    traceback.format_exc()))
                    continue
                for cls in classes:
                    info = PluginInfo(kind, cls.name, cls, dist, version, source)
                    other = self.plugins[kind].get(cls.name)
                    if other is not None and other.cls is not cls:
                        raise DuplicatePluginError(kind, cls.name,
                                                   f"{other.distribution} ({other.source})",
                                                   f"{dist} ({source})")
                    self.plugins[kind][cls.name] = info

    # -- lookup ------------------------------------------------------------------------
    @property
    def hook(self) -> Any:
        return self.pm.hook

    def names(self, kind: str) -> list[str]:
        return sorted(self.plugins[kind])

    def get(self, kind: str, name: str) -> PluginInfo:
        if name not in self.plugins[kind]:
            raise UnknownPluginError(kind, name, self.names(kind))
        return self.plugins[kind][name]

    def all(self) -> list[PluginInfo]:
        return [info for kind in self.plugins for _, info in sorted(self.plugins[kind].items())]

    def observers(self) -> list[tuple[str, str, str, str, str]]:
        """``(name, distribution, version, depends on, summary)`` of every plugin object
        that implements an observer hook (:data:`zsbench.hookspecs.OBSERVER_HOOKS`),
        named as registered (its entry point's name, e.g. ``standard-mlflow``); its
        summary is the first line of its docstring, its dependencies the distributions
        an optional ``depends_on`` tuple names."""
        out = []
        for obj in self.pm.get_plugins():
            if not any(getattr(obj, hook, None) is not None for hook in hookspecs.OBSERVER_HOOKS):
                continue
            source, dist, version = self._origin.get(id(obj), (self.pm.get_name(obj) or "?",
                                                               "?", ""))
            doc = (inspect.getdoc(obj) or "").strip()
            deps = []
            for name in getattr(obj, "depends_on", ()) or ():
                try:
                    deps.append(f"{name} {importlib.metadata.version(name)}")
                except importlib.metadata.PackageNotFoundError:
                    deps.append(f"{name} not installed")
            out.append((source, dist, version, ", ".join(deps) or "-",
                        doc.splitlines()[0] if doc else ""))
        return sorted(out)

    def listing(self) -> list[list[str]]:
        """One row per plugin of every kind, observers included: ``kind``, ``name``,
        ``distribution``, ``version``, ``depends on``, ``summary`` (what ``zsbench
        plugins`` prints)."""
        rows = []
        for p in self.all():
            deps = p.cls.dependencies() if hasattr(p.cls, "dependencies") else {}
            rows.append([p.kind, p.name, p.distribution, p.version,
                         ", ".join(f"{n} {v}" for n, v in deps.items()) or "-", p.summary])
        rows += [["observer", *row] for row in self.observers()]
        return rows

    def create(self, kind: str, name: str, params: Mapping[str, Any]) -> Any:
        """Instantiate plugin ``name`` of ``kind`` with validated keyword parameters."""
        cls = self.get(kind, name).cls
        check_params(kind, name, cls, params)
        return cls(**params)

    def call_observers(self, hook_name: str, **kwargs: Any) -> list[str]:
        """Call an observer hook on every plugin; return one message per failing plugin."""
        problems = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            accepted = {k: v for k, v in kwargs.items() if k in impl.argnames}
            try:
                impl.function(**accepted)
            except Exception as exc:
                source, dist, _ = self._origin.get(id(impl.plugin), (impl.plugin_name, "?", ""))
                problems.append(f"observer {hook_name} of plugin {source} ({dist}) raised "
                                f"{type(exc).__name__}: {exc}")
        return problems


def value_fits(value: Any, hint: Any) -> bool:
    """Whether a suite value fits a constructor's type hint (unknown hints accept)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(value_fits(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence, abc.Sequence) or hint in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(
            value_fits(v, args[0]) for v in value) if args else isinstance(value, (list, tuple))
    if origin in (dict, typing.Mapping, abc.Mapping) or hint is dict:
        return isinstance(value, dict)
    return True


def _describe_hint(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe_hint(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "absent"
    if origin in (list, tuple, typing.Sequence, abc.Sequence) and typing.get_args(hint):
        return f"a list of {_describe_hint(typing.get_args(hint)[0])}"
    return getattr(hint, "__name__", str(hint))


def check_params(kind: str, name: str, cls: type[Configurable], params: Mapping[str, Any]) -> None:
    """Raise :class:`PluginParameterError` for an unknown, missing or mistyped parameter."""
    accepted = cls.parameters()
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    for key, value in params.items():
        if key not in accepted:
            guess = did_you_mean(key, accepted)
            fix = f'did you mean "{guess}"? ' if guess else ""
            listed = ", ".join(accepted) if accepted else "none"
            raise PluginParameterError(kind, name, key, "is not a parameter of this plugin.",
                                       f"{fix}accepted parameters: {listed}.")
        hint = hints.get(key, inspect.Parameter.empty)
        if not value_fits(value, hint):
            raise PluginParameterError(kind, name, key,
                                       f"got {value!r} ({type(value).__name__}).",
                                       f"give {_describe_hint(hint)}.")
    for key, p in accepted.items():
        if p.default is inspect.Parameter.empty and key not in params:
            raise PluginParameterError(kind, name, key, "is required and missing.",
                                       f"add {key} = ... to the plugin's table.")
