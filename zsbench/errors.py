"""The exception hierarchy: every error zsbench raises on purpose derives from ZsbenchError.

Each exception stores the data it is about (as attributes named like its constructor's
arguments) and builds its own one-paragraph message, so a caller can both print it and
inspect it. The constructors:

- ``ZsbenchError(message)``: the base; any other deliberate error (exit code 2).
- ``SuiteError(path, key, problem, fix=None)``: a suite file that cannot be used.
- ``UnknownPluginError(kind, name, available)``, ``DuplicatePluginError(kind, name, first,
  second)``: plugin look-up.
- ``PluginParameterError(kind, plugin, key, problem, fix)``: a bad constructor parameter.
- ``ExecutorOptionError(flag, problem, fix)``: an executor's ``cli_options`` that clash.
- ``DataError(problem, fix=None, *, kind=None, plugin=None)``: data a plugin cannot work
  with; with ``plugin`` the message starts ``model "NAME": ``.
- ``TrainingError(model, problem, fix)``: training that cannot go on.
- ``RegressionError(regressions, new, base)``: worse than the baseline allows (exit 1).
- ``RunInterrupted(suite_path, profile, run_dir, done, total)``: Ctrl-C (exit 130).

``problem`` is a sentence saying what is wrong and ``fix`` one saying what to do; the
message is ``<where>: <problem> Fix: <fix>``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class ZsbenchError(Exception):
    """Base class of zsbench's errors. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Closest candidate to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean_hint(name: str, candidates: Iterable[str],
                      template: str = 'did you mean "{}"? ') -> str:
    """``template`` filled with :func:`did_you_mean`'s guess, or "" when nothing is close
    (the default starts a "Fix: ..." sentence)."""
    guess = did_you_mean(name, candidates)
    return template.format(guess) if guess else ""


class SuiteError(ZsbenchError):
    """A suite file that cannot be used: names the file, the key and what was expected."""

    def __init__(self, path: str, key: str, problem: str, fix: str | None = None) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: [{key}]" if key else self.path
        message = f"{where}: {problem}"
        if not fix:
            fix = (f"change [{key}] as this message says (the suite format is in the README, "
                   "section Suites)." if key else "correct the file.")
        message += f" Fix: {fix}"
        super().__init__(message)


class UnknownPluginError(ZsbenchError):
    """A plugin name that no installed plugin has."""

    def __init__(self, kind: str, name: str, available: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        guess = did_you_mean(name, self.available)
        message = f'unknown {kind} plugin "{name}"'
        if guess:
            message += f'; did you mean "{guess}"?'
        listed = ", ".join(self.available) if self.available else "(none installed)"
        message += f" available: {listed} (see: zsbench plugins)"
        super().__init__(message)


class DuplicatePluginError(ZsbenchError):
    """Two plugins of one kind claim the same name."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        self.first = first
        self.second = second
        super().__init__(
            f'two {kind} plugins are named "{name}": one from {first}, one from {second}. '
            f"Fix: uninstall one of the two distributions, or block one with "
            f"ZSBENCH_DISABLE_PLUGINS={name}."
        )


class PluginParameterError(ZsbenchError):
    """A parameter a plugin does not accept, or of the wrong type."""

    def __init__(self, kind: str, plugin: str, key: str, problem: str, fix: str) -> None:
        self.kind = kind
        self.plugin = plugin
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f'{kind} plugin "{plugin}", parameter "{key}": {problem} Fix: {fix}')


class ExecutorOptionError(ZsbenchError):
    """An executor's declared ``zsbench run`` option that cannot be added: two plugins
    giving one flag different meanings, or a flag that is no option (``problem`` names the
    plugins)."""

    def __init__(self, flag: str, problem: str, fix: str) -> None:
        self.flag = flag
        self.problem = problem
        self.fix = fix
        super().__init__(f"zsbench run option {flag}: {problem} Fix: {fix}")


class DataError(ZsbenchError):
    """Data a plugin cannot work with (wrong shape, a factor outside the space, ...).

    ``DataError(problem, fix=None, *, kind=None, plugin=None)``: with ``plugin`` (and
    ``kind``, default "model") the message names it: ``model "tinypca": expected images
    [N, 1, 16, 16], got [8, 16, 16]. Fix: add the channel axis.``"""

    def __init__(self, problem: str, fix: str | None = None, *, kind: str | None = None,
                 plugin: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.kind = kind or ("model" if plugin else None)
        self.plugin = plugin
        message = f'{self.kind} "{plugin}": {problem}' if plugin else problem
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)


class MissingCapability(ZsbenchError):
    """A metric or output needs an optional capability (a dataset's ``recover``, a model's
    ``sample``, ...) that the plugin at hand does not offer."""


class TrainingError(ZsbenchError):
    """Training that cannot go on (a NaN loss, a diverging model)."""

    def __init__(self, model: str, problem: str, fix: str) -> None:
        self.model = model
        self.problem = problem
        self.fix = fix
        super().__init__(f'model "{model}": {problem} Fix: {fix}')


class RegressionError(ZsbenchError):
    """A metric got worse than its baseline allows (exit code 1).

    ``regressions`` holds one line per regression (model, score, values); ``new`` and
    ``base`` name the compared run and baseline."""

    exit_code = 1

    def __init__(self, regressions: Sequence[str], new: str, base: str) -> None:
        self.regressions = list(regressions)
        self.new = new
        self.base = base
        lines = "\n".join(f"  - {r}" for r in self.regressions)
        super().__init__(f"{len(self.regressions)} regression(s) of {new} against {base}:"
                         f"\n{lines}")


class RunInterrupted(ZsbenchError):
    """Ctrl-C during a run: what finished is saved, and the message says how to resume."""

    exit_code = 130

    def __init__(self, suite_path: str, profile: str | None, run_dir: str, done: int,
                 total: int) -> None:
        self.suite_path = suite_path
        self.profile = profile
        self.run_dir = run_dir
        self.done = done
        self.total = total
        prof = f" --profile {profile}" if profile else ""
        super().__init__(f"interrupted after {done} of {total} jobs; their results are saved "
                         f"in {run_dir}. Resume with: zsbench run {suite_path}{prof} "
                         f"--resume {run_dir}")
