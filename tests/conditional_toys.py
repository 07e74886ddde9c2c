"""Toy conditional generators for the conditional scores and the kit's generator checks:
oracles (exact, blind, memoriser, one that learns the hole at a known step) and planted
faults. They only ``fit`` and ``generate`` (and save): no encoder. Registered in code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
from generative_toys import RecoverableToy

from zsbench import hookimpl
from zsbench.errors import DataError
from zsbench.plugin import Model, Monitor, row_noise
from zsbench.space import LatentSpace


class ExactGenerator(Model):
    """Renders the requested factors exactly."""

    name = "exact_gen"
    stochastic: ClassVar[bool] = False

    def __init__(self) -> None:
        pass

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None,
            factors: np.ndarray | None = None) -> ExactGenerator:
        if np.ndim(images) != 4 or factors is None or len(factors) != len(images):
            raise DataError(f"{self.name}: fit needs images [N, C, H, W] and factors [N, F]; "
                            f"got {list(np.shape(images))} and {list(np.shape(factors))}.")
        self.size_ = int(images.shape[-1])
        self.factors_ = np.asarray(factors, dtype=np.float64)
        self.images_ = np.asarray(images, dtype=np.float32)
        return self

    def _check(self, factors: np.ndarray) -> np.ndarray:
        f = np.asarray(factors, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != 2 or not np.isfinite(f).all():
            raise DataError(f"{self.name}: factors must be finite [N, 2]; got {list(f.shape)}.")
        return f

    def render(self, factors: np.ndarray) -> np.ndarray:
        toy = RecoverableToy(size=self.size_)
        return toy.render(np.clip(factors, 0, 1)).astype(np.float32) / 255.0

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        return self.render(self._check(factors))

    def save(self, path: Path) -> None:
        np.savez(Path(path).with_suffix(".npz"), factors=self.factors_, images=self.images_)
        Path(path).write_text(json.dumps({"params": self.get_params()}))

    @classmethod
    def load(cls, path: Path) -> Model:
        m = cls(**json.loads(Path(path).read_text())["params"])
        data = np.load(Path(path).with_suffix(".npz"))
        return m.fit(data["images"], seed=0, factors=data["factors"])


class JitterGenerator(ExactGenerator):
    """The exact renderer with per-row noise in the factors: a stochastic generator."""

    name = "jitter_gen"
    stochastic: ClassVar[bool] = True

    def __init__(self, *, jitter: float = 0.02) -> None:
        self.jitter = jitter

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors)
        return self.render(f + self.jitter * row_noise(seed, len(f), (2,)))


class BlindGenerator(ExactGenerator):
    """Ignores its condition: a uniformly random point of the space for every row."""

    name = "blind_gen"
    stochastic: ClassVar[bool] = True

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors)
        u = np.stack([np.random.default_rng([seed, i]).uniform(0, 1, 2) for i in range(len(f))])
        return self.render(u.reshape(len(f), 2))


class MemoriserGenerator(ExactGenerator):
    """Exact outside the hole (a ball of ``radius`` around (``centre``, ``centre``)); inside
    it, the training image nearest to the request, verbatim."""

    name = "memoriser"

    def __init__(self, *, centre: float = 0.5, radius: float = 0.2) -> None:
        self.centre = centre
        self.radius = radius

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors)
        d = np.linalg.norm(f[:, None, :] - self.factors_[None, :, :], axis=2)
        out = self.render(f)
        inside = np.linalg.norm(f - self.centre, axis=1) < self.radius
        out[inside] = self.images_[d.argmin(axis=1)[inside]]
        return out


class LearnsHoleGenerator(ExactGenerator):
    """A fake training run of ``steps`` steps that calls the monitor every ``eval_every``:
    exact outside the hole (a ball of radius ``radius`` around ``centre``) from the start
    (or never: ``rim_never``), inside it only from step ``learn_at``."""

    name = "learns_hole"

    def __init__(self, *, steps: int = 10, eval_every: int = 2, learn_at: int = 6,
                 centre: float = 0.5, radius: float = 0.2, rim_never: bool = False) -> None:
        self.steps = steps
        self.eval_every = eval_every
        self.learn_at = learn_at
        self.centre = centre
        self.radius = radius
        self.rim_never = rim_never

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> Model:
        super().fit(images, seed=seed, factors=factors)
        self.space_names_ = None if space is None else list(space.names)
        for step in range(1, self.steps + 1):
            self.step_ = step
            if monitor is not None and self.eval_every and step % self.eval_every == 0:
                monitor(step, self)
        return self

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors)
        step = getattr(self, "step_", self.steps)
        inside = np.linalg.norm(f - self.centre, axis=1) <= self.radius
        wrong = (inside & (step < self.learn_at)) | (~inside & self.rim_never)
        f = np.where(wrong[:, None], 1.0 - np.round(f), f)  # a far corner instead
        return self.render(f)


# -- planted faults for the kit --------------------------------------------------------------

class IgnoresSeed(JitterGenerator):
    """Claims to be stochastic but draws the same noise whatever the seed."""

    name = "ignores_seed"

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        return super().generate(factors, seed=0)


class IgnoresCondition(JitterGenerator):
    """Draws the same blob (at the centre, jittered) whatever it is asked."""

    name = "ignores_condition"

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = np.full_like(self._check(factors), 0.5)
        return super().generate(f, seed=seed)


class DependsOnBatch(JitterGenerator):
    """Draws the whole request's noise from one generator: a row depends on the batch."""

    name = "depends_on_batch"

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors)
        noise = np.random.default_rng(seed).normal(0, self.jitter, size=(len(f), 2))
        return self.render(f + noise[::-1])


@hookimpl
def zsbench_add_models() -> list[type]:
    return [ExactGenerator, JitterGenerator, BlindGenerator, MemoriserGenerator,
            LearnsHoleGenerator]
