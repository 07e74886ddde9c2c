"""Standard outputs: pictures written into the run folder for each trained model."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench.plugin import Output
from zsbench_plugins.outputs.coverage_map import CoverageMap
from zsbench_plugins.outputs.error_map import ErrorMap
from zsbench_plugins.outputs.latent_scatter import LatentScatter
from zsbench_plugins.outputs.reachable_strips import ReachableStrips
from zsbench_plugins.outputs.trajectory import Trajectory
from zsbench_plugins.outputs.transect_strips import TransectStrips
from zsbench_plugins.outputs.traversal import Traversal

__all__ = ["CoverageMap", "ErrorMap", "LatentScatter", "ReachableStrips", "Trajectory",
           "TransectStrips", "Traversal"]


@hookimpl
def zsbench_add_outputs() -> list[type[Output]]:
    """The standard outputs: transect strips, latent scatter, error map, trajectory, traversal,
    reachable strips, coverage map."""
    return [TransectStrips, LatentScatter, ErrorMap, Trajectory, Traversal, ReachableStrips,
            CoverageMap]
