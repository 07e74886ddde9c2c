"""The conformance kit's generator checks name the real cause of a planted fault: a seed
ignored for a global random state is reported as such (never as a save precision or a
batch problem), values out of [0, 1] by what they look like, and fit's
weights, validation and input shapes are checked."""

from __future__ import annotations

import numpy as np
import pytest
from conditional_toys import ExactGenerator, JitterGenerator

from zsbench.errors import DataError
from zsbench.testing import ConformanceError, check_model


class GlobalNoise(JitterGenerator):
    """Draws its jitter from numpy's global random state: the seed is ignored."""

    name = "global_noise"

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors)
        return self.render(f + self.jitter * np.random.standard_normal(f.shape))


class Bytes(ExactGenerator):
    """Returns 8-bit intensities as floats."""

    name = "bytes_gen"

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        return super().generate(factors, seed=seed) * 255.0


class TakesAnyShape(ExactGenerator):
    """Trains on whatever it is given."""

    name = "takes_any_shape"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None,
            factors: np.ndarray | None = None) -> TakesAnyShape:
        self.size_ = int(np.shape(images)[-1])
        self.factors_, self.images_ = np.asarray(factors), np.asarray(images)
        return self


class WeightsMisread(ExactGenerator):
    """Treats any weights as "train on half the images": weights of 1 change the model."""

    name = "weights_misread"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None,
            factors: np.ndarray | None = None) -> WeightsMisread:
        super().fit(images, seed=seed, factors=factors)
        self.shift_ = 0.0 if weights is None else 0.1
        return self

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        return self.render(np.clip(self._check(factors) + self.shift_, 0, 1))


class ChangesValidation(ExactGenerator):
    """Normalises the validation images in place."""

    name = "changes_validation"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None,
            factors: np.ndarray | None = None) -> ChangesValidation:
        if validation is not None:
            validation *= 0.5
        return super().fit(images, seed=seed, factors=factors)


def _failures(model: object) -> dict[str, str]:
    out = {}
    for check in check_model(model):
        try:
            check()
        except ConformanceError as exc:
            out[check.name] = str(exc)
    return out


def test_an_ignored_seed_is_reported_as_such() -> None:
    failed = _failures(GlobalNoise())
    # never blamed on the save precision or on rows depending on the batch
    assert set(failed) == {"check_generate_same_seed_same_images",
                           "check_generate_deterministic_fit"}, failed
    message = failed["check_generate_same_seed_same_images"]
    assert "ignores its seed" in message and "global or hidden random state" in message
    assert "changed the global random state of numpy" in failed[
        "check_generate_deterministic_fit"]


def test_eight_bit_values_are_named_as_such() -> None:
    failed = _failures(Bytes())
    assert "check_generate_shape_and_range" in failed
    assert "divide by 255" in failed["check_generate_shape_and_range"]
    assert "never clips" in failed["check_generate_shape_and_range"]


@pytest.mark.parametrize(("model", "check", "needle"), [
    (TakesAnyShape(), "check_generate_fit_wrong_shape", "fit(images without the channel axis"),
    (WeightsMisread(), "check_generate_fit_weights_and_validation", "weights of 1"),
    (ChangesValidation(), "check_generate_fit_weights_and_validation", "modified"),
])
def test_fit_faults_of_a_generator_are_caught(model: object, check: str,
                                              needle: str) -> None:
    failed = _failures(model)
    assert check in failed, failed
    assert needle in failed[check]


def test_the_honest_generator_passes_the_new_checks() -> None:
    names = [c.name for c in check_model(ExactGenerator())]
    assert {"check_generate_fit_wrong_shape",
            "check_generate_fit_weights_and_validation"} <= set(names)
    assert not _failures(ExactGenerator())
    with pytest.raises(DataError, match="fit needs images"):
        ExactGenerator().fit(np.zeros((4, 8, 8)), seed=0, factors=np.zeros((4, 2)))
