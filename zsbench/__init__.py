"""zsbench: can a generative model produce what it never saw?"""

from zsbench.errors import ZsbenchError
from zsbench.hookspecs import hookimpl
from zsbench.plugin import Dataset, EvalContext, Metric, Model, Output, Score, Split

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "EvalContext",
    "Metric",
    "Model",
    "Output",
    "Score",
    "Split",
    "ZsbenchError",
    "__version__",
    "hookimpl",
]
