"""Standard metrics: holdout reconstruction, factor recovery, transects, latent covariance,
probes, Frobenius, the disentanglement metrics MIG, DCI and SAP, decoder reachability,
prior coverage, conditional generation (and over-prompted: hidden capabilities) and Schott et al.'s readout R²."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench.plugin import Metric
from zsbench_plugins.metrics.conditional_generation import ConditionalGeneration
from zsbench_plugins.metrics.dci import DCI
from zsbench_plugins.metrics.factor_recovery import FactorRecovery
from zsbench_plugins.metrics.frobenius import Frobenius
from zsbench_plugins.metrics.holdout_reconstruction import HoldoutReconstruction
from zsbench_plugins.metrics.latent_covariance import LatentCovariance
from zsbench_plugins.metrics.mig import MIG
from zsbench_plugins.metrics.over_prompting import OverPrompting
from zsbench_plugins.metrics.prior_coverage import PriorCoverage
from zsbench_plugins.metrics.probe import Probe
from zsbench_plugins.metrics.reachability import Reachability
from zsbench_plugins.metrics.readout import Readout
from zsbench_plugins.metrics.sap import SAP
from zsbench_plugins.metrics.transect import Transect

__all__ = ["DCI", "ConditionalGeneration", "MIG", "SAP", "FactorRecovery", "Frobenius", "HoldoutReconstruction",
           "LatentCovariance", "OverPrompting", "PriorCoverage", "Probe", "Reachability", "Readout", "Transect"]


@hookimpl
def zsbench_add_metrics() -> list[type[Metric]]:
    """The standard metric classes."""
    return [HoldoutReconstruction, FactorRecovery, Transect, LatentCovariance, Probe, Frobenius,
            MIG, DCI, SAP, Reachability, PriorCoverage, ConditionalGeneration, Readout,
            OverPrompting]
