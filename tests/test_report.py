"""report.html: written at the end of every run, rebuilt by `zsbench report`, self-contained."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import generative_toys
import pytest
import toy_plugins
from conftest import report_checker
from test_generative import SUITE

from zsbench.cli import main
from zsbench.errors import ZsbenchError
from zsbench.registry import Registry
from zsbench.report import REPORT, write_report
from zsbench.run import run_suite
from zsbench.suite import load_suite

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "suite.toml").write_text(SUITE.replace('[[model]]\nplugin = "linear"\n', ""))
    registry = Registry(extra=[toy_plugins, generative_toys])
    suite = load_suite(root / "suite.toml", registry=registry)
    return run_suite(suite, registry=registry, run_dir=root / "run").run_dir


def _images(text: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', text)


def test_every_run_writes_a_self_contained_report(run_dir: Path) -> None:
    text = (run_dir / REPORT).read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "Leaderboard" in text and "identity" in text and "constant" in text
    for metric in ("reachability", "prior_coverage"):
        assert f'id="metric-{metric.replace("_", "-")}"' in text
    pictures = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob("pictures/**/*.png"))
    srcs = _images(text)
    assert len(srcs) == len(pictures) > 0
    for src in srcs:  # every picture inside the file, as a PNG
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for rel in pictures:
        assert f'alt="{rel}"' in text
    assert "http://" not in text and "https://" not in text  # nothing to fetch


def test_report_subcommand_rebuilds_it_and_can_link(run_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / REPORT).unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / REPORT).is_file() and "wrote" in capsys.readouterr().out
    assert main(["report", str(copy), "--link"]) == 0
    srcs = _images((copy / REPORT).read_text())
    assert srcs and all(s.startswith("pictures/") and (copy / s).is_file() for s in srcs)


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ZsbenchError, match="not a zsbench run folder"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    assert "not a zsbench run folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / REPORT).exists()


_checker = report_checker


@pytest.mark.skipif(_checker().find_chromium() is None, reason="no chromium installed")
def test_report_opens_in_a_headless_browser(run_dir: Path, tmp_path: Path) -> None:
    checker = _checker()
    seen = checker.check_report(run_dir / REPORT, chromium=checker.find_chromium())
    assert seen["images"] == len(list(run_dir.glob("pictures/**/*.png"))) > 0
    assert seen["broken"] == [] and seen["tables"] >= 3
    # the check does see a missing picture
    broken = tmp_path / REPORT
    text = (run_dir / REPORT).read_text()
    broken.write_text(text.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1))
    assert len(checker.check_report(broken, chromium=checker.find_chromium())["broken"]) == 1
    assert checker.main([str(run_dir)]) == 0
