"""The base of every plugin class: keyword-only parameters stored as given, inherited by
subclasses, declared constraints on their values, a name, a one-line summary and the
declared dependencies (re-exported by :mod:`zsbench.plugin`)."""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import math
import numbers
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

from zsbench.errors import PluginParameterError


@dataclass(frozen=True)
class Interval:
    """A number in a range: ``Interval(int, 1)`` is an integer >= 1, ``Interval(float, 0,
    1, closed="left")`` a finite number in [0, 1). ``None`` bounds are open ends. ``note``
    ends the fix of the error (e.g. ``"1 means no decay"``)."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    note: str = ""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(
                value, numbers.Integral if self.kind is int else numbers.Real):
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.low is not None and (v < self.low or (v == self.low and self.closed in (
                "right", "neither"))):
            return False
        return self.high is None or not (v > self.high or (v == self.high and self.closed in (
            "left", "neither")))

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            if self.kind is int and lo_in and hi_in:
                return f"{what} from {self.low:g} to {self.high:g}"
            return (f"{what} in {'[' if lo_in else '('}{self.low:g}, {self.high:g}"
                    f"{']' if hi_in else ')'}")
        if self.low is not None:
            return f"{what} {'>=' if lo_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<=' if hi_in else '<'} {self.high:g}"
        return what


@dataclass(frozen=True)
class Options:
    """One of the listed values (``Options(("adam", "rmsprop"))``)."""

    values: tuple[Any, ...]
    note: str = ""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, int, float)) and any(
            type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(f'"{v}"' if isinstance(v, str) else repr(v)
                                     for v in self.values)


@dataclass(frozen=True)
class Items:
    """A list (or tuple) of ``min_len`` to ``max_len`` values each accepted by ``item``."""

    item: Interval | Options
    min_len: int = 0
    max_len: int | None = None
    note: str = ""

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) >= self.min_len
                and (self.max_len is None or len(value) <= self.max_len)
                and all(self.item.accepts(v) for v in value))

    def describe(self) -> str:
        count = (f"{self.min_len} to {self.max_len}" if self.max_len is not None
                 else f"at least {self.min_len}")
        return f"a list of {count} values, each {self.item.describe()}"


Constraint = Union[Interval, Options, Items, Literal["boolean"], None]
"""One accepted form of a parameter's value: an :class:`Interval`, :class:`Options`,
:class:`Items`, ``"boolean"`` (true or false) or ``None`` (the value may be absent)."""


def accepts(constraint: Constraint, value: Any) -> bool:
    """Whether ``constraint`` (one entry of a parameter's declared list) accepts ``value``."""
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return isinstance(value, bool)
    return constraint.accepts(value)  # type: ignore[union-attr]


def _describe(constraint: Constraint) -> str:
    if constraint is None:
        return "absent"
    if constraint == "boolean":
        return "true or false"
    return constraint.describe()  # type: ignore[union-attr]


def plugin_kind(cls: type) -> str:
    """"model", "dataset", "metric", "output" or "executor": the contract of
    :mod:`zsbench.plugin` that ``cls`` fulfils ("plugin" when none)."""
    return next((k.__name__.lower() for k in cls.__mro__
                 if k.__module__ == "zsbench.plugin" and k.__name__ != "Configurable"),
                "plugin")


class Configurable:
    """Shared by all plugin kinds: a ``name``, a summary and keyword-only parameters.

    **Inherited parameters.** A subclass's ``__init__`` may declare only its *new*
    keyword-only parameters and store them; it then accepts every parameter of its base
    as well. zsbench wraps such a constructor: the wrapper takes the base's parameters
    followed by the new ones, calls the base's ``__init__`` with the base's parameters and
    then the subclass's own ``__init__`` with its own (a parameter both declare, e.g. to
    change its default, goes to both). So the subclass must not call ``super().__init__()``
    itself. :meth:`parameters`, the suite's validation and type checks, :meth:`get_params`,
    sweeps and the manifest all see the whole list::

        class BetaVAE(TorchModel):            # TorchModel takes latent_dim, epochs, ...
            def __init__(self, *, beta: float = 4.0) -> None:
                self.beta = beta              # BetaVAE(latent_dim=2, beta=8.0) works

    A subclass that declares every parameter of its base, or takes anything but keyword-only
    parameters, is left as written.
    """

    name: ClassVar[str] = ""
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {}
    """Declared once per class, the accepted values of each parameter (scikit-learn style):
    ``{"epochs": [Interval(int, 0)], "optimizer": [Options(("adam", "rmsprop"))],
    "convt_start": [None, Interval(int, 1)]}``; a value is valid when one entry accepts it.
    A subclass's entries extend (and override) its bases'. :meth:`validate_parameters`
    checks them; the kit (``zsbench.testing.check_parameter_constraints``) checks that the
    constructor does."""
    depends_on: ClassVar[tuple[str, ...]] = ()
    """Distributions this plugin depends on beyond its own (e.g. the library it wraps:
    ``depends_on = ("pythae",)``): their installed versions go into the run manifest, the
    cache key of its trained models and baselines, and ``zsbench compare`` names a change."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            _inherit_parameters(cls)

    @classmethod
    def summary(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        """The keyword-only parameters of the constructor (inherited ones included), by
        name."""
        sig = inspect.signature(cls.__init__)
        return {
            n: p for n, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    @classmethod
    def parameter_hints(cls) -> dict[str, Any]:
        """The resolved type annotations of the constructor's parameters, by name (inherited
        ones included); raises when an annotation cannot be resolved."""
        return dict(typing.get_type_hints(cls.__init__))

    @classmethod
    def dependencies(cls) -> dict[str, str]:
        """``{distribution: installed version}`` of :attr:`depends_on` ("not installed"
        when absent). Override it to report a library that is no installed distribution
        (e.g. from its ``__version__``)."""
        out = {}
        for dist in cls.depends_on:
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = "not installed"
        return out

    @classmethod
    def parameter_constraints(cls) -> dict[str, list[Constraint]]:
        """Every declared constraint, the bases' first (a subclass's entry overrides)."""
        out: dict[str, list[Constraint]] = {}
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("_parameter_constraints", {}))
        return out

    def validate_parameters(self) -> None:
        """Check every parameter already set against :meth:`parameter_constraints`; the
        first that fails raises :class:`PluginParameterError` naming the plugin kind, its
        name, the key, the value and the fix (the suite's validation adds the file)."""
        for key, allowed in self.parameter_constraints().items():
            if key not in vars(self):
                continue  # not set yet: a base's constructor runs before the subclass's
            value = vars(self)[key]
            if any(accepts(c, value) for c in allowed):
                continue
            forms = " or ".join(_describe(c) for c in allowed)
            notes = "; ".join(getattr(c, "note", "") for c in allowed if getattr(c, "note", ""))
            raise PluginParameterError(plugin_kind(type(self)), self.name or type(self).__name__,
                                       key, f"must be {forms}; got {value!r}.",
                                       f"give {forms}" + (f" ({notes})." if notes else "."))

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to the constructor."""
        return {n: getattr(self, n) for n in self.parameters()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _inherit_parameters(cls: type[Configurable]) -> None:
    """Give ``cls`` a constructor taking its base's keyword-only parameters as well as its
    own, when its ``__init__`` declares only some of them (see :class:`Configurable`)."""
    own_init = cls.__dict__["__init__"]
    own_sig = inspect.signature(own_init)
    rest = list(own_sig.parameters.values())[1:]
    if any(p.kind is not inspect.Parameter.KEYWORD_ONLY for p in rest):
        return  # *args, **kwargs or positional parameters: left as written
    base_init = super(cls, cls).__init__  # type: ignore[misc]
    if base_init is object.__init__:
        return
    base_params = [p for p in inspect.signature(base_init).parameters.values()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY]
    own_params = [p for n, p in own_sig.parameters.items()
                  if p.kind is inspect.Parameter.KEYWORD_ONLY]
    own_names = {p.name for p in own_params}
    base_names = {p.name for p in base_params}
    if not base_params or all(p.name in own_names for p in base_params):
        return
    own_by_name = {p.name: p for p in own_params}
    merged = ([own_by_name.get(p.name, p) for p in base_params]
              + [p for p in own_params if p.name not in base_names])
    self_param = next(iter(own_sig.parameters.values()))

    def resolved(fn: Callable[..., None]) -> dict[str, Any]:
        try:
            return dict(typing.get_type_hints(fn))
        except Exception:  # unresolvable hints: keep them as written
            return dict(getattr(fn, "__annotations__", {}))

    hints = {**resolved(base_init), **resolved(own_init)}

    @functools.wraps(own_init)
    def __init__(self: Configurable, **params: Any) -> None:
        bound = signature.bind(self, **params)
        bound.apply_defaults()
        given = dict(bound.arguments)
        del given[self_param.name]
        base_init(self, **{k: v for k, v in given.items() if k in base_names})
        own_init(self, **{k: v for k, v in given.items() if k in own_names})

    signature = inspect.Signature([self_param, *merged], return_annotation=None)
    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__annotations__ = {k: v for k, v in hints.items()
                                if k in {p.name for p in merged} or k == "return"}
    del __init__.__wrapped__  # inspect must read the merged signature, not own_init's
    cls.__init__ = __init__  # type: ignore[method-assign]
