"""The checks every plugin kind gets: a name and summary, keyword-only annotated
parameters, parameters stored unchanged, declared constraints validated."""

from __future__ import annotations

import inspect

from zsbench.testing._base import Subject, _Fail, conformance_check, equal_params
from zsbench.testing.parameters import check_parameter_constraints


@conformance_check(Subject)
def check_name_and_summary(h: Subject) -> None:
    """A class attribute ``name`` without whitespace and a docstring (its first line is the
    summary ``zsbench plugins`` prints)."""
    cls = h.cls
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name.strip():
        raise _Fail(f"{cls.__qualname__} needs a class attribute `name` (the name suites "
                    "use), e.g. name = \"mymodel\".")
    if name != name.strip() or any(c.isspace() for c in name):
        raise _Fail(f"name {name!r} contains whitespace; use letters, digits, _ or -.")
    if not cls.summary():
        raise _Fail(f"{cls.__qualname__} needs a docstring: its first line is the summary "
                    "`zsbench plugins` prints.")


@conformance_check(Subject)
def check_keyword_only_parameters(h: Subject) -> None:
    """Only keyword-only constructor parameters (inherited ones count), each annotated with
    a type that resolves."""
    cls = h.cls
    sig = inspect.signature(cls.__init__)
    try:
        hints = cls.parameter_hints()
    except Exception as exc:
        raise _Fail(f"the constructor's type hints cannot be resolved ({exc}); suites "
                    "are type-checked against them.") from exc
    for i, (pname, p) in enumerate(sig.parameters.items()):
        if i == 0 and pname == "self":
            continue
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise _Fail(f"the constructor takes {'*' if p.kind is p.VAR_POSITIONAL else '**'}"
                        f"{pname}; expected only named keyword-only parameters (the keys "
                        "a suite may give).")
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise _Fail(f"constructor parameter {pname!r} is positional; expected keyword-"
                        "only parameters: def __init__(self, *, ...).")
        if pname not in hints:
            raise _Fail(f"constructor parameter {pname!r} has no type annotation; suites "
                        "are type-checked against the annotations.")


@conformance_check(Subject)
def check_params_stored(h: Subject) -> None:
    """Every parameter stored unchanged under its own name: ``cls(**get_params())``
    round-trips and the defaults read back as given."""
    cls = h.cls
    inst = h.fresh()
    names = list(cls.parameters())
    missing = [n for n in names if not hasattr(inst, n)]
    if missing:
        raise _Fail(f"the constructor does not store parameter(s) {missing} under their "
                    "own names (self.NAME = NAME), so get_params() and the manifest "
                    "cannot report them.")
    params = inst.get_params()
    again = cls(**params).get_params()
    if not equal_params(params, again):
        raise _Fail(f"cls(**get_params()) gives {again!r}, not {params!r}: store each "
                    "parameter unchanged; validate in the constructor but do not convert.")
    required = [n for n, p in cls.parameters().items() if p.default is p.empty]
    if not required:
        defaults = {n: p.default for n, p in cls.parameters().items()}
        got = cls().get_params()
        if not equal_params(defaults, got):
            raise _Fail(f"constructed with its defaults, get_params() is {got!r}, not the "
                        f"defaults {defaults!r}: store each parameter unchanged.")


COMMON_CHECKS = (check_name_and_summary, check_keyword_only_parameters, check_params_stored,
                 check_parameter_constraints)
