"""Geometry: containment, signed depth, set operations, transects."""

from __future__ import annotations

import numpy as np
import pytest

from zsbench.errors import DataError
from zsbench.regions import (
    Annulus,
    Ball,
    Box,
    Complement,
    HalfSpace,
    Intersection,
    Transect,
    Union,
)
from zsbench.space import Factor, LatentSpace

SPACE = LatentSpace((Factor("a", 0.5, 2.0), Factor("b", 0.0, 2.0)))
SPACE3 = LatentSpace((Factor("x", -1, 1), Factor("y", -1, 1), Factor("z", -1, 1),
                      Factor("k", values=(2.0, 200.0))))


def pts(*rows: tuple[float, ...]) -> np.ndarray:
    return np.array(rows, dtype=float)


def test_ball_contains_and_depth_sign() -> None:
    ball = Ball({"a": 1.25, "b": 1.0}, 0.3)
    p = pts((1.25, 1.0), (1.25, 1.2), (1.25, 1.3), (1.25, 1.5), (2.0, 2.0))
    assert ball.contains(p, SPACE).tolist() == [True, True, True, False, False]
    d = ball.depth(p, SPACE)
    np.testing.assert_allclose(d[:4], [0.3, 0.1, 0.0, -0.2], atol=1e-12)
    assert d[4] < 0


def test_ball_scale_makes_an_ellipse() -> None:
    ball = Ball({"a": 1.0, "b": 1.0}, 0.5, scale={"a": 2.0})
    p = pts((1.9, 1.0), (1.0, 1.6))
    assert ball.contains(p, SPACE).tolist() == [True, False]


def test_ball_over_a_subset_of_factors_in_4d() -> None:
    ball = Ball({"x": 0.0, "z": 0.0}, 0.5)
    p = pts((0.1, 0.9, 0.1, 2.0), (0.6, -0.9, 0.0, 200.0))
    assert ball.contains(p, SPACE3).tolist() == [True, False]


def test_box_depth_inside_and_outside() -> None:
    box = Box({"a": 1.0, "b": 0.5}, {"a": 1.5, "b": 1.5})
    d = box.depth(pts((1.25, 1.0), (1.0, 1.0), (2.0, 1.0), (2.0, 2.0)), SPACE)
    np.testing.assert_allclose(d, [0.25, 0.0, -0.5, -np.hypot(0.5, 0.5)])


def test_annulus() -> None:
    ring = Annulus({"a": 1.25, "b": 1.0}, 0.2, 0.4)
    p = pts((1.25, 1.0), (1.25, 1.3), (1.25, 1.5))
    assert ring.contains(p, SPACE).tolist() == [False, True, False]
    np.testing.assert_allclose(ring.depth(p, SPACE), [-0.2, 0.1, -0.1])


def test_halfspace_depth_is_signed_distance() -> None:
    half = HalfSpace({"a": 1.0, "b": -1.0}, 0.0)   # a >= b
    d = half.depth(pts((1.0, 0.0), (0.5, 1.5)), SPACE)
    np.testing.assert_allclose(d, [1 / np.sqrt(2), -1 / np.sqrt(2)])


def test_set_operations() -> None:
    left = Ball({"a": 1.0, "b": 1.0}, 0.3)
    right = Ball({"a": 1.4, "b": 1.0}, 0.3)
    p = pts((0.8, 1.0), (1.2, 1.0), (1.6, 1.0), (1.9, 1.9))
    assert Union((left, right)).contains(p, SPACE).tolist() == [True, True, True, False]
    assert Intersection((left, right)).contains(p, SPACE).tolist() == [False, True, False, False]
    assert Complement(left).contains(p, SPACE).tolist() == [False, False, True, True]
    assert (left | right).contains(p, SPACE).tolist() == Union((left, right)).contains(p, SPACE).tolist()
    assert (~left & right).contains(p, SPACE).tolist() == [False, False, True, False]
    np.testing.assert_allclose(Complement(left).depth(p, SPACE), -left.depth(p, SPACE))


def test_unknown_factor_is_a_clear_error() -> None:
    with pytest.raises(DataError, match='unknown factor "c".*a, b'):
        Ball({"c": 1.0}, 0.3).contains(pts((1.0, 1.0)), SPACE)


def test_transect_equally_spaced_with_exact_ends() -> None:
    t = Transect.between("P3", SPACE.point({"a": 0.5, "b": 0.0}),
                         SPACE.point({"a": 2.0, "b": 2.0}), 15)
    assert t.points.shape == (15, 2)
    np.testing.assert_allclose(t.points[0], [0.5, 0.0])
    np.testing.assert_allclose(t.points[-1], [2.0, 2.0])
    np.testing.assert_allclose(t.spacing, np.full(14, 2.5 / 14))
    assert t.points[7].tolist() == pytest.approx([1.25, 1.0])


def test_transect_through_centre_is_clipped_to_the_space() -> None:
    t = Transect.through("h", SPACE, np.array([1.25, 1.0]), np.array([1.0, 0.0]), 7)
    np.testing.assert_allclose(t.points[0], [0.5, 1.0])
    np.testing.assert_allclose(t.points[-1], [2.0, 1.0])
    diag = Transect.through("d", SPACE, np.array([1.25, 1.0]), np.array([1.0, 1.0]), 5)
    assert SPACE.contains(diag.points).all()
    np.testing.assert_allclose(diag.points[0], [0.5, 0.25])
    np.testing.assert_allclose(np.ptp(diag.spacing), 0, atol=1e-12)


def test_space_sampling_is_seeded_and_in_bounds() -> None:
    a = SPACE3.sample_uniform(500, rng=np.random.default_rng(1))
    b = SPACE3.sample_uniform(500, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert SPACE3.contains(a).all()
    assert set(np.unique(a[:, 3])) == {2.0, 200.0}
    grid = SPACE.grid(5)
    assert grid.shape == (25, 2) and SPACE.contains(grid).all()


def test_space_check_rejects_outside_points() -> None:
    with pytest.raises(DataError, match="outside the latent space"):
        SPACE.check(pts((3.0, 1.0)))
    with pytest.raises(DataError, match=r"shape \[N, 2\]"):
        SPACE.check(np.zeros((3, 3)))
