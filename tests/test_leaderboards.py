"""The standard suites' leaderboards and default tolerances: what they must catch."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from zsbench.cache import Cache
from zsbench.compare import compare, load_summary, summarize_run, write_baseline
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite
from zsbench.testing import make_eval_context
from zsbench_plugins.metrics import LatentCovariance

REPO = Path(__file__).resolve().parents[1]
SUITES = sorted((REPO / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_leaderboard_columns_are_scores_and_show_collapse(path: Path) -> None:
    """Every standard suite's leaderboard names scores its metrics give, leaves out the
    scale-arbitrary covariance, and shows latent collapse (active units) where a metric
    computes it."""
    suite = load_suite(path, registry=Registry())
    columns = suite.leaderboard.get("columns", [])
    assert "mean_abs_offdiag_cov" not in columns
    assert "hole_bce" not in columns and "test_bce" not in columns  # raw BCE counts ink
    if any(m.plugin == "latent_covariance" for m in suite.metrics):
        assert "active_units" in columns
    if suite.holdout is not None:
        # the hole against its control: the rim (or, where there is none, the test split)
        assert any(re.fullmatch(r"hole_(rim|test)_\w*ratio", c) for c in columns), columns


@pytest.mark.slow
def test_default_tolerances_catch_a_dimmed_decoder(tmp_path: Path, monkeypatch) -> None:
    """A decoder that dims every image by 20 % is a regression of every model of the
    polar_hole smoke suite under the suite's (default) tolerances."""
    import zsbench_plugins.models.base as base

    registry = Registry()
    suite = load_suite(REPO / "suites" / "polar_hole.toml", profile="smoke", registry=registry)
    suite.outputs = []  # scores only (zsbench run --no-outputs)
    cache = Cache(tmp_path / "cache")

    def run(name: str) -> Path:
        # in this process: the patched decoder must be the one that runs
        return run_suite(suite, registry=registry, run_dir=tmp_path / name, cache=cache,
                         executor=registry.create("executor", "local", {})).run_dir

    good = run("good")
    decode = base.TorchModel.decode
    monkeypatch.setattr(base.TorchModel, "decode",
                        lambda self, latents: np.float32(0.8) * decode(self, latents))
    dimmed = run("dimmed")
    result = compare(summarize_run(good), summarize_run(dimmed))
    caught = {r.model for r in result.regressions}
    assert caught == {m.label for m in suite.models}
    # the brightest pixel always shows dimming; the smoke models are blurred and over-ink,
    # so dimming brings their total ink and BCE closer: those must not be the only guard
    assert {r.model for r in result.regressions if r.score == "test_peak_err"} == caught
    # with the seed spread recorded on 3 seeds (benchmarks/make_baselines.sh
    # --seed-spread), a one-seed check allows for another training trajectory; the dimmed
    # decoder trained the same models (the same final loss), so no seed allowance hides it
    monkeypatch.setattr(base.TorchModel, "decode", decode)
    suite.seeds = [0, 1, 2]
    shutil.copytree(good, tmp_path / "seeds")
    spread = run_suite(suite, registry=registry, run_dir=tmp_path / "seeds", resume=True,
                       cache=cache, executor=registry.create("executor", "local", {})).run_dir
    write_baseline(good, tmp_path / "base.json", seed_spread=spread)
    baseline = load_summary(tmp_path / "base.json")
    assert all(sc.seed_sd_seeds == 3 for m in baseline.models.values()
               for sc in m.scores.values() if sc.seed_sd is not None)
    assert any(sc.seed_sd for m in baseline.models.values() for sc in m.scores.values())
    recorded = compare(baseline, summarize_run(dimmed))
    assert all(r.same_training for r in recorded.rows if r.rule == "paired")
    assert {r.model for r in recorded.regressions} == caught


def test_active_units_count_collapse_whatever_the_scale() -> None:
    ctx = make_eval_context(latent_dim=3)
    healthy = LatentCovariance().compute(ctx)
    assert healthy["active_units"].value == 3 and healthy["active_units"].headline
    # scaling every latent by 150 (an autoencoder's arbitrary scale) changes nothing
    for s in ctx.latents:
        ctx.latents[s] = ctx.latents[s] * 150.0
    assert LatentCovariance().compute(ctx)["active_units"].value == 3
    # two collapsed dimensions (std 0.02 against about 1): one active unit
    z = ctx.latents["train"] / 150.0
    z[:, 1:] = 0.02 * np.random.default_rng(0).standard_normal((len(z), 2))
    ctx.latents["train"] = z
    collapsed = LatentCovariance().compute(ctx)
    assert collapsed["active_units"].value == 1
    # a constant model: no active unit
    ctx.latents["train"] = np.ones_like(z)
    assert LatentCovariance().compute(ctx)["active_units"].value == 0


def test_kl_per_dimension_shows_collapsed_dimensions() -> None:
    ctx = make_eval_context(latent_dim=3)
    n = len(ctx.splits["train"])
    mean = np.zeros((n, 3))
    mean[:, 0] = np.random.default_rng(0).standard_normal(n) * 2.0
    logvar = np.zeros((n, 3))
    logvar[:, 0] = -4.0

    class Posterior:
        def posterior(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return mean[:len(images)], logvar[:len(images)]

    ctx.model = Posterior()
    scores = LatentCovariance().compute(ctx)
    assert scores["kl_dim_1"].value > 1.0
    assert scores["kl_dim_2"].value == pytest.approx(0.0, abs=1e-12)
    assert scores["kl_dim_3"].value == pytest.approx(0.0, abs=1e-12)
    assert scores["kl_total"].value == pytest.approx(scores["kl_dim_1"].value)


@pytest.mark.parametrize("sigma", [None, 0.1])
def test_vae_posterior_feeds_the_kl_per_dimension(sigma: float | None) -> None:
    from zsbench.testing import DEFAULT_IMAGE_SHAPE, make_blob_images
    from zsbench_plugins.models import VAE

    x = make_blob_images(32, DEFAULT_IMAGE_SHAPE)
    model = VAE(latent_dim=2, epochs=1, progress=False, device="cpu",
                fixed_sigma=sigma).fit(x, seed=0)
    mean, logvar = model.posterior(x)
    assert mean.shape == logvar.shape == (32, 2)
    np.testing.assert_allclose(mean, model.encode(x), rtol=1e-5, atol=1e-6)
    if sigma is not None:
        np.testing.assert_allclose(logvar, 2.0 * np.log(sigma), rtol=1e-6)
    ctx = make_eval_context()
    ctx.model = model
    ctx.splits = {**ctx.splits}
    ctx.splits["train"] = type(ctx.splits["train"])(factors=np.zeros((32, 2)), images=x)
    ctx.latents = {**ctx.latents, "train": mean}
    scores = LatentCovariance().compute(ctx)
    assert {"kl_total", "kl_dim_1", "kl_dim_2"} <= set(scores)
    assert scores["kl_dim_1"].value >= scores["kl_dim_2"].value >= 0.0


# -- the terminal leaderboard ------------------------------------------------------------
def test_polar_hole_leaderboard_fits_a_120_column_terminal(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    """The default polar_hole leaderboard (its columns, made-up results: no training)
    printed with COLUMNS=120: no line over 120 characters, compact cells, the collapsed
    vae's valid share beside its valid-only errors; --wide prints the full table, and
    leaderboard.md keeps every column."""
    from fake_runs import polar_hole_results, write_fake_run

    from zsbench.cli import main

    run_dir = write_fake_run(tmp_path / "run", polar_hole_results())
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["leaderboard", str(run_dir)]) == 0
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 120
    vae = next(line for line in lines if line.startswith("vae "))
    assert re.search(r"\b0\.04\d±0\.00\d+ v2%", vae), vae  # hole_factor_err, 2 % valid
    assert not any("v2%" in line for line in lines if line.startswith(("ae ", "vae-")))
    assert any(line.startswith("columns: ") or line.startswith("not shown") for line in lines)
    assert main(["leaderboard", str(run_dir), "--wide"]) == 0
    wide = capsys.readouterr().out
    assert max(len(line) for line in wide.splitlines()) > 120
    assert "(2 % valid)" in wide and "hole_rim_factor_err_ratio → 1" in wide
    md = (run_dir / "leaderboard.md").read_text()
    assert all(c in md for c in ("active_units", "mean_abs_corr", "test_peak_err"))
    monkeypatch.setenv("COLUMNS", "60")  # narrower: columns left out, with a note
    assert main(["leaderboard", str(run_dir)]) == 0
    narrow = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in narrow) <= 60
    assert any(line.startswith("not shown at width 60") for line in narrow)
    assert any("hole_factor_err" in line or "hole_" in line for line in narrow[:2])
