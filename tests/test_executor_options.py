"""Executors declare their `zsbench run` options (``cli_options``); the CLI builds them."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import toy_plugins

from zsbench import cli, hookimpl
from zsbench.errors import ExecutorOptionError, ZsbenchError
from zsbench.executors import command_options
from zsbench.plugin import Executor, ExecutorOption
from zsbench.registry import Registry


class EchoExecutor(Executor):
    """A third party's executor with its own option."""

    name = "echo"
    cli_options = (ExecutorOption("--echo-delay", "delay", float, "seconds between jobs"),
                   ExecutorOption("--workers", "workers", int, "jobs side by side"))

    def __init__(self, *, delay: float = 0.0, workers: int = 0) -> None:
        self.delay = delay
        self.workers = workers


def _plugin(*classes: type) -> object:
    class Plugin:
        @hookimpl
        def zsbench_add_executors(self) -> list[type]:
            return list(classes)

    return Plugin()


def _registry(*classes: type) -> Registry:
    return Registry(extra=[toy_plugins, _plugin(*classes)] if classes else [toy_plugins])


def _executor(registry: Registry, monkeypatch: pytest.MonkeyPatch, argv: list[str],
              table: dict | None = None) -> object:
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    args = cli.build_parser().parse_args(["run", "suite.toml", *argv])
    return cli._executor(args, SimpleNamespace(executor=table or {}), registry)


def test_builtin_flags_reach_the_executors_parameters(toy_registry, monkeypatch) -> None:
    pool = _executor(toy_registry, monkeypatch, ["--workers", "3"])
    assert (pool.name, pool.workers) == ("pool", 3)
    # the suite's [executor] table, under the flag
    assert _executor(toy_registry, monkeypatch, [], {"plugin": "pool", "workers": 2}).workers == 2
    assert _executor(toy_registry, monkeypatch, ["--workers", "4"],
                     {"plugin": "pool", "workers": 2}).workers == 4
    # the table applies only to the executor it names
    assert _executor(toy_registry, monkeypatch, ["--executor", "local"],
                     {"plugin": "pool", "workers": 2}).name == "local"
    if "ray" not in toy_registry.names("executor"):
        pytest.skip("standard executors not installed")
    assert _executor(toy_registry, monkeypatch, ["--executor", "process", "--workers",
                                                 "2"]).workers == 2
    ray = _executor(toy_registry, monkeypatch, ["--executor", "ray", "--ray-address", "auto",
                                                "--num-cpus", "2", "--num-gpus", "0.5"])
    assert (ray.address, ray.num_cpus, ray.num_gpus) == ("auto", 2.0, 0.5)


def test_a_flag_that_does_not_apply_is_refused(toy_registry, monkeypatch, write_suite,
                                               capsys) -> None:
    with pytest.raises(ZsbenchError, match=r'--workers does not apply to the "local" '
                       r"executor \(it takes: no options\).*--executor pool or process"):
        _executor(toy_registry, monkeypatch, ["--executor", "local", "--workers", "2"])
    assert cli.main(["run", str(write_suite()), "--executor", "local", "--workers", "2"]) == 2
    assert 'does not apply to the "local" executor' in capsys.readouterr().err
    if "ray" in toy_registry.names("executor"):
        with pytest.raises(ZsbenchError, match=r'--num-gpus does not apply to the "process" '
                           r"executor \(it takes: workers\).*--executor ray\)"):
            _executor(toy_registry, monkeypatch, ["--executor", "process", "--num-gpus", "1"])


def test_a_third_party_executor_adds_its_flag(monkeypatch, capsys) -> None:
    registry = _registry(EchoExecutor)
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "echo executor options:" in text and "--echo-delay ECHO_DELAY" in text
    assert "seconds between jobs" in text
    # --workers shared with pool (and process): one flag, in one group
    assert text.count("\n  --workers WORKERS") == 1
    assert re.search(r"echo, pool(,| and) .*executor options:|echo and pool executor options",
                     text)
    echo = _executor(registry, monkeypatch, ["--executor", "echo", "--echo-delay", "0.25",
                                             "--workers", "3"])
    assert (echo.delay, echo.workers) == (0.25, 3)
    assert _executor(registry, monkeypatch, ["--workers", "5"]).workers == 5  # pool's too
    with pytest.raises(ZsbenchError, match=r"--echo-delay does not apply to the \"pool\""):
        _executor(registry, monkeypatch, ["--echo-delay", "1"])


def _clashing(flag: str, parameter: str, type_: type) -> type:
    class Clash(Executor):
        """Declares a flag another executor already has."""

        name = "clash"
        cli_options = (ExecutorOption(flag, parameter, type_),)

        def __init__(self, *, delay: float = 0.0, other: str = "", workers: int = 0) -> None:
            pass

    return Clash


@pytest.mark.parametrize(("flag", "parameter", "type_"), [
    ("--echo-delay", "other", str),    # another parameter
    ("--echo-delay", "delay", int),    # another type
])
def test_conflicting_declarations_name_both_plugins(flag, parameter, type_, monkeypatch,
                                                    capsys) -> None:
    registry = _registry(EchoExecutor, _clashing(flag, parameter, type_))
    with pytest.raises(ExecutorOptionError) as info:
        command_options(registry)
    msg = str(info.value)
    assert msg.startswith(f"zsbench run option {flag}: ")
    assert 'executor "clash"' in msg and 'executor "echo"' in msg and "Fix: " in msg
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    assert cli.main(["run", "suite.toml"]) == 2
    assert 'executor "clash"' in capsys.readouterr().err


def test_a_flag_of_zsbench_run_itself_is_refused(monkeypatch, capsys) -> None:
    registry = _registry(_clashing("--threads", "workers", int))
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    assert cli.main(["run", "suite.toml"]) == 2
    err = capsys.readouterr().err
    assert "--threads" in err and "clash" in err and "option of `zsbench run` itself" in err


def test_a_declaration_for_no_parameter_is_refused() -> None:
    registry = _registry(_clashing("--nope", "nope", str))
    with pytest.raises(ExecutorOptionError, match=r'executor "clash".*parameter "nope"'):
        command_options(registry)


def test_help_and_other_commands_load_no_plugins(monkeypatch) -> None:
    def boom() -> Registry:
        raise AssertionError("loaded the plugins")

    monkeypatch.setattr(cli, "_registry", boom)
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["--help"])
    assert info.value.code == 0
    cli.build_parser().parse_args(["validate", "suite.toml"])


def test_the_cli_has_no_executor_specific_code() -> None:
    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert not re.search(r"ray|num.gpus|num.cpus", source, re.IGNORECASE)
