"""What zsbench's 95 % intervals cover, on synthetic data with a known truth: the cells of
``benchmarks/interval_coverage.py`` (which prints the whole table on 1,000 repetitions a
cell) on fewer repetitions, each with a fixed seed, so that no change to the intervals can
quietly break them. Each asserts a coverage band around 95 % (the Monte Carlo standard
error is 1 to 2 points here), and the one-seed regression check's false alarms."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from zsbench import intervals as iv

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "interval_coverage.py"
_SPEC = importlib.util.spec_from_file_location("interval_coverage", _PATH)
cov = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = cov
_SPEC.loader.exec_module(cov)


def _coverage(cell: cov.Cell, reps: int) -> tuple[float, float]:
    return cov.coverage(iv, cell, reps, seed=1)


@pytest.mark.parametrize("n", [5, 16, 20, 100])
def test_a_rate_near_zero_is_covered_and_never_zero_width(n: int) -> None:
    """One seed, a rate of 0.05 on n items: mid-p (a [0, 0] interval covered nothing).
    Exact coverage 0.977 / 0.957 / 0.984 / 0.935. At n = 5 and 20 no interval that is a
    function of the count can hold 0.93 to 0.97: at n = 20 it covers the counts 0 to 2
    (0.925) or 0 to 3 (0.984), at n = 5 the counts 0 to 1 (0.977) or 0 alone (0.774)."""
    coverage, zero = _coverage(cov.rate(0.05, n), 400)
    assert zero == 0.0
    assert 0.91 <= coverage <= 0.995


def _exact_coverage(n: int, p: float) -> float:
    """The exact chance (a binomial sum) that the interval of a rate of n independent
    items holds ``p``."""
    from scipy.stats import binom

    hold = [lo <= p <= hi for lo, hi in (iv.midp_interval(k / n, n) for k in range(n + 1))]
    return float(binom.pmf(np.arange(n + 1), n, p)[np.asarray(hold)].sum())


def test_the_rate_interval_has_no_deep_dip_and_does_not_overcover() -> None:
    """Exact coverage over n = 5..40 (every n) and p from 0.01 to 0.5: never under 0.92
    (Wilson's fell to 0.843 at p = 0.01, n = 17: a count of 1 put its lower bound above
    0.01) and on average 0.968 (where the exact Clopper-Pearson interval averages 0.982:
    at such small n a count of 0 or 1 holds most of the chance at p = 0.01)."""
    grid = [_exact_coverage(n, p) for n in range(5, 41) for p in (0.01, 0.05, 0.1, 0.3, 0.5)]
    assert min(grid) >= 0.92
    assert 0.95 <= float(np.mean(grid)) <= 0.975
    assert _exact_coverage(17, 0.01) >= 0.95


def test_a_rate_of_zero_has_an_interval() -> None:
    lo, hi = iv.interval(iv.Items(iv.MEAN, (np.zeros(20),)), 0)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.05 ** (1 / 20), abs=1e-9)  # 0.1391
    lo, hi = iv.interval(iv.Items(iv.MEAN, (np.ones(20),)), 0)
    assert hi == 1.0 and lo == pytest.approx(0.05 ** (1 / 20), abs=1e-9)
    # draws of one request alike: the effective sample size is the number of requests
    ids = np.repeat(np.arange(5), 4)
    lo, hi = iv.interval(iv.Items(iv.MEAN, (np.zeros(20),), (ids,)), 0)
    assert hi == pytest.approx(iv.midp_interval(0.0, 5)[1])


def test_independent_items_count_as_themselves_and_one_failing_request_is_cautious() -> None:
    x = np.zeros(20)
    x[[2, 7, 11]] = 1.0
    assert iv.interval(iv.Items(iv.MEAN, (x,)), 0) == pytest.approx(iv.midp_interval(0.15, 20))
    # one failure among 4 draws of 64 requests: one failing request cannot show how alike
    # the draws of a request are, so the rate counts as 64 trials, not 256
    ids = np.repeat(np.arange(64), 4)
    y = np.zeros(256)
    y[9] = 1.0
    lo, hi = iv.interval(iv.Items(iv.MEAN, (y,), (ids,)), 0)
    assert hi == pytest.approx(iv.midp_interval(1 / 256, 64)[1])
    assert hi > iv.midp_interval(1 / 256, 256)[1]


def test_a_rare_clustered_rate_is_covered() -> None:
    """Fail rate 0.02, ICC 0.3, 4 draws of 64 requests: a single failure (one request)
    is likelier than independent draws would make it; counted as 256 trials its interval
    covered 0.91, counted as the 64 requests it is cautious (0.99 on 1,000 reps)."""
    coverage, zero = _coverage(cov.clustered_rate(0.02, 0.3), 200)
    assert zero == 0.0 and 0.93 <= coverage <= 1.0


@pytest.mark.parametrize("n", [20, 100])
def test_a_heavy_tail_is_covered(n: int) -> None:
    """One seed, lognormal sigma = 1.5 (skewness about 33): the studentized bootstrap
    widened on the long tail's side by the sample's skewness (0.941 at n = 20, 0.959 at
    100, 0.945 at 500 on 1,000 reps; without the widening 0.866 / 0.914 / 0.933, with the
    percentile bootstrap 0.76 / 0.86 / 0.91)."""
    coverage, _ = _coverage(cov.lognormal(1.5, n), 300)
    assert 0.90 <= coverage <= 0.99


def test_the_skewness_widening_leaves_symmetric_items_alone_and_fades() -> None:
    """Only the long tail's side is widened, only past the skewness that noise gives
    normal items, and by less on more items."""
    rng = np.random.default_rng(0)
    sym = rng.normal(size=20)
    sym = np.concatenate([sym, -sym])  # skewness exactly 0
    assert iv.skew_widened(0.0, -1.0, 1.0, sym) == (-1.0, 1.0)
    x = np.exp(rng.normal(0.0, 1.5, 20))
    lo, hi = iv.skew_widened(1.0, 0.5, 2.0, x)
    assert lo == 0.5 and hi > 2.0  # the upper (long) side only
    # the same values five times over: the same skewness on 5 x the items, a fifth of the
    # widening (a little more past the smaller noise); a 1 / sqrt(n) rule would keep 0.45
    _, hi5 = iv.skew_widened(1.0, 0.5, 2.0, np.tile(x, 5))
    assert 0.0 < hi5 - 2.0 < (hi - 2.0) / 3
    mirrored = iv.skew_widened(-1.0, -2.0, -0.5, -x)
    assert mirrored[0] == pytest.approx(-1.0 - (hi - 1.0)) and mirrored[1] == -0.5


@pytest.mark.parametrize("icc", [0.2, 0.5])
def test_draws_are_resampled_by_request(icc: float) -> None:
    coverage, _ = _coverage(cov.clustered(icc), 300)
    assert 0.90 <= coverage <= 0.99


def test_a_clustered_rate_uses_the_effective_sample_size() -> None:
    coverage, zero = _coverage(cov.clustered_rate(0.1, 0.3), 300)
    assert zero == 0.0 and 0.90 <= coverage <= 0.99


@pytest.mark.parametrize("seeds", [3, 5])
def test_seeds_on_shared_images_share_the_image_resample(seeds: int) -> None:
    cell = cov.seeds_on_shared_images(seeds, 0.5 / math.sqrt(200))
    coverage, _ = _coverage(cell, 150)
    assert 0.90 <= coverage <= 0.99


@pytest.mark.parametrize("seeds", [2, 3])
def test_a_seed_spread_as_large_as_the_items_is_covered(seeds: int) -> None:
    coverage, _ = _coverage(cov.seeds_on_shared_images(seeds, 1.0, n=100), 150)
    assert 0.88 <= coverage <= 0.99


def test_one_seed_covers_its_own_mean_over_images() -> None:
    """What "image noise only" claims: this seed's mean over the images (not the mean
    over training seeds: that one it covers 0.82 of the time when a seed moves the score
    by one SE, which is why the legend says so)."""
    coverage, _ = _coverage(cov.one_seed_own_mean(), 300)
    assert 0.90 <= coverage <= 0.99
    over_seeds, _ = _coverage(cov.one_seed_over_seeds(), 300)
    assert over_seeds < coverage


def test_the_paired_difference_of_fixed_models_covers() -> None:
    coverage, _ = _coverage(cov.paired_fixed_models(), 300)
    assert 0.90 <= coverage <= 0.99


def test_a_one_seed_check_with_a_recorded_spread_does_not_cry_wolf() -> None:
    """A neutral change of training trajectory (another seed, one image SE of spread),
    one seed on each side, on the same images: without a recorded seed spread the check
    calls a regression in about 40 % of trials; with the spread recorded on 3 seeds, at
    most 5 % (about 2.5 %); a clearly worse model is still caught."""
    assert cov.check_flags(60, 1.0, record=False, seed=3) >= 0.2
    assert cov.check_flags(100, 1.0, record=True, seed=3) <= 0.05
    assert cov.check_flags(40, 0.5, record=True, worse=1.5, seed=3) >= 0.9
