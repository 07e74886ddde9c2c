"""The conformance kit: checks that a plugin keeps zsbench's contracts.

Run it in your own tests, in the spirit of scikit-learn's ``parametrize_with_checks``::

    from zsbench.testing import parametrize_with_checks
    from mypkg.models import MyModel

    @parametrize_with_checks([MyModel(epochs=1)])
    def test_conformance(plugin, check):
        check()

Each (plugin, check) pair is its own test, with an id such as ``mymodel-check_encode_shape``.
A failing check raises :class:`ConformanceError` whose message names the plugin, the check
and what was expected. A check the plugin is known to fail can be marked as an expected
failure: ``parametrize_with_checks([...], expected_failures={"mymodel":
{"check_seeds_give_different_models": "why"}})`` (a strict xfail: it must fail).

Every check is also a module-level function taking the plugin (an instance, a class or a
factory), e.g. ``check_encode_deterministic(MyModel(epochs=1))``; they live in
``zsbench.testing.common``, ``.models``, ``.capabilities``, ``.generators``,
``.datasets``, ``.metrics``, ``.outputs`` and ``.executors``, each with a tuple of its
kind's checks in order (``MODEL_CHECKS``, ``SAMPLE_CHECKS``, ...).

What is checked, by kind (each check's failure message says what was expected):

- every kind: a ``name`` and a one-line summary; keyword-only, annotated constructor
  parameters (inherited ones included) stored unchanged;
- models (fitted on a tiny dataset of blobs, ``[32, 1, 16, 16]`` by default): ``fit``
  returns ``self``; ``encode -> [N, D]`` and deterministic; ``decode`` and ``reconstruct``
  shapes and range [0, 1]; batch consistency; inputs left unmodified; the same seed gives
  the same model whatever the global random state, and two seeds give two models;
  ``fit`` leaves the global random state (random, numpy, torch) unchanged;
  ``progress=False`` prints nothing; ``weights`` and ``validation`` accepted;
  ``save -> load`` gives identical outputs; a clear error on a wrong input shape;
  ``training_summary`` is JSON;
- the optional capabilities a model with ``encode`` offers (``.capabilities``, each on a
  copy of the fit): ``sample`` gives images of the right shape in [0, 1], the same seed the
  same images whatever the global random state, two seeds different ones, and leaves the
  global random state and the model alone; ``invert`` gives finite latents ``[N, D]``,
  deterministically, leaves the model, its images and the global random state alone, and
  never reconstructs an image worse (per-image BCE) than the encoder's mean;
  ``posterior`` gives ``(mean, log_variance)`` ``[N, D]`` with finite positive variances,
  its mean equal to ``encode``'s, deterministically;
- conditional generators (models that offer ``generate``; fitted with the blobs' true
  factors): images of the right shape in [0, 1]; the same seed gives the same images, two
  seeds (and a request repeated in several rows) give different draws of a stochastic
  model; different requests give different images (the same image, for a baseline that
  declares ``follows_request = False``); a row does not depend on the other rows;
  save -> load gives the same draws; a clear error for a malformed request. A model
  without ``encode`` is not given the encoder checks;
- datasets: the latent space (factor names, bounds); ``image_shape``; ``load`` shapes,
  dtypes and determinism; and for renderable datasets ``render`` shape, dtype,
  determinism, any point of the space (corners, centre, random points), errors for points
  outside it; weightings positive and finite;
- metrics (on synthetic evaluation contexts, see :func:`make_eval_context`): named
  :class:`~zsbench.plugin.Score` values with a bool direction, finite where the hole
  exists, NaN (not an error) without one; deterministic; the context left unmodified;
  the oracle: a perfect reconstruction never scores worse than a degraded one;
- outputs: ``write`` returns the non-empty files it wrote inside the folder, with and
  without a hole;
- executors: every job runs once and its own result comes back in the driver; a failed
  result stays failed; no jobs, no calls.

Checks run on CPU in seconds; pass constructor parameters that keep training short (one
epoch) in the instances you hand to the kit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from zsbench.plugin import Configurable, Dataset, Executor, Metric, Model, Output
from zsbench.testing._base import Check, ConformanceError, PluginLike, conformance_check
from zsbench.testing.capabilities import (
    INVERT_CHECKS,
    POSTERIOR_CHECKS,
    SAMPLE_CHECKS,
    check_invert_deterministic,
    check_invert_leaves_state_unchanged,
    check_invert_not_worse_than_encode,
    check_invert_shape,
    check_posterior_deterministic,
    check_posterior_mean_equals_encode,
    check_posterior_shape_and_variance,
    check_sample_leaves_state_unchanged,
    check_sample_same_seed_same_images,
    check_sample_seeds_differ,
    check_sample_shape_and_range,
)
from zsbench.testing.common import (
    check_keyword_only_parameters,
    check_name_and_summary,
    check_params_stored,
)
from zsbench.testing.parameters import check_parameter_constraints
from zsbench.testing.data import (
    DEFAULT_IMAGE_SHAPE,
    DEFAULT_N_IMAGES,
    BlobsDataset,
    make_blob_images,
    make_eval_context,
)
from zsbench.testing.datasets import (
    check_dataset,
    check_image_shape,
    check_load_deterministic,
    check_load_shapes_and_dtypes,
    check_recover_accepts_render_output,
    check_recover_inverts_render,
    check_render_any_point,
    check_render_deterministic,
    check_render_rejects_bad_points,
    check_render_shape_and_dtype,
    check_space,
    check_weightings,
)
from zsbench.testing.executors import (
    EchoTask,
    check_executor,
    check_executor_no_jobs,
    check_executor_runs_every_job,
)
from zsbench.testing.metrics import (
    check_context_unchanged,
    check_deterministic,
    check_direction_declared,
    check_metric,
    check_no_hole,
    check_oracle_reconstruction,
    check_scores_finite_with_hole,
    check_scores_named_floats,
)
from zsbench.testing.generators import (
    GENERATOR_CHECKS,
    check_generate_bad_request,
    check_generate_deterministic_fit,
    check_generate_follows_request,
    check_generate_inputs_not_modified,
    check_generate_quiet_without_progress,
    check_generate_rows_independent,
    check_generate_same_seed_same_images,
    check_generate_save_load_round_trip,
    check_generate_seeds_differ,
    check_generate_shape_and_range,
)
from zsbench.testing.models import (
    check_decode_shape_and_range,
    check_deterministic_fit,
    check_encode_batch_consistent,
    check_encode_deterministic,
    check_encode_shape,
    check_fit_accepts_weights_and_validation,
    check_fit_leaves_global_rng_unchanged,
    check_fit_returns_self,
    check_inputs_not_modified,
    check_model,
    check_quiet_without_progress,
    check_reconstruct_shape_and_range,
    check_save_load_round_trip,
    check_seeds_give_different_models,
    check_training_summary_json,
    check_wrong_input_shape,
)
from zsbench.testing.outputs import check_output, check_write_files, check_write_without_hole

__all__ = [
    "BlobsDataset",
    "Check",
    "ConformanceError",
    "DEFAULT_IMAGE_SHAPE",
    "DEFAULT_N_IMAGES",
    "EchoTask",
    "GENERATOR_CHECKS",
    "INVERT_CHECKS",
    "POSTERIOR_CHECKS",
    "PluginLike",
    "SAMPLE_CHECKS",
    "check_context_unchanged",
    "check_dataset",
    "check_decode_shape_and_range",
    "check_deterministic",
    "check_deterministic_fit",
    "check_direction_declared",
    "check_encode_batch_consistent",
    "check_encode_deterministic",
    "check_encode_shape",
    "check_executor",
    "check_executor_no_jobs",
    "check_executor_runs_every_job",
    "check_fit_accepts_weights_and_validation",
    "check_fit_leaves_global_rng_unchanged",
    "check_fit_returns_self",
    "check_generate_bad_request",
    "check_generate_deterministic_fit",
    "check_generate_follows_request",
    "check_generate_inputs_not_modified",
    "check_generate_quiet_without_progress",
    "check_generate_rows_independent",
    "check_generate_same_seed_same_images",
    "check_generate_save_load_round_trip",
    "check_generate_seeds_differ",
    "check_generate_shape_and_range",
    "check_image_shape",
    "check_inputs_not_modified",
    "check_invert_deterministic",
    "check_invert_leaves_state_unchanged",
    "check_invert_not_worse_than_encode",
    "check_invert_shape",
    "check_keyword_only_parameters",
    "check_load_deterministic",
    "check_load_shapes_and_dtypes",
    "check_metric",
    "check_model",
    "check_name_and_summary",
    "check_no_hole",
    "check_oracle_reconstruction",
    "check_output",
    "check_parameter_constraints",
    "check_params_stored",
    "check_plugin",
    "check_posterior_deterministic",
    "check_posterior_mean_equals_encode",
    "check_posterior_shape_and_variance",
    "check_quiet_without_progress",
    "check_reconstruct_shape_and_range",
    "check_recover_accepts_render_output",
    "check_recover_inverts_render",
    "check_render_any_point",
    "check_render_deterministic",
    "check_render_rejects_bad_points",
    "check_render_shape_and_dtype",
    "check_sample_leaves_state_unchanged",
    "check_sample_same_seed_same_images",
    "check_sample_seeds_differ",
    "check_sample_shape_and_range",
    "check_save_load_round_trip",
    "check_scores_finite_with_hole",
    "check_scores_named_floats",
    "check_seeds_give_different_models",
    "check_space",
    "check_training_summary_json",
    "check_weightings",
    "check_write_files",
    "check_write_without_hole",
    "check_wrong_input_shape",
    "conformance_check",
    "make_blob_images",
    "make_eval_context",
    "parametrize_with_checks",
]

ExpectedFailures = Mapping[str, str]
"""``{check name: reason}``: checks a plugin is known to fail."""


def _kind_of(plugin: PluginLike) -> str:
    probe: Any = plugin
    if not isinstance(plugin, (type, Configurable)) and callable(plugin):
        probe = plugin()
    cls = probe if isinstance(probe, type) else type(probe)
    for kind, base in (("model", Model), ("dataset", Dataset), ("metric", Metric),
                       ("output", Output), ("executor", Executor)):
        if isinstance(cls, type) and issubclass(cls, base):
            return kind
    raise TypeError(f"{plugin!r} is not a zsbench Dataset, Model, Metric, Output or "
                    "Executor (an instance, a class or a factory of one).")


def check_plugin(plugin: PluginLike, *, image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                 seed: int = 0, label: str | None = None,
                 expected_failures: ExpectedFailures | None = None) -> Iterator[Check]:
    """The checks of any plugin kind (``image_shape`` applies to models only).
    ``expected_failures`` ``{check name: reason}`` sets those checks'
    ``Check.expected_failure``; a name that is no check of this plugin is a ValueError."""
    kind = _kind_of(plugin)
    checks: Iterator[Check]
    if kind == "model":
        checks = check_model(plugin, image_shape=image_shape, seed=seed, label=label)
    elif kind == "dataset":
        checks = check_dataset(plugin, seed=seed, label=label)
    elif kind == "metric":
        checks = check_metric(plugin, seed=seed, label=label)
    elif kind == "output":
        checks = check_output(plugin, seed=seed, label=label)
    else:
        checks = check_executor(plugin, seed=seed, label=label)
    if not expected_failures:
        return checks
    listed = list(checks)
    unknown = sorted(set(expected_failures) - {c.name for c in listed})
    if unknown:
        raise ValueError(f"expected_failures names {unknown}, which are not checks of "
                         f"{plugin!r}; its checks: {[c.name for c in listed]}.")
    return iter([c._replace(expected_failure=expected_failures.get(c.name)) for c in listed])


def _labelled(plugins: Sequence[PluginLike]) -> list[tuple[PluginLike, str]]:
    out, seen = [], {}
    for p in plugins:
        cls = p if isinstance(p, type) else type(p) if isinstance(p, Configurable) else None
        base = getattr(cls, "name", "") or (cls.__name__ if cls is not None else "")
        if cls is None:
            probe = p()  # type: ignore[operator]
            base = getattr(probe, "name", "") or type(probe).__name__
        seen[base] = seen.get(base, 0) + 1
        out.append((p, base if seen[base] == 1 else f"{base}{seen[base]}"))
    return out


def parametrize_with_checks(
        plugins: Sequence[PluginLike], *,
        image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE, seed: int = 0,
        expected_failures: Mapping[str, ExpectedFailures]
        | Callable[[PluginLike], ExpectedFailures | None] | None = None) -> Any:
    """A ``pytest.mark.parametrize`` decorator with one test per (plugin, check).

    The decorated test takes the arguments ``plugin`` (the object given) and ``check`` (a
    :class:`Check`; call it). Test ids are ``<plugin name>-<check name>``, e.g.
    ``mymodel-check_encode_shape``; a plugin given twice gets ``mymodel2-...``. ``image_shape``
    ``(C, H, W)`` is the size of the models' training images.

    ``expected_failures`` marks checks a plugin is known to fail as strict expected
    failures (``pytest.mark.xfail(strict=True)``: the test fails if the check passes, so
    the mark is removed once the plugin is fixed): either ``{plugin label: {check name:
    reason}}`` (labels as in the ids) or a function of the plugin returning ``{check name:
    reason}`` or None.
    """
    import pytest

    params = []
    for plugin, label in _labelled(plugins):
        if callable(expected_failures) and not isinstance(expected_failures, Mapping):
            marks = expected_failures(plugin)
        else:
            marks = (expected_failures or {}).get(label)
        for check in check_plugin(plugin, image_shape=image_shape, seed=seed, label=label,
                                  expected_failures=marks):
            extra = [] if check.expected_failure is None else [pytest.mark.xfail(
                reason=check.expected_failure, raises=ConformanceError, strict=True)]
            params.append(pytest.param(plugin, check, id=f"{label}-{check.name}", marks=extra))
    return pytest.mark.parametrize(("plugin", "check"), params)
