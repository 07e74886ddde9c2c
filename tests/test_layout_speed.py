"""``benchmarks/layout_speed.py`` on a tiny circles flow model (8x8 images, 8 channels): the
layouts it times train the same network on the same batches, and a layout that fails
(``torch.compile`` unavailable) is reported and skipped, not fatal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "benchmarks"))  # layout_speed imports its neighbours by name

import layout_speed  # noqa: E402


@pytest.fixture(scope="module")
def tiny() -> Iterator[layout_speed.Captured]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield layout_speed.load_case(layout_speed.SUITE,
                                     dataset={"n_per_class": 8, "image_size": 8},
                                     model={"channels": 8, "batch_size": 8})
    finally:
        torch.set_num_threads(threads)


def test_same_seed_same_losses_and_channels_last_within_rounding(tiny: layout_speed.Captured
                                                                   ) -> None:
    step_a, net_a = layout_speed.make_step(tiny, "contiguous", seed=3)
    step_b, _ = layout_speed.make_step(tiny, "contiguous", seed=3)
    a = [float(step_a()) for _ in range(3)]
    assert a == [float(step_b()) for _ in range(3)]
    assert len(set(a)) == 3  # the weights move: each step's loss differs
    checked = layout_speed.check_layouts(tiny, ("contiguous", "channels_last"), seed=3)
    assert not checked.failed
    assert checked.losses["contiguous"][:3] == a
    assert layout_speed.loss_diff(checked.losses["channels_last"],
                                  checked.losses["contiguous"]) < 1e-4
    assert checked.weights["contiguous"] == 0.0
    assert checked.weights["channels_last"] < 1e-3
    assert next(net_a.parameters()).is_contiguous()


def test_a_failing_compile_is_reported_and_the_others_go_on(
        tiny: layout_speed.Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(module: torch.nn.Module) -> torch.nn.Module:
        raise RuntimeError("no compiler here\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    checked = layout_speed.check_layouts(tiny, ("contiguous", "compile"))
    assert checked.failed == {"compile": "unavailable: RuntimeError: no compiler here"}
    assert list(checked.steppers) == ["contiguous"] and checked.compile_s == 0.0
    times = layout_speed.time_layouts(checked.steppers, 1, 1)
    assert list(times) == ["contiguous"] and all(t > 0 for t in times["contiguous"])
