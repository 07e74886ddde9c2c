"""The base of every plugin class: keyword-only parameters stored as given, inherited by
subclasses, a name, a one-line summary and the declared dependencies (re-exported by
:mod:`zsbench.plugin`)."""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar


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
