"""The hooks zsbench calls: the plugin author's manual.

A plugin is a module (or any object) with functions named after these hooks and marked
with ``zsbench.hookimpl``. Declare it in your distribution's ``pyproject.toml``::

    [project.entry-points.zsbench]
    mything = "mypkg.plugin"

and zsbench finds it on the next start, exactly as it finds its own standard plugins.
Implement only the hooks you need; every argument is optional to accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import pandas as pd

    from zsbench.jobs import JobResult
    from zsbench.plugin import Dataset, Executor, Metric, Model, Output
    from zsbench.runner import RunInfo

hookspec = pluggy.HookspecMarker("zsbench")
hookimpl = pluggy.HookimplMarker("zsbench")


@hookspec
def zsbench_add_datasets() -> list[type[Dataset]]:
    """Return the dataset classes this plugin contributes.

    Each is a subclass of :class:`zsbench.plugin.Dataset` with a unique ``name``, keyword-only
    constructor parameters (the keys of a suite's ``[dataset]`` table), a ``space``, an
    ``image_shape`` ``(C, H, W)`` and either ``factors`` + ``render`` (procedural data:
    ``render(factors [N, F]) -> uint8 [N, C, H, W]``, or float32 in [0, 1], for *any* point
    of the space) or ``load`` (fixed data with ``renderable = False``). Optionally
    ``recover(images [N, C, H, W] float in [0, 1]) -> Recovery`` (inverse rendering, e.g.
    with :class:`zsbench.recovery.GridRecovery`): the factor-recovery scores need it, and
    measure its factors with ``factor_distance`` (override it where the images show a factor
    only up to a symmetry).
    """


@hookspec
def zsbench_add_models() -> list[type[Model]]:
    """Return the model classes this plugin contributes.

    Each is a subclass of :class:`zsbench.plugin.Model`, of one of two kinds (or both):

    - an **autoencoder**: ``fit(images, *, seed, weights, validation)``, ``encode(images
      [N, C, H, W]) -> [N, D]`` and ``decode([N, D]) -> [N, C, H, W]`` in [0, 1] (optionally
      ``sample``, ``invert``, ``posterior``);
    - a **conditional generator**: ``fit`` also takes the true ``factors [N, F]`` (and,
      when its signature names them, ``space`` and ``monitor``), and ``generate(factors
      [N, F], *, seed) -> [N, C, H, W]`` in [0, 1] draws images for any requested factors,
      seeded by ``seed`` alone, row by row; without ``encode`` the scores of latents are
      n/a for it.

    Both ``save(path)`` and ``load(path)`` (safe loading only). The same seed must give the
    same model. Torch models can reuse :func:`zsbench.training.train` (device choice,
    seeding, progress bar, early stopping, NaN guard; batches of ``(images, factors)`` for
    a conditional generator) and :func:`zsbench.training.rowwise_batched`.
    """


@hookspec
def zsbench_add_metrics() -> list[type[Metric]]:
    """Return the metric classes this plugin contributes.

    ``compute(ctx)`` is a pure function of the :class:`zsbench.plugin.EvalContext` (splits,
    latents, reconstructions, transects) returning ``{name: Score(value, higher_is_better,
    headline)}``. Values must be finite floats; use NaN only where the value is undefined
    (e.g. no hole), never as an error signal: raise instead.
    """


@hookspec
def zsbench_add_outputs() -> list[type[Output]]:
    """Return the output classes this plugin contributes.

    ``write(ctx, directory) -> list[Path]`` writes pictures or tables about one trained
    model into the run folder.
    """


@hookspec
def zsbench_add_executors() -> list[type[Executor]]:
    """Return the executor classes this plugin contributes.

    ``map(jobs, task, on_result)`` runs ``task(job)`` for every job (in this process, in
    worker processes, on a cluster) and calls ``on_result(job, result)`` in the driver as
    each finishes. A worker that dies must become a failed result, not an exception.
    Chosen with ``zsbench run SUITE --executor NAME`` or ``[executor] plugin = "NAME"``;
    its constructor's parameters come from the rest of that table and from the ``zsbench
    run`` options it declares in ``cli_options``, a tuple of
    :class:`zsbench.plugin.ExecutorOption` (flag, parameter, type, help), e.g.
    ``cli_options = (ExecutorOption("--num-gpus", "num_gpus", float, "GPUs per job"),)``.
    ``zsbench run --help`` shows them as "NAME executor options"; executors may share a
    flag only with the same parameter and type.
    """


@hookspec
def zsbench_run_start(run: RunInfo) -> None:
    """Called once before the first job of a run. ``run`` is a
    :class:`zsbench.runner.RunInfo` (suite, run folder, seeds, jobs). Observers only: an
    exception here is reported and does not stop the run."""


@hookspec
def zsbench_result_recorded(run: RunInfo, result: JobResult) -> None:
    """Called after each model x seed job finishes, failed or not. ``result`` is a
    :class:`zsbench.jobs.JobResult` (label, seed, status, scores, error, timings)."""


@hookspec
def zsbench_run_end(run: RunInfo, leaderboard: pd.DataFrame) -> None:
    """Called once after the run folder is written; ``leaderboard`` is a pandas DataFrame
    (one row per model, mean and std of each score over seeds)."""


CONTRIBUTING_HOOKS: dict[str, str] = {
    "dataset": "zsbench_add_datasets",
    "model": "zsbench_add_models",
    "metric": "zsbench_add_metrics",
    "output": "zsbench_add_outputs",
    "executor": "zsbench_add_executors",
}
OBSERVER_HOOKS: tuple[str, ...] = ("zsbench_run_start", "zsbench_result_recorded", "zsbench_run_end")
