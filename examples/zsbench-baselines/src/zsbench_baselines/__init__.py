"""zsbench-baselines: honest non-neural baselines for zsbench, as a third-party plugin.

Installed, it contributes the models ``pca``, ``nearest`` and ``nearest_factors`` (a
conditional generator that copies the training image nearest to the requested factors), the metric ``pixel_psnr`` and
a JSON-lines run log, all found by zsbench through the ``zsbench`` entry-point group.
"""

from zsbench_baselines.nearest import NearestModel
from zsbench_baselines.nearest_factors import NearestFactorsModel
from zsbench_baselines.pca import PCAModel
from zsbench_baselines.psnr import PixelPSNR

__version__ = "0.1.0"

__all__ = ["NearestFactorsModel", "NearestModel", "PCAModel", "PixelPSNR", "__version__"]
