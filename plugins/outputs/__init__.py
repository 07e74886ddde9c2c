"""Standard outputs: pictures written into the run folder for each trained model."""

from __future__ import annotations

from zsbench_plugins.outputs.concept_paths import ConceptPaths
from zsbench_plugins.outputs.conditional_depth import ConditionalDepth
from zsbench_plugins.outputs.conditional_scatter import ConditionalScatter
from zsbench_plugins.outputs.conditional_strips import ConditionalStrips
from zsbench_plugins.outputs.coverage_map import CoverageMap
from zsbench_plugins.outputs.emergence import Emergence
from zsbench_plugins.outputs.error_map import ErrorMap
from zsbench_plugins.outputs.latent_scatter import LatentScatter
from zsbench_plugins.outputs.reachable_strips import ReachableStrips
from zsbench_plugins.outputs.trajectory import Trajectory
from zsbench_plugins.outputs.transect_strips import TransectStrips
from zsbench_plugins.outputs.traversal import Traversal

from zsbench import hookimpl
from zsbench.plugin import Output

__all__ = ["ConceptPaths", "ConditionalDepth", "ConditionalScatter", "ConditionalStrips", "CoverageMap", "Emergence", "ErrorMap",
           "LatentScatter", "ReachableStrips", "Trajectory", "TransectStrips", "Traversal"]


@hookimpl
def zsbench_add_outputs() -> list[type[Output]]:
    """The standard outputs: transect strips, latent scatter, error map, trajectory, traversal,
    reachable strips, coverage map; for conditional generators: conditional strips,
    conditional scatter (with the per-draw table), conditional depth, the emergence
    curve and the concept-space paths."""
    return [TransectStrips, LatentScatter, ErrorMap, Trajectory, Traversal, ReachableStrips,
            CoverageMap, ConditionalStrips, ConditionalScatter, ConditionalDepth, Emergence,
            ConceptPaths]
