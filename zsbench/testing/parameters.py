"""The check of declared parameter constraints (``_parameter_constraints``, see
:class:`zsbench.configurable.Configurable`): every declared key is a parameter, the
defaults satisfy their constraints, and the constructor refuses a value outside each one
with a :class:`~zsbench.errors.PluginParameterError` naming that key."""

from __future__ import annotations

from typing import Any

from zsbench.configurable import Interval, Items, Options, accepts
from zsbench.errors import PluginParameterError
from zsbench.testing._base import Subject, _Fail, conformance_check


class _NotAValue:
    """A value no constraint accepts (not a number, a string, a boolean, a list or None)."""

    def __repr__(self) -> str:
        return "<not a value>"


def invalid_values(constraints: list[Any]) -> list[Any]:
    """Values outside every one of ``constraints`` (a parameter's declared list): a foreign
    object, and just past each bound of an :class:`Interval`, an unknown option, a list
    that is too short or holds a bad item; only those no entry of the list accepts."""
    out: list[Any] = [_NotAValue()]
    for c in constraints:
        if isinstance(c, Interval):
            if c.low is not None:
                out.append(c.low - 1 if c.closed in ("both", "left") else c.low)
            if c.high is not None:
                out.append(c.high + 1 if c.closed in ("both", "right") else c.high)
        elif isinstance(c, Options):
            out.append("__no_such_option__")
        elif isinstance(c, Items):
            out.append([] if c.min_len > 0 else [_NotAValue()])
        elif c == "boolean":
            out.append("yes")
    return [v for v in out if not any(accepts(c, v) for c in constraints)]


@conformance_check(Subject)
def check_parameter_constraints(h: Subject) -> None:
    """Every key of ``_parameter_constraints`` is a constructor parameter whose value as
    configured satisfies its constraints, and the constructor refuses a value outside them
    (one key at a time) with a ``PluginParameterError`` naming that key: a declared
    constraint is validated (``self.validate_parameters()`` in ``__init__``)."""
    cls = h.cls
    declared = cls.parameter_constraints()
    unknown = sorted(set(declared) - set(cls.parameters()))
    if unknown:
        raise _Fail(f"_parameter_constraints declares {unknown}, which are no parameters of "
                    "the constructor (a typo?).")
    params = h.fresh().get_params()
    for key, constraints in declared.items():
        if not any(accepts(c, params[key]) for c in constraints):
            raise _Fail(f"parameter {key!r} = {params[key]!r}, as configured, is outside its "
                        f"own declared constraints {constraints!r}.")
        for bad in invalid_values(constraints):
            try:
                cls(**{**params, key: bad})
            except PluginParameterError as exc:
                if exc.key != key:
                    raise _Fail(f"{key} = {bad!r} was refused as parameter {exc.key!r}; the "
                                f"error must name {key!r}.") from None
                continue
            except Exception as exc:
                raise _Fail(f"{key} = {bad!r} raised {type(exc).__name__}: {exc}, not a "
                            "PluginParameterError naming the key; call "
                            "self.validate_parameters() in __init__.") from None
            raise _Fail(f"{key} = {bad!r} is outside the declared constraints but the "
                        "constructor accepted it; call self.validate_parameters() in "
                        "__init__.")
