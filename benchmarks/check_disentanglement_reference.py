"""Compare zsbench's ``mig``, ``dci`` and ``sap`` with the ``disent`` package's implementations
on the same latents and factor labels, and print the differences.

``disent`` (PyPI) pulls a large torch of its own, so it usually lives in a separate virtual
environment; point this script at that environment's interpreter::

    python3 -m venv .venv-disent && .venv-disent/bin/pip install torch==2.13.0 disent
    .venv/bin/python benchmarks/check_disentanglement_reference.py \\
        --reference-python .venv-disent/bin/python

Without ``--reference-python`` it uses ``$ZSBENCH_DISENT_PYTHON``, then
``.venv-disent/bin/python`` beside this repository, then ``disent`` imported in this
interpreter. Both sides get identical arrays; the reference's scikit-learn estimators are
given the same ``random_state`` as zsbench's (the reference leaves it unset, which only
matters for exact ties). Exit status 1 when a difference exceeds ``--tolerance`` (1e-3).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = 0
TOLERANCE = 1e-3

REFERENCE_CODE = r"""
import functools, json, sys
import numpy as np
import sklearn.ensemble, sklearn.svm
sklearn.ensemble.GradientBoostingClassifier = functools.partial(
    sklearn.ensemble.GradientBoostingClassifier, random_state=SEED)
sklearn.svm.LinearSVC = functools.partial(sklearn.svm.LinearSVC, random_state=SEED)
from disent.metrics._dci import _compute_dci
from disent.metrics._mig import _compute_mig
from disent.metrics._sap import _compute_sap
data = np.load(sys.argv[1])
out = {}
for name in json.loads(str(data["names"])):
    zt, yt = data[name + "/z_train"].T, data[name + "/y_train"].T
    ze, ye = data[name + "/z_test"].T, data[name + "/y_test"].T
    vt, ve = data[name + "/v_train"].T, data[name + "/v_test"].T
    dci = _compute_dci(zt, yt, ze, ye)
    out[name] = {
        "mig": float(_compute_mig(zt, yt)["mig.discrete_score"]),
        "dci_disentanglement": float(dci["dci.disentanglement"]),
        "dci_completeness": float(dci["dci.completeness"]),
        "dci_informativeness": float(dci["dci.informativeness_test"]),
        "dci_informativeness_train": float(dci["dci.informativeness_train"]),
        "sap_discrete": float(_compute_sap(zt, yt, ze, ye, False)["sap.score"]),
        "sap_continuous": float(_compute_sap(zt, vt, ze, ve, True)["sap.score"]),
    }
print(json.dumps(out))
""".replace("SEED", str(SEED))


def latent_sets(n_train: int = 1500, n_test: int = 500) -> dict[str, dict[str, np.ndarray]]:
    """Latent sets ``[N, D]`` over sprite factors: the factor values ``v``, their labels
    ``y`` (as zsbench's metrics make them) and latents ``z`` of four kinds: a noisy copy of
    the normalised factors plus two noise dims, a random rotation of it (complete but
    entangled), a partial code (nonlinear copies, a duplicate, a constant), and a random
    nonlinear mixture."""
    from zsbench_plugins.datasets.sprites import SpritesDataset
    from zsbench_plugins.metrics._disentanglement import factor_codes

    ds = SpritesDataset(sampling="uniform", n_samples=n_train + n_test)
    f = ds.factors(seed=SEED)
    space = ds.space
    lo = np.array([fa.bounds[0] for fa in space.factors])
    span = np.array([fa.span for fa in space.factors])
    unit = (f - lo) / span
    rng = np.random.default_rng(SEED)
    noisy = np.concatenate([unit + rng.normal(0, 0.03, unit.shape),
                            rng.normal(0, 1, (len(f), 2))], axis=1)
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    partial = np.stack([np.tanh(3 * (unit[:, 3] - 0.5)), unit[:, 3] ** 2, unit[:, 1],
                        np.sin(f[:, 2]) + rng.normal(0, 0.1, len(f)), np.zeros(len(f)),
                        unit[:, 0] + 0.5 * unit[:, 4]], axis=1)
    w = rng.normal(size=(5, 6))
    mixture = np.tanh(unit @ w) + rng.normal(0, 0.05, (len(f), 6))
    codes = factor_codes(f, space)
    sets = {}
    for name, z in (("noisy_identity", noisy), ("rotated", noisy @ q), ("partial", partial),
                    ("mixture", mixture)):
        sets[name] = {"z_train": z[:n_train], "z_test": z[n_train:],
                      "y_train": codes[:n_train], "y_test": codes[n_train:],
                      "v_train": f[:n_train], "v_test": f[n_train:]}
    return sets


def zsbench_scores(s: dict[str, np.ndarray]) -> dict[str, float]:
    """zsbench's scores of one latent set (the functions behind the metric plugins)."""
    from zsbench_plugins.metrics._disentanglement import top_two_gap
    from zsbench_plugins.metrics.dci import dci_from_importance, importance_matrix
    from zsbench_plugins.metrics.mig import mig_scores
    from zsbench_plugins.metrics.sap import sap_matrix

    imp, acc_tr, acc_te = importance_matrix(s["z_train"], s["y_train"], s["z_test"],
                                            s["y_test"], seed=SEED)
    dis, comp = dci_from_importance(imp)
    n_f = s["y_train"].shape[1]
    sap_d = sap_matrix(s["z_train"], s["y_train"], s["z_test"], s["y_test"],
                       np.zeros(n_f, bool), seed=SEED)
    sap_c = sap_matrix(s["z_train"], s["v_train"], s["z_test"], s["v_test"],
                       np.ones(n_f, bool), seed=SEED)
    return {"mig": mig_scores(s["z_train"], s["y_train"])[0],
            "dci_disentanglement": dis, "dci_completeness": comp,
            "dci_informativeness": float(acc_te.mean()),
            "dci_informativeness_train": float(acc_tr.mean()),
            "sap_discrete": float(top_two_gap(sap_d).mean()),
            "sap_continuous": float(top_two_gap(sap_c).mean())}


def reference_python(given: str | None = None) -> str | None:
    """The interpreter that has ``disent``: the argument, ``$ZSBENCH_DISENT_PYTHON``,
    ``.venv-disent/bin/python`` of this repository, or None (then: this interpreter, if it
    imports ``disent``)."""
    for candidate in (given, os.environ.get("ZSBENCH_DISENT_PYTHON"),
                      str(REPO / ".venv-disent" / "bin" / "python")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def reference_scores(sets: dict[str, dict[str, np.ndarray]],
                     python: str | None = None) -> dict[str, dict[str, float]]:
    """``disent``'s scores of every set, run by ``python`` (or in this interpreter)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sets.npz"
        arrays = {f"{name}/{k}": v for name, s in sets.items() for k, v in s.items()}
        np.savez(path, names=np.array(json.dumps(list(sets))), **arrays)
        exe = python or sys.executable
        done = subprocess.run([exe, "-c", REFERENCE_CODE, str(path)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the reference run failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def compare(python: str | None = None, n_train: int = 1500,
            n_test: int = 500) -> tuple[list[tuple[str, str, float, float]], float]:
    """Rows ``(set, score, zsbench, disent)`` and the largest absolute difference."""
    sets = latent_sets(n_train, n_test)
    ref = reference_scores(sets, python)
    rows = []
    for name, s in sets.items():
        ours = zsbench_scores(s)
        rows += [(name, key, ours[key], ref[name][key]) for key in ours]
    return rows, max(abs(a - b) for _, _, a, b in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", help="interpreter with disent installed")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--n-train", type=int, default=1500, help="training rows per set")
    parser.add_argument("--n-test", type=int, default=500, help="test rows per set")
    args = parser.parse_args(argv)
    python = reference_python(args.reference_python)
    rows, worst = compare(python, args.n_train, args.n_test)
    print(f"{'latent set':<16} {'score':<26} {'zsbench':>10} {'disent':>10} {'|diff|':>9}")
    for name, key, a, b in rows:
        print(f"{name:<16} {key:<26} {a:>10.6f} {b:>10.6f} {abs(a - b):>9.2e}")
    print(f"largest difference {worst:.2e} (tolerance {args.tolerance:g}) over "
          f"{len({r[0] for r in rows})} latent sets")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
