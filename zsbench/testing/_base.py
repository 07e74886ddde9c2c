"""The kit's plumbing: the error and check types, the subject under test, the decorator
that turns a check body into a module-level check function, and shared helpers."""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar, Union

import numpy as np

from zsbench.errors import ZsbenchError
from zsbench.torch_env import deterministic_algorithms
from zsbench.plugin import Configurable

PluginLike = Union[Configurable, type[Configurable], Callable[[], Configurable]]
"""What the kit accepts: a configured instance (cloned for every check), a class
(instantiated with its defaults) or a zero-argument factory returning an instance."""


class ConformanceError(ZsbenchError, AssertionError):
    """A plugin broke a contract: names the plugin, the check and what was expected."""

    def __init__(self, plugin: str, check: str, problem: str) -> None:
        self.plugin = plugin
        self.check = check
        self.problem = problem
        super().__init__(f'plugin "{plugin}" failed {check}: {problem}')


class Check(NamedTuple):
    """One check of one plugin: ``name`` (e.g. ``"check_encode_shape"``) and ``run``, a
    callable taking no arguments that raises :class:`ConformanceError` on failure.
    ``expected_failure`` is the reason given when the check was marked as one the plugin
    is known to fail (see :func:`zsbench.testing.parametrize_with_checks`), else None."""

    name: str
    run: Callable[[], None]
    expected_failure: str | None = None

    def __call__(self) -> None:
        self.run()


class _Fail(Exception):
    """Raised inside a check body; turned into a ConformanceError naming plugin and check."""


class Subject:
    """A plugin under test: its label, its class and a way to get a fresh, unfitted
    instance. Each kind's harness (``ModelHarness``, ...) adds the data its checks use."""

    base: type[Configurable] = Configurable
    kind: str = "plugin"

    def __init__(self, plugin: PluginLike, *, label: str | None = None, seed: int = 0) -> None:
        base = self.base
        if isinstance(plugin, type):
            if not issubclass(plugin, base):
                raise TypeError(f"{plugin!r} is not a subclass of zsbench.plugin."
                                f"{base.__name__}")
            cls: type[Configurable] = plugin
            self._make: Callable[[], Configurable] = plugin
        elif isinstance(plugin, Configurable):
            if not isinstance(plugin, base):
                raise TypeError(f"{plugin!r} is not a zsbench.plugin.{base.__name__}")
            pristine = copy.deepcopy(plugin)
            cls = type(plugin)
            self._make = lambda: copy.deepcopy(pristine)
        elif callable(plugin):
            first = plugin()
            if not isinstance(first, base):
                raise TypeError(f"the factory {plugin!r} returned {first!r}, not a "
                                f"zsbench.plugin.{base.__name__}")
            cls = type(first)
            self._make = plugin
        else:
            raise TypeError(f"expected a {base.__name__} instance, class or factory, got "
                            f"{plugin!r}")
        self.plugin = plugin
        self.cls = cls
        self.seed = seed
        self.label = label or getattr(cls, "name", "") or cls.__name__

    def fresh(self) -> Any:
        return self._make()


S = TypeVar("S", bound=Subject)
CheckFunction = Callable[..., None]


def conformance_check(harness: type[S]) -> Callable[[Callable[[S], None]], CheckFunction]:
    """Make a module-level check from a body taking a ``harness``.

    The check takes the plugin (an instance, class or factory; keyword options such as
    ``image_shape`` or ``seed`` go to the harness) or a ready harness, whose work (a fit)
    is then shared with other checks; it raises :class:`ConformanceError` naming the
    plugin and the check when the body fails or the plugin raises."""

    def decorate(body: Callable[[S], None]) -> CheckFunction:
        name = body.__name__

        @functools.wraps(body)
        def check(plugin: Any, /, **options: Any) -> None:
            h = plugin if isinstance(plugin, harness) else harness(plugin, **options)
            try:
                body(h)
            except ConformanceError:
                raise
            except (_Fail, AssertionError) as exc:
                raise ConformanceError(h.label, name, str(exc) or type(exc).__name__) from None
            except Exception as exc:  # the plugin itself raised: report where
                raise ConformanceError(h.label, name,
                                       f"raised {type(exc).__name__}: {exc}") from exc

        check.harness = harness  # type: ignore[attr-defined]
        return check

    return decorate


def bind(check: CheckFunction, h: Subject) -> Check:
    """``check`` applied to harness ``h``, as a :class:`Check` named after it."""
    def run() -> None:
        check(h)

    run.__name__ = run.__qualname__ = check.__name__
    return Check(check.__name__, run)


@contextlib.contextmanager
def global_rng(seed: int) -> Iterator[None]:
    """Set python's, numpy's and (if loaded) torch's global random state to ``seed``, and
    restore them afterwards: a plugin must not depend on them."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch = sys.modules.get("torch")
    torch_state = torch.random.get_rng_state() if torch is not None else None
    random.seed(seed)
    np.random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        if torch is not None and torch_state is not None:
            torch.random.set_rng_state(torch_state)


def rng_states() -> dict[str, Any]:
    """The global random states of python's ``random``, numpy and (if loaded) torch (CPU
    and every CUDA device), for comparing before and after a call."""
    states: dict[str, Any] = {"random": random.getstate(),
                              "numpy": np.random.get_state()}
    torch = sys.modules.get("torch")
    if torch is not None:
        states["torch"] = torch.random.get_rng_state().clone()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states["torch.cuda"] = [s.clone() for s in torch.cuda.get_rng_state_all()]
    return states


def changed_rng_states(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of the generators whose state differs between two :func:`rng_states`."""
    torch = sys.modules.get("torch")
    changed = []
    for key in before:
        a, b = before[key], after.get(key)
        if key == "numpy":
            same = a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])
        elif key == "torch" and torch is not None:
            same = torch.equal(a, b)
        elif key == "torch.cuda" and torch is not None:
            same = len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
        else:
            same = a == b
        if not same:
            changed.append(key)
    return changed


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """As the runner does: torch's deterministic algorithms on while training (nothing
    when torch is not imported: a plugin that does not use it)."""
    if "torch" not in sys.modules:
        yield
        return
    with deterministic_algorithms():
        yield


def expect_clear_error(what: str, call: Callable[[], Any], advice: str | None,
                       expected: str) -> None:
    """Fail unless ``call()`` raises an exception with a non-empty message."""
    try:
        call()
    except Exception as exc:
        if not str(exc).strip():
            tail = f"; {advice}." if advice else "."
            raise _Fail(f"{what} raised {type(exc).__name__} with an empty message"
                        f"{tail}") from exc
        return
    raise _Fail(f"{what} returned instead of raising; expected a clear error {expected}.")


def shape_of(a: Any) -> str:
    shape = getattr(a, "shape", None)
    return str(list(shape)) if shape is not None else f"a {type(a).__name__}"


def as_array(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise _Fail(f"{what} returned {type(value).__name__}; expected a numpy array.")
    return value


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) \
        if a.size else 0.0


def equal_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                return False
        elif x != y and not (isinstance(x, float) and isinstance(y, float)
                             and math.isnan(x) and math.isnan(y)):
            return False
    return True


def model_state(model: object) -> dict[str, Any]:
    """A copy of a model's learned state, by attribute path: every numpy array and torch
    tensor among its attributes (inside dicts, lists and tuples too) and the parameters and
    buffers of its torch modules, for comparing before and after a call that must not
    change the model."""
    torch = sys.modules.get("torch")
    state: dict[str, Any] = {}

    def visit(value: Any, path: str, depth: int) -> None:
        if isinstance(value, np.ndarray):
            state[path] = value.copy()
        elif torch is not None and isinstance(value, torch.Tensor):
            state[path] = value.detach().to("cpu").clone()
        elif torch is not None and isinstance(value, torch.nn.Module):
            for key, tensor in value.state_dict(keep_vars=False).items():
                state[f"{path}.{key}"] = tensor.detach().to("cpu").clone()
        elif depth < 3 and isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{path}[{key!r}]", depth + 1)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]", depth + 1)

    for name, value in vars(model).items():
        visit(value, name, 0)
    return state


def changed_state(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The paths whose arrays differ between two :func:`model_state` (added and removed
    ones included), sorted."""
    torch = sys.modules.get("torch")
    changed = set(before) ^ set(after)
    for key in set(before) & set(after):
        a, b = before[key], after[key]
        if torch is not None and isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            same = a.shape == b.shape and a.dtype == b.dtype and (
                torch.equal(a, b) or (a.is_floating_point() and bool(torch.isclose(
                    a, b, rtol=0.0, atol=0.0, equal_nan=True).all())))
        elif isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
                a, b, equal_nan=a.dtype.kind in "fc")
        else:
            same = False
        if not same:
            changed.add(key)
    return sorted(changed)
