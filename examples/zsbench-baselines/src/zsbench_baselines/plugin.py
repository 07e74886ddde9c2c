"""The plugin module named by the ``baselines`` entry point: contributes the classes."""

from __future__ import annotations

from zsbench import Metric, Model, hookimpl
from zsbench_baselines.nearest import NearestModel
from zsbench_baselines.nearest_factors import NearestFactorsModel
from zsbench_baselines.pca import PCAModel
from zsbench_baselines.psnr import PixelPSNR


@hookimpl
def zsbench_add_models() -> list[type[Model]]:
    """The baseline models: ``pca``, ``nearest`` and ``nearest_factors``."""
    return [PCAModel, NearestModel, NearestFactorsModel]


@hookimpl
def zsbench_add_metrics() -> list[type[Metric]]:
    """The ``pixel_psnr`` metric."""
    return [PixelPSNR]
