"""Variants of a suite: one run per ``[variants.NAME]``, one leaderboard over all."""
from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, TOY_SUITE

from zsbench.cli import main
from zsbench.errors import SuiteError
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite, tomllib
from zsbench.variants import run_variants, write_variants

VARIANTS = TOY_SUITE + """
[variants.small]
axes = { n = 120, r = 0.1 }
dataset.n_samples = 120
holdout.radius = 0.1

[variants.large]
axes = { n = 200, r = 0.3 }
dataset = { n_samples = 200 }
holdout = { radius = 0.3 }
model.pca2 = { latent_dim = 1 }
"""


def _run(registry: Registry, suite, run_dir: Path, resume: bool = False):  # noqa: ANN001, ANN202
    executor = registry.create("executor", "local", {})
    return run_variants(suite, run_dir, registry=registry, resume=resume,
                        run_one=lambda s, d, again: run_suite(s, registry=registry, run_dir=d,
                                                              resume=again, executor=executor,
                                                              threads=1))


def test_each_variant_is_the_suite_with_its_overlay(toy_registry, write_suite,
                                                    tmp_path: Path) -> None:
    suite = load_suite(write_suite(VARIANTS), registry=toy_registry)
    assert list(suite.variants) == ["small", "large"]
    assert "variants" not in suite.config  # the base run's hash is the suite's own
    written = write_variants(suite, tmp_path / "suites", registry=toy_registry)
    assert [v.name for v in written] == ["small", "large"]
    assert written[1].axes == {"n": 200, "r": 0.3}
    large = load_suite(written[1].path, registry=toy_registry)
    assert large.name == "toy.large" and not large.variants
    assert large.config["dataset"]["n_samples"] == 200
    assert large.holdout is not None
    assert large.config["holdout"][0]["radius"] == 0.3
    labels = {m.label: m.params for m in large.models}
    base = load_suite(write_suite(TOY_SUITE, "base.toml"), registry=toy_registry)
    assert labels["pca2"]["latent_dim"] == 1 and "latent_dim" not in base.models[0].params
    # everything else is the base suite's
    assert large.config["transect"] == base.config["transect"]
    profiles = tomllib.loads(written[1].path.read_text())["profiles"]
    assert profiles == tomllib.loads(TOY_SUITE)["profiles"]


def test_a_profile_applies_on_top_of_each_variant(toy_registry, write_suite,
                                                  tmp_path: Path) -> None:
    suite = load_suite(write_suite(VARIANTS), profile="smoke", registry=toy_registry)
    written = write_variants(suite, tmp_path / "suites", registry=toy_registry)
    large = load_suite(written[1].path, profile="smoke", registry=toy_registry)
    # the smoke profile sets n_samples = 120 after the variant's 200
    assert large.config["dataset"]["n_samples"] == 120
    assert large.config["holdout"][0]["radius"] == 0.3


@pytest.mark.parametrize("table, key, words", [
    ("dataset.n_sample = 5", "variants.bad", "n_sample"),
    ("model.nobody = { latent_dim = 1 }", "variants.bad.model.nobody", "nobody"),
    ("axes = [1, 2]", "variants.bad.axes", "numbers or strings"),
    ("suite.name = 'x'", "variants.bad", "suite"),
    ("holdout.radius = -1.0", "variants.bad", "holdout"),
])
def test_a_bad_variant_names_the_suite_file_and_the_variant(toy_registry, write_suite,
                                                            tmp_path: Path, table: str,
                                                            key: str, words: str) -> None:
    path = write_suite(TOY_SUITE + f"\n[variants.bad]\n{table}\n")
    suite = load_suite(path, registry=toy_registry)
    with pytest.raises(SuiteError) as info:
        write_variants(suite, tmp_path / "suites", registry=toy_registry)
    assert info.value.path == str(path)
    assert info.value.key.startswith(key)
    assert words in str(info.value) and "Fix:" in str(info.value)


def test_unknown_variant_names_are_refused(toy_registry, write_suite, tmp_path: Path) -> None:
    suite = load_suite(write_suite(VARIANTS), registry=toy_registry)
    with pytest.raises(SuiteError, match="small, large"):
        write_variants(suite, tmp_path / "s", registry=toy_registry, only=["medium"])


def test_variants_run_as_ordinary_runs_and_one_leaderboard(toy_registry, write_suite,
                                                           tmp_path: Path) -> None:
    suite = load_suite(write_suite(VARIANTS), profile="smoke", registry=toy_registry)
    out = _run(toy_registry, suite, tmp_path / "run")
    assert out.failed == 0
    board = pd.read_csv(tmp_path / "run" / "variants.csv")
    assert list(board.columns[:4]) == ["variant", "n", "r", "model"]
    assert board["variant"].tolist() == ["small"] * 2 + ["large"] * 2
    for name in ("small", "large"):
        run = tmp_path / "run" / name
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["suite"]["name"] == f"toy.{name}"
        own = pd.read_csv(run / "leaderboard.csv", index_col=0)
        rows = board[board["variant"] == name].set_index("model")
        for label in own.index:
            for column in ("hole_mse", "hole_mse_lo", "hole_mse_hi"):
                a, b = float(own.at[label, column]), float(rows.at[label, column])
                assert a == b or (math.isnan(a) and math.isnan(b))
    # the two variants differ where their overlays do
    assert json.loads((tmp_path / "run" / "small" / "manifest.json").read_text())[
        "splits"] != json.loads((tmp_path / "run" / "large" / "manifest.json").read_text())[
        "splits"]
    index = json.loads((tmp_path / "run" / "variants.json").read_text())
    assert [v["name"] for v in index["variants"]] == ["small", "large"]
    assert "| small" in out.text and "[" in out.text
    assert (tmp_path / "run" / "variants.png").stat().st_size > 1000


def test_resume_keeps_finished_variants(toy_registry, write_suite, tmp_path: Path) -> None:
    suite = load_suite(write_suite(VARIANTS), profile="smoke", registry=toy_registry)
    first = _run(toy_registry, suite, tmp_path / "run")
    again = _run(toy_registry, suite, tmp_path / "run", resume=True)
    assert again.board.equals(first.board)
    manifest = json.loads((tmp_path / "run" / "large" / "manifest.json").read_text())
    assert all(j["resumed"] for j in manifest["jobs"])


SIDE_BY_SIDE = VARIANTS.replace('name = "toy"', 'name = "toy"\nvariants_side_by_side = 2')


def test_variants_side_by_side_run_at_once_and_score_as_in_turn(toy_registry, write_suite,
                                                                 tmp_path: Path) -> None:
    in_turn = _run(toy_registry, load_suite(write_suite(VARIANTS), profile="smoke",
                                            registry=toy_registry), tmp_path / "a")
    suite = load_suite(write_suite(SIDE_BY_SIDE, "side.toml"), profile="smoke",
                       registry=toy_registry)
    assert suite.variants_side_by_side == 2
    meet = threading.Barrier(2, timeout=30)  # broken unless both variants run at once
    executor = toy_registry.create("executor", "local", {})

    def one(variant, folder: Path, again: bool):  # noqa: ANN001, ANN202
        meet.wait()
        return run_suite(variant, registry=toy_registry, run_dir=folder, resume=again,
                         executor=executor, threads=1)

    out = run_variants(suite, tmp_path / "b", registry=toy_registry, run_one=one)
    assert out.failed == 0 and not meet.broken
    assert out.board.equals(in_turn.board)  # the same numbers, bit for bit
    index = json.loads((tmp_path / "b" / "variants.json").read_text())
    assert [v["name"] for v in index["variants"]] == ["small", "large"]  # the suite's order


def test_a_variant_that_raises_beside_others_is_raised_after_they_finish(
        toy_registry, write_suite, tmp_path: Path) -> None:
    suite = load_suite(write_suite(SIDE_BY_SIDE), profile="smoke", registry=toy_registry)
    executor = toy_registry.create("executor", "local", {})
    meet = threading.Barrier(2, timeout=30)

    def one(variant, folder: Path, again: bool):  # noqa: ANN001, ANN202
        meet.wait()  # both started before the first raises
        if variant.name.endswith("small"):
            raise SuiteError(str(variant.path), "dataset", "broken on purpose.", "none.")
        return run_suite(variant, registry=toy_registry, run_dir=folder, resume=again,
                         executor=executor, threads=1)

    with pytest.raises(SuiteError, match="broken on purpose"):
        run_variants(suite, tmp_path / "run", registry=toy_registry, run_one=one)
    manifest = json.loads((tmp_path / "run" / "large" / "manifest.json").read_text())
    assert manifest["state"] == "finished"  # the variant beside it ran to its end


@pytest.mark.parametrize("value, words", [("0", "1 or more"), ("'2'", "expected")])
def test_variants_side_by_side_must_be_a_positive_integer(toy_registry, write_suite,
                                                          value: str, words: str) -> None:
    text = VARIANTS.replace('name = "toy"', f'name = "toy"\nvariants_side_by_side = {value}')
    with pytest.raises(SuiteError) as info:
        load_suite(write_suite(text), registry=toy_registry)
    assert info.value.key == "suite.variants_side_by_side" and words in str(info.value)


def test_bumps_scaling_variants_follow_the_papers_grid(tmp_path: Path) -> None:
    """Liang et al.'s scaling study: N in 24..40, K = floor(p N), the centred square held
    out; the dataset draws their counts for that square (exact counts:
    tests/test_baseline_generators.py)."""
    registry = Registry()
    suite = load_suite(REPO / "suites" / "bumps_scaling.toml", profile="smoke",
                       registry=registry)
    assert len(suite.variants) == 25
    written = write_variants(suite, tmp_path, registry=registry, only=["N24_p20", "N40_p60"])
    for variant in written:
        n, p = variant.axes["N"], variant.axes["p"]
        k = math.floor(p * n)
        v = load_suite(variant.path, registry=registry)  # no profile: the faithful sizes
        box = v.config["holdout"][0]
        assert box["low"]["x"] == n / 2 - k / 2 and box["high"]["x"] == n / 2 + k / 2
        assert v.config["dataset"]["image_size"] == n
        assert v.models[0].params["code_width"] == n + 1  # units on 0 .. N, spacing 1
        assert v.config["dataset"]["sampling"] == "liang_scaling"
        assert v.config["dataset"]["holdout_side"] == k


def test_cli_runs_and_validates_every_variant(write_suite, tmp_path: Path, capsys,
                                              monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite(VARIANTS)
    assert main(["validate", str(path), "--profile", "smoke"]) == 0
    assert "2 variant(s)" in capsys.readouterr().out
    run_dir = tmp_path / "cli-run"
    assert main(["run", str(path), "--profile", "smoke", "--executor", "local",
                 "--variant", "large", "--out", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert "| large" in printed and "| small" not in printed
    assert (run_dir / "large" / "manifest.json").is_file()
    assert not (run_dir / "small").exists()
    assert main(["run", str(path), "--variant", "nope", "--out", str(tmp_path / "x")]) == 2


def test_a_bumps_scaling_variant_runs_and_its_parent_folder_says_what_it_is(
        tmp_path: Path) -> None:
    from zsbench.errors import ZsbenchError
    from zsbench.results import load_results

    registry = Registry()
    suite = load_suite(REPO / "suites" / "bumps_scaling.toml", profile="smoke",
                       registry=registry)
    executor = registry.create("executor", "local", {})
    out = run_variants(suite, tmp_path / "run", registry=registry, only=["N24_p20"],
                       run_one=lambda s, d, again: run_suite(s, registry=registry, run_dir=d,
                                                             resume=again, executor=executor,
                                                             threads=1))
    row = out.board.iloc[0]
    assert (row["variant"], row["N"], row["p"], row["model"]) == ("N24_p20", 24, 0.2, "decoder")
    assert 0.0 <= row["hole_gen_fail_rate"] <= 1.0 and row["hole_gen_mse"] > 0.0
    with pytest.raises(ZsbenchError, match="a folder of variant runs.*N24_p20"):
        load_results(tmp_path / "run")


def test_the_pytest_plugin_refuses_a_suite_with_variants(toy_registry, write_suite,
                                                        tmp_path: Path) -> None:
    from types import SimpleNamespace

    from zsbench.errors import ZsbenchError
    from zsbench.pytest_plugin import _Runs

    config = SimpleNamespace(rootpath=tmp_path, getini=lambda name: "",
                             getoption=lambda name, default=None: default)
    runs = _Runs(config,  # type: ignore[arg-type]
                 root=lambda: tmp_path / "runs", registry=lambda: toy_registry)
    with pytest.raises(ZsbenchError, match=r"\[variants\] \(small, large\).*RUN/suites"):
        runs.run(write_suite(VARIANTS), profile="smoke")


def test_the_variants_report_shows_the_table_the_picture_and_links(
        toy_registry, write_suite, tmp_path: Path, monkeypatch) -> None:
    suite = load_suite(write_suite(VARIANTS), profile="smoke", registry=toy_registry)
    _run(toy_registry, suite, tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text()
    assert "data:image/png;base64," in page  # variants.png, embedded
    assert 'href="small/report.html"' in page and 'href="large/report.html"' in page
    assert page.count("<tr>") == 1 + 4  # the header and a row per variant x model
    (tmp_path / "run" / "report.html").unlink()
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").read_text() == page
