"""The shared torch training loop (zsbench.training), on a tiny network and toy data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from zsbench.errors import DataError, TrainingError
from zsbench.training import LossContext, derive_seed, init_module, resolve_device, train


class Tiny(nn.Module):
    """A per-pixel affine map with sigmoid output: ``[B, 1, 4, 4] -> [B, 1, 4, 4]``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1)).view_as(x)


def bce_loss(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    """Per-sample BCE of a noisy reconstruction (noise from ``ctx.generator``)."""
    noise = torch.randn(batch.shape, generator=ctx.generator, device=batch.device) * 0.01
    logits = module(batch + noise)
    return nn.functional.binary_cross_entropy_with_logits(
        logits, batch, reduction="none").flatten(1).mean(1)


def data(n: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 4, 4), dtype=np.float32)


def fit(seed: int = 0, **kw: object) -> tuple[nn.Module, object]:
    module = init_module(Tiny, seed)
    args: dict = {"epochs": 2, "batch_size": 8, "device": "cpu", "progress": False,
                  "label": "tiny"}
    args.update(kw)
    images = args.pop("images", data())
    result = train(module, bce_loss, images, seed=seed, **args)
    return module, result


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(params(a), params(b), strict=True))


def test_same_seed_gives_bit_identical_weights_different_seed_differs() -> None:
    a, ra = fit(seed=3)
    b, rb = fit(seed=3)
    c, _ = fit(seed=4)
    assert same(a, b)
    assert ra.history[-1].train_loss == rb.history[-1].train_loss
    assert not same(a, c)


def test_global_rng_state_is_left_alone() -> None:
    before = torch.random.get_rng_state()
    np_before = np.random.get_state()[1].copy()
    fit(seed=1)
    assert torch.equal(before, torch.random.get_rng_state())
    assert np.array_equal(np_before, np.random.get_state()[1])


def test_init_module_depends_on_seed_only() -> None:
    torch.manual_seed(123)
    a = init_module(Tiny, 5)
    torch.manual_seed(999)
    b = init_module(Tiny, 5)
    assert same(a, b)
    assert not same(a, init_module(Tiny, 6))


def test_derive_seed_streams_are_distinct_and_stable() -> None:
    seeds = {derive_seed(7, s) for s in ("init", "shuffle", "noise", "validation")}
    assert len(seeds) == 4
    assert derive_seed(7, "noise") == derive_seed(7, "noise")
    assert all(0 <= s < 2**63 for s in seeds)


def test_derive_seed_accepts_any_stream_name() -> None:
    named = {derive_seed(7, s) for s in ("dropout", "prior", "init", "noise", "a", "b")}
    assert len(named) == 6
    assert derive_seed(7, "dropout") == derive_seed(7, "dropout") != derive_seed(8, "dropout")
    # the loop's own streams keep their values (every recorded result stays reproducible)
    assert derive_seed(0, "shuffle") == int(np.random.SeedSequence([0, 1]).generate_state(
        1, dtype=np.uint64)[0] >> np.uint64(1))


def test_the_loss_sees_dataset_size_epoch_and_step() -> None:
    seen: list[LossContext] = []

    def recording(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        seen.append(ctx)
        return bce_loss(module, batch, ctx)

    train(init_module(Tiny, 0), recording, data(20), seed=0, epochs=2, batch_size=8,
          validation=data(4, seed=1), device="cpu", progress=False)
    steps = [c for c in seen if c.training]
    assert [(c.epoch, c.step) for c in steps] == [(1, 0), (1, 1), (1, 2), (2, 3), (2, 4), (2, 5)]
    assert all(c.n_train == 20 and c.epochs == 2 and c.steps_per_epoch == 3 for c in seen)
    val = [c for c in seen if not c.training]
    assert [(c.epoch, c.step) for c in val] == [(1, 3), (2, 6)]
    assert len({id(c.generator) for c in steps}) == 1


def test_result_fields_and_summary() -> None:
    module, result = fit(epochs=3)
    assert result.epochs_run == 3 and result.steps == 3 * 5
    assert result.device == "cpu" and result.monitor == "train"
    assert not result.stopped_early and not module.training
    summary = result.summary()
    for key in ("epochs_run", "best_epoch", "final_train_loss", "final_val_loss", "device",
                "stopped_early", "seconds"):
        assert key in summary
    assert math.isfinite(summary["final_train_loss"])


def test_training_lowers_the_loss() -> None:
    _, result = fit(epochs=15, lr=1e-2)
    assert result.history[-1].train_loss < result.history[0].train_loss


def test_epochs_zero_returns_the_untrained_module() -> None:
    fresh = init_module(Tiny, 0)
    module, result = fit(epochs=0)
    assert same(module, fresh)
    assert result.epochs_run == 0 and result.history == [] and result.final_train_loss is None


def test_lr_decay_is_exponential_per_epoch() -> None:
    _, result = fit(epochs=3, lr=1e-2, lr_decay=0.5)
    assert [r.lr for r in result.history] == pytest.approx([1e-2, 5e-3, 2.5e-3])


def test_rmsprop_trains() -> None:
    a, result = fit(optimizer="rmsprop", epochs=3)
    b, _ = fit(optimizer="adam", epochs=3)
    assert math.isfinite(result.history[-1].train_loss)
    assert not same(a, b)


def test_weights_change_training_and_are_checked() -> None:
    a, _ = fit()
    w = np.zeros(40)
    w[:5] = 1.0
    b, _ = fit(weights=w)
    assert not same(a, b)
    c, _ = fit(weights=np.ones(40))
    assert same(a, c)  # all-ones weights are the unweighted loss
    with pytest.raises(DataError, match="weights must have shape"):
        fit(weights=np.ones(39))
    with pytest.raises(DataError, match="finite and non-negative"):
        fit(weights=np.full(40, -1.0))
    with pytest.raises(DataError, match="every weight is 0"):
        fit(weights=np.zeros(40))


def test_early_stopping_stops_and_restores_the_best_epoch() -> None:
    # Training pulls the outputs towards black, the validation images are white: the
    # validation loss gets worse after the first epoch.
    train_images = np.zeros((40, 1, 4, 4), np.float32)
    val_images = np.ones((10, 1, 4, 4), np.float32)
    module, result = fit(images=train_images, validation=val_images, epochs=50,
                         early_stopping=2, lr=1e-2)
    assert result.stopped_early and result.epochs_run < 50
    assert result.monitor == "validation"
    assert result.weights_epoch == result.best_epoch < result.epochs_run
    best = result.history[result.best_epoch - 1].val_loss
    assert best == min(r.val_loss for r in result.history)
    # the module holds the best epoch's weights, not the last epoch's
    with torch.no_grad():
        out = torch.sigmoid(module(torch.from_numpy(val_images))).mean()
    last, _ = fit(images=train_images, validation=val_images, epochs=result.epochs_run, lr=1e-2)
    with torch.no_grad():
        out_last = torch.sigmoid(last(torch.from_numpy(val_images))).mean()
    assert out > out_last  # closer to the white validation images


def test_validation_loss_recorded_without_early_stopping() -> None:
    _, result = fit(validation=data(8, seed=1), epochs=2)
    assert all(r.val_loss is not None and math.isfinite(r.val_loss) for r in result.history)
    assert result.weights_epoch == 2


def test_nan_guard_names_model_epoch_and_step() -> None:
    calls = {"n": 0}

    def exploding(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        calls["n"] += 1
        loss = bce_loss(module, batch, ctx)
        return loss * float("nan") if calls["n"] >= 8 else loss

    with pytest.raises(TrainingError) as info:
        train(init_module(Tiny, 0), exploding, data(), seed=0, epochs=3, batch_size=8,
              device="cpu", progress=False, label="my-model")
    err = info.value
    assert err.model == "my-model"
    assert "NaN at epoch 2, step 3" in err.problem
    assert "lower lr" in err.fix


def test_loss_must_be_per_sample() -> None:
    def reduced(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        return bce_loss(module, batch, ctx).mean()

    with pytest.raises(TrainingError, match="one loss per sample"):
        train(init_module(Tiny, 0), reduced, data(), seed=0, epochs=1, batch_size=8,
              device="cpu", progress=False)


def test_bad_arguments_are_data_errors() -> None:
    with pytest.raises(DataError, match=r"\[N, C, H, W\]"):
        fit(images=np.zeros((4, 4, 4), np.float32))
    with pytest.raises(DataError, match="empty"):
        fit(images=np.zeros((0, 1, 4, 4), np.float32))
    with pytest.raises(DataError, match="validation images"):
        fit(validation=np.zeros((3, 1, 5, 5), np.float32))
    with pytest.raises(DataError, match="batch_size"):
        fit(batch_size=0)


def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    fit(progress=True, label="barred")
    captured = capsys.readouterr()
    assert "barred" in captured.err
    assert captured.out == ""


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="no CUDA"):
            resolve_device("cuda", "m")


def test_last_partial_batch_is_used() -> None:
    _, result = fit(images=data(42), epochs=1)
    assert result.steps == 6  # 5 full batches of 8 + one of 2


def test_num_threads_is_restored() -> None:
    before = torch.get_num_threads()
    a, _ = fit(num_threads=1)
    assert torch.get_num_threads() == before
    b, _ = fit()
    assert same(a, b)


# -- row-aligned arrays: (images, factors) -------------------------------------------------

def pair_loss(module: nn.Module, batch: tuple[torch.Tensor, ...],
              ctx: LossContext) -> torch.Tensor:
    """A conditional toy: the images shifted by the batch's own factor column."""
    x, f = batch
    assert x.shape[0] == f.shape[0] and f.shape[1:] == (1,)
    return (torch.sigmoid(module(x)) - (x + f[:, :, None, None]).clamp(0, 1)).square() \
        .flatten(1).mean(1)


def test_train_takes_row_aligned_arrays_and_keeps_their_rows_together() -> None:
    x = data()
    f = np.linspace(0, 0.5, len(x))[:, None]
    a, ra = init_module(Tiny, 0), None
    ra = train(a, pair_loss, (x, f), seed=1, epochs=2, batch_size=8, device="cpu",
               progress=False, validation=(x[:8], f[:8]))
    b = init_module(Tiny, 0)
    train(b, pair_loss, (x, f), seed=1, epochs=2, batch_size=8, device="cpu", progress=False)
    c = init_module(Tiny, 0)  # the same rows of images with other factors: another model
    train(c, pair_loss, (x, f[::-1].copy()), seed=1, epochs=2, batch_size=8, device="cpu",
          progress=False)
    assert same(a, b) and not same(a, c)
    assert ra.monitor == "validation" and all(r.val_loss is not None for r in ra.history)
    with pytest.raises(DataError, match="row-aligned"):
        train(init_module(Tiny, 0), pair_loss, (x, f[:5]), seed=0, epochs=1, batch_size=8,
              device="cpu", progress=False)
    with pytest.raises(DataError, match="validation rows"):
        train(init_module(Tiny, 0), pair_loss, (x, f), seed=0, epochs=1, batch_size=8,
              device="cpu", progress=False, validation=(x[:4], np.zeros((4, 2))))


def test_weight_decay_reaches_the_optimiser() -> None:
    a, _ = fit(optimizer="adamw")
    b, _ = fit(optimizer="adamw", weight_decay=0.01)  # AdamW's default, given explicitly
    c, _ = fit(optimizer="adamw", weight_decay=0.5)
    assert same(a, b) and not same(a, c)
    with pytest.raises(DataError, match="weight_decay"):
        fit(weight_decay=-1.0)


def test_rowwise_batched_takes_several_arrays_and_rows_stay_independent() -> None:
    from zsbench.training import rowwise_batched

    net = init_module(lambda: nn.Linear(5, 3), 0)
    z = np.random.default_rng(0).normal(size=(70, 3)).astype(np.float32)
    f = np.random.default_rng(1).normal(size=(70, 2)).astype(np.float32)

    def fn(za: torch.Tensor, fa: torch.Tensor) -> torch.Tensor:
        return net(torch.cat([za, fa], 1))

    net.train()
    out = rowwise_batched(net, fn, (z, f), torch.device("cpu"), batch_size=16)
    assert out.shape == (70, 3) and net.training  # the module's mode is restored
    assert np.array_equal(rowwise_batched(net, fn, (z[:9], f[:9]), torch.device("cpu"),
                                          batch_size=16), out[:9])
    joined = rowwise_batched(net, net, np.concatenate([z, f], 1), torch.device("cpu"),
                             batch_size=16)
    assert np.array_equal(joined, out)
