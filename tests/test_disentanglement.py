"""Tests of the disentanglement metrics ``mig``, ``dci`` and ``sap``: oracles (an identity
code scores high; constant, shuffled and duplicated codes low), estimator details, the
conformance kit, and agreement with the ``disent`` package when an interpreter with it is
at hand (skipped otherwise)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Split
from zsbench.testing import check_metric
from zsbench_plugins.datasets.sprites import SpritesDataset
from zsbench_plugins.metrics import DCI, MIG, SAP
from zsbench_plugins.metrics._disentanglement import (
    factor_codes,
    histogram_discretize,
    top_two_gap,
)

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST = 1200, 400


def _context(kind: str, seed: int = 0) -> EvalContext:
    """Sprite factors (uniform) with latents of ``kind``: "identity" (the normalised
    factors plus small noise), "constant", "shuffled" (identity rows permuted, so latents
    and factors are independent), "duplicated" (every factor copied into two latents),
    "scaled" (identity times 1000 plus 5)."""
    ds = SpritesDataset(sampling="uniform", n_samples=N_TRAIN + N_TEST)
    f = ds.factors(seed=seed)
    lo = np.array([x.bounds[0] for x in ds.space.factors])
    unit = (f - lo) / np.array([x.span for x in ds.space.factors])
    rng = np.random.default_rng(seed + 1)
    z = unit + rng.normal(0, 0.01, unit.shape)
    if kind == "constant":
        z = np.zeros_like(z)
    elif kind == "shuffled":
        z = z[rng.permutation(len(z))]
    elif kind == "duplicated":
        z = np.concatenate([z, z + rng.normal(0, 0.01, z.shape)], axis=1)
    elif kind == "scaled":
        z = 1000.0 * z + 5.0
    splits = {"train": Split(factors=f[:N_TRAIN], images=np.zeros((N_TRAIN, 0, 0, 0))),
              "test": Split(factors=f[N_TRAIN:], images=np.zeros((N_TEST, 0, 0, 0)))}
    latents = {"train": z[:N_TRAIN], "test": z[N_TRAIN:]}
    return EvalContext(dataset=ds, space=ds.space, model=None, label=kind, seed=0,  # type: ignore[arg-type]
                       splits=splits, latents=latents, reconstructions={})


def _values(metric, kind: str) -> dict[str, float]:  # noqa: ANN001
    return {k: s.value for k, s in metric.compute(_context(kind)).items()}


FAST_DCI = {"n_estimators": 10, "max_train": 500, "max_test": 200}


def test_mig_oracles() -> None:
    m = MIG()
    ident = _values(m, "identity")
    assert ident["mig"] > 0.5
    assert all(ident[f"mig_{n}"] > 0.3 for n in ("shape", "scale", "x", "y"))
    assert _values(m, "constant")["mig"] == 0.0
    assert _values(m, "shuffled")["mig"] < 0.05
    assert _values(m, "duplicated")["mig"] < 0.2  # two latents per factor: no gap
    assert _values(m, "scaled")["mig"] == pytest.approx(ident["mig"], abs=1e-12)
    assert m.compute(_context("identity"))["mig"].higher_is_better


def test_dci_oracles() -> None:
    m = DCI(**FAST_DCI)
    ident = _values(m, "identity")
    assert ident["dci_disentanglement"] > 0.8 and ident["dci_completeness"] > 0.8
    assert ident["dci_informativeness"] > 0.6
    const = _values(m, "constant")
    assert const["dci_disentanglement"] == pytest.approx(0.0, abs=1e-6)
    assert const["dci_completeness"] == pytest.approx(0.0, abs=1e-6)
    shuffled = _values(m, "shuffled")
    assert shuffled["dci_informativeness"] < 0.25
    assert shuffled["dci_disentanglement"] < 0.3 and shuffled["dci_completeness"] < 0.3
    dup = _values(m, "duplicated")
    assert dup["dci_completeness"] < ident["dci_completeness"] - 0.1
    scaled = _values(m, "scaled")
    assert scaled["dci_disentanglement"] == pytest.approx(ident["dci_disentanglement"],
                                                          abs=1e-6)


@pytest.mark.parametrize("mode", ["auto", "continuous", "discrete"])
def test_sap_oracles(mode: str) -> None:
    m = SAP(mode=mode)
    ident = _values(m, "identity")
    # one-latent linear SVMs on 20 label bins score low even for a perfect code (the
    # reference's published dSprites SAP values are small too)
    assert ident["sap"] > (0.1 if mode == "discrete" else 0.3)
    assert _values(m, "constant")["sap"] == 0.0
    shuffled = _values(m, "shuffled")["sap"]
    assert shuffled < 0.1 and shuffled < ident["sap"] - 0.05
    assert _values(m, "duplicated")["sap"] < 0.1
    if mode == "continuous":  # the SVM's C = 0.01 penalty is not scale-free (as in the reference)
        assert _values(m, "scaled")["sap"] == pytest.approx(ident["sap"], abs=1e-9)


def test_sap_auto_scores_discrete_factors_by_accuracy() -> None:
    ctx = _context("identity")
    auto = {k: s.value for k, s in SAP(mode="auto").compute(ctx).items()}
    cont = {k: s.value for k, s in SAP(mode="continuous").compute(ctx).items()}
    # x is continuous: the same squared correlation either way; shape is discrete
    assert auto["sap_x"] == pytest.approx(cont["sap_x"])
    assert auto["sap_shape"] != pytest.approx(cont["sap_shape"])


def test_histogram_discretize_matches_the_reference_rule() -> None:
    x = np.array([[0.0], [0.5], [1.0], [0.26], [0.99]])
    codes = histogram_discretize(x, 4)[:, 0]
    assert codes.tolist() == [1, 3, 4, 2, 4]  # np.digitize on the left edges
    assert (histogram_discretize(np.ones((5, 1)), 20) == histogram_discretize(
        np.ones((5, 1)), 20)[0]).all()


def test_factor_codes_keep_few_values_and_bin_the_rest() -> None:
    f = np.column_stack([np.repeat([0.0, 1.0, 2.0], 40), np.linspace(0, 1, 120)])
    codes = factor_codes(f)
    assert set(codes[:, 0]) == {0, 1, 2}
    assert codes[:, 1].min() == 1 and codes[:, 1].max() == 20
    assert np.all(np.diff(codes[:, 1]) >= 0)


def test_top_two_gap() -> None:
    assert top_two_gap(np.array([[0.1, 0.9], [0.7, 0.2], [0.3, 0.0]])).tolist() == \
        pytest.approx([0.4, 0.7])
    assert top_two_gap(np.array([[0.3, 0.8]])).tolist() == pytest.approx([0.3, 0.8])


def test_single_latent_and_single_valued_factor() -> None:
    ctx = _context("identity")
    for split in ctx.splits.values():
        split.factors[:, 1] = 0.75  # scale never varies
    ctx.latents = {k: v[:, 3:4] for k, v in ctx.latents.items()}  # only x
    mig = {k: s.value for k, s in MIG().compute(ctx).items()}
    assert math.isnan(mig["mig_scale"]) and mig["mig_x"] > 0.5
    assert math.isfinite(mig["mig"])
    dci = {k: s.value for k, s in DCI(**FAST_DCI).compute(ctx).items()}
    assert dci["dci_completeness"] == pytest.approx(1.0)
    assert all(math.isfinite(v) for v in dci.values())
    sap = {k: s.value for k, s in SAP().compute(ctx).items()}
    assert sap["sap_x"] > 0.9


def test_subsampling_is_seeded() -> None:
    ctx = _context("identity")
    a = MIG(max_points=300, seed=1).compute(ctx)["mig"].value
    b = MIG(max_points=300, seed=1).compute(ctx)["mig"].value
    c = MIG(max_points=300, seed=2).compute(ctx)["mig"].value
    assert a == b and a != c


def test_clear_errors() -> None:
    with pytest.raises(DataError, match='split "hole"'):
        MIG(split="hole").compute(_context("identity"))
    with pytest.raises(PluginParameterError, match="num_bins"):
        MIG(num_bins=1)
    with pytest.raises(PluginParameterError, match="mode"):
        SAP(mode="both")  # type: ignore[arg-type]
    with pytest.raises(PluginParameterError, match="max_train"):
        DCI(max_train=0)


@pytest.mark.parametrize("check", [c for m in (MIG(), DCI(**FAST_DCI), SAP())
                                   for c in check_metric(m)], ids=lambda c: c.name)
def test_conformance(check) -> None:  # noqa: ANN001
    check()


def _reference_module():  # noqa: ANN202
    path = REPO / "benchmarks" / "check_disentanglement_reference.py"
    spec = importlib.util.spec_from_file_location("check_disentanglement_reference", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.slow
def test_agrees_with_disent_to_1e_3() -> None:
    """Runs when ``disent`` imports in this interpreter; skipped otherwise. (It usually
    lives in a separate environment: benchmarks/check_disentanglement_reference.py runs the
    same comparison against any interpreter that has it.)"""
    if importlib.util.find_spec("disent") is None:
        pytest.skip("disent is not installed here (see "
                    "benchmarks/check_disentanglement_reference.py)")
    ref = _reference_module()
    rows, worst = ref.compare(sys.executable, n_train=300, n_test=100)
    assert len({r[0] for r in rows}) >= 3
    assert worst <= 1e-3, [r for r in rows if abs(r[2] - r[3]) > 1e-3]
