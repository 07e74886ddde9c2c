"""The evaluation context: inputs a metric reads (handed over read-only) apart from the
values the job's metrics derive and share (``memo``, grown only through ``cached``)."""
from __future__ import annotations

import numpy as np
import pytest

from zsbench.plugin import EvalContext, SharedValues
from zsbench.runner import evaluate, prepare_data
from zsbench.suite import load_suite


def _context(toy_registry, write_suite) -> EvalContext:  # noqa: ANN001
    suite = load_suite(write_suite(), profile="smoke", registry=toy_registry)
    data = prepare_data(suite, toy_registry)
    model = toy_registry.create("model", "linear", {}).fit(data.splits["train"].images, seed=0)
    return evaluate(model, data, label="pca", seed=0, holdout=suite.holdout,
                    training={"epochs": 1})


def test_latents_and_reconstructions_are_read_only(toy_registry, write_suite) -> None:
    ctx = _context(toy_registry, write_suite)
    assert ctx.training == {"epochs": 1}
    for name in ctx.splits:
        for array in (ctx.latents[name], ctx.reconstructions[name]):
            assert not array.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                array[...] = 0.0  # a metric that normalised in place would be caught here


def test_memo_grows_only_through_cached(toy_registry, write_suite) -> None:
    ctx = _context(toy_registry, write_suite)
    calls = []
    assert ctx.cached("k", lambda: calls.append(1) or np.arange(3)).tolist() == [0, 1, 2]
    assert ctx.cached("k", lambda: calls.append(1) or None).tolist() == [0, 1, 2]
    assert calls == [1] and "k" in ctx.memo and list(ctx.memo) == ["k"]
    with pytest.raises(TypeError):
        ctx.memo["k"] = 5  # type: ignore[index]


def test_a_plain_mapping_becomes_shared_values() -> None:
    ctx = EvalContext(dataset=None, space=None, model=None, label="x", seed=0,  # type: ignore[arg-type]
                      splits={}, latents={}, reconstructions={}, memo={"a": 1})  # type: ignore[arg-type]
    assert isinstance(ctx.memo, SharedValues) and ctx.cached("a", lambda: 2) == 1
