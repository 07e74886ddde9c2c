"""The author's own tests: zsbench's conformance kit on every plugin of this distribution.

Run with ``pytest`` in this folder once the package is installed (``pip install -e .``).
"""

from __future__ import annotations

from zsbench.testing import Check, parametrize_with_checks
from zsbench_baselines import NearestFactorsModel, NearestModel, PCAModel, PixelPSNR


@parametrize_with_checks([PCAModel(latent_dim=3), NearestModel(latent_dim=8),
                          NearestFactorsModel(), PixelPSNR()])
def test_conformance(plugin: object, check: Check) -> None:
    check()
