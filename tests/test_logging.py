"""Messages go through stdlib logging; the CLI's -v/-q choose how many; the core names no
concrete model."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from conftest import REPO, TOY_SUITE

from zsbench.cli import main


def _cli_run(tmp_path: Path, monkeypatch, capsys, *flags: str) -> str:  # noqa: ANN001
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    suite = tmp_path / "suite.toml"
    suite.write_text(TOY_SUITE)
    out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    assert main(["run", str(suite), "--profile", "smoke", "--no-cache", "--out", str(out),
                 *flags]) == 0
    return capsys.readouterr().err


@pytest.mark.slow
def test_cli_progress_by_default_and_quiet_with_q(tmp_path, monkeypatch, capsys) -> None:
    default = _cli_run(tmp_path, monkeypatch, capsys)
    assert "zsbench: suite toy (profile smoke): preparing dataset toy" in default
    assert re.search(r"zsbench: \[4/4\] \S+ \(seed \d\) ok", default)  # any finishing order
    quiet = _cli_run(tmp_path, monkeypatch, capsys, "-q")
    assert "zsbench: " not in quiet
    verbose = _cli_run(tmp_path, monkeypatch, capsys, "-v")
    assert "zsbench: [4/4]" in verbose
    assert logging.getLogger("zsbench").level == logging.DEBUG


def test_library_runs_log_through_the_zsbench_logger(tmp_path, caplog) -> None:  # noqa: ANN001
    import toy_plugins

    from zsbench.registry import Registry
    from zsbench.run import run_suite
    from zsbench.suite import load_suite

    registry = Registry(extra=[toy_plugins])
    (tmp_path / "s.toml").write_text(TOY_SUITE)
    suite = load_suite(tmp_path / "s.toml", profile="smoke", registry=registry)
    with caplog.at_level(logging.INFO, logger="zsbench"):
        run_suite(suite, registry=registry, run_dir=tmp_path / "r")
    names = {r.name for r in caplog.records}
    assert names <= {"zsbench.run", "zsbench.runner", "zsbench.cache"} and names
    assert any(r.getMessage().startswith("[4/4] ") for r in caplog.records)


def test_the_core_names_no_concrete_model() -> None:
    """Only plugins know models: the core's code and messages never name one."""
    words = re.compile(r"\b(vae|ae|kl_weight|entanglement_weight|fixed_sigma)\b", re.I)
    hits = []
    for path in sorted((REPO / "zsbench").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if path.name == "pytest_plugin.py" and line.lstrip().startswith(("assert", "board")):
                continue  # the usage example in its docstring
            if words.search(line):
                hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert hits == []
