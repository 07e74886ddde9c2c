"""Standard datasets: polar curves (E1, E2), Gaussian and Student-t heatmaps (E3, E4) and
handwritten digits (E5), procedural dSprites (and the original dSprites from a local file),
the original Shapes3D and MPI3D files (read from local copies; nothing is downloaded),
coloured discs (Park et al. 2024) and Gaussian bumps (Liang et al. 2025), contributed through
the same hook as any third-party plugin."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench.plugin import Dataset
from zsbench_plugins.datasets.bumps import BumpsDataset
from zsbench_plugins.datasets.circles import CirclesDataset
from zsbench_plugins.datasets.digits import DigitsDataset, MnistDataset
from zsbench_plugins.datasets.gaussian import GaussianDataset, GaussianTDataset
from zsbench_plugins.datasets.mpi3d import MPI3DDataset
from zsbench_plugins.datasets.polar import PolarDataset
from zsbench_plugins.datasets.shapes3d import Shapes3DDataset
from zsbench_plugins.datasets.sprites import DSpritesDataset, SpritesDataset

__all__ = [
    "BumpsDataset",
    "CirclesDataset",
    "DSpritesDataset",
    "DigitsDataset",
    "GaussianDataset",
    "GaussianTDataset",
    "MPI3DDataset",
    "MnistDataset",
    "PolarDataset",
    "Shapes3DDataset",
    "SpritesDataset",
    "zsbench_add_datasets",
]


@hookimpl
def zsbench_add_datasets() -> list[type[Dataset]]:
    """The standard dataset classes."""
    return [PolarDataset, GaussianDataset, GaussianTDataset, DigitsDataset, MnistDataset,
            SpritesDataset, DSpritesDataset, Shapes3DDataset, MPI3DDataset, CirclesDataset,
            BumpsDataset]
