"""The standard output plugins: PNG pictures built from synthetic evaluation contexts."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from zsbench.errors import PluginParameterError
from zsbench.plugin import Dataset, EvalContext, Model, Output, Split, TransectEval
from zsbench.regions import Ball, Box, Region, Transect
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.outputs import (
    ConceptPaths,
    ConditionalDepth,
    ConditionalScatter,
    ConditionalStrips,
    CoverageMap,
    Emergence,
    ErrorMap,
    LatentScatter,
    ReachableStrips,
    Trajectory,
    TransectStrips,
    Traversal,
    _plot,
    zsbench_add_outputs,
)
from zsbench_plugins.outputs.error_map import holdout_depth_grid
from zsbench.splits import seeded_rows
from zsbench_plugins.outputs.traversal import grid_latents

ALL = [TransectStrips, LatentScatter, ErrorMap, Trajectory, Traversal]
"""The outputs that need no optional capability (tested on a plain encoder/decoder here)."""

GENERATIVE = [ReachableStrips, CoverageMap, ConditionalStrips, ConditionalScatter,
              ConditionalDepth, Emergence, ConceptPaths]
"""The outputs that need ``invert``, ``sample`` or ``recover`` (tests/test_generative.py)."""


class _Data(Dataset):
    """Placeholder dataset (the outputs never call it)."""

    name = "synthetic"


class FakeModel(Model):
    """Linear encoder, sigmoid-of-linear decoder; records the batch size of every decode."""

    name = "fake"

    def __init__(self, *, shape: tuple[int, int, int], latent_dim: int) -> None:
        self.shape = shape
        self.latent_dim = latent_dim
        rng = np.random.default_rng(1)
        pixels = int(np.prod(shape))
        self.enc_ = rng.normal(size=(pixels, latent_dim)) / np.sqrt(pixels)
        self.dec_ = rng.normal(size=(latent_dim, pixels))
        self.decoded_: list[int] = []

    def encode(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), self.enc_.shape[0]) @ self.enc_

    def decode(self, latents: np.ndarray) -> np.ndarray:
        z = np.asarray(latents, dtype=np.float64)
        self.decoded_.append(len(z))
        logits = z @ self.dec_ - 1.0
        return (1.0 / (1.0 + np.exp(-logits))).reshape(len(z), *self.shape).astype(np.float32)


def _render(factors: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A blob whose position follows the first two factors: float32 [N, C, size, size]."""
    g = np.linspace(0.0, 1.0, size)
    yy, xx = np.meshgrid(g, g, indexing="ij")
    u = (factors[:, 0] - factors[:, 0].min()) / max(np.ptp(factors[:, 0]), 1e-9)
    v = (factors[:, 1] - factors[:, 1].min()) / max(np.ptp(factors[:, 1]), 1e-9) \
        if factors.shape[1] > 1 else np.full(len(factors), 0.5)
    blob = np.exp(-((xx[None] - u[:, None, None]) ** 2 + (yy[None] - v[:, None, None]) ** 2) / 0.03)
    return np.repeat(blob[:, None], channels, axis=1).astype(np.float32)


def make_ctx(*, size: int = 16, channels: int = 1, latent_dim: int = 3, hole: bool = True,
             transects: bool = True, space: LatentSpace | None = None, n: int = 150,
             region: Region | None = None) -> EvalContext:
    """A complete evaluation context over ``space`` (default: a in [0.5, 2], b in [0, 2])."""
    space = space or LatentSpace((Factor("a", 0.5, 2.0), Factor("b", 0.0, 2.0)))
    rng = np.random.default_rng(0)
    factors = space.sample_uniform(n, rng=rng)
    holdout = None
    if hole:
        holdout = region or Ball({"a": 1.25, "b": 1.0}, 0.4)
    inside = holdout.contains(factors, space) if holdout is not None else np.zeros(n, bool)
    outside = np.flatnonzero(~inside)
    parts = {"train": outside[: int(0.8 * len(outside))], "test": outside[int(0.8 * len(outside)):]}
    if hole:
        parts["hole"] = np.flatnonzero(inside)
    model = FakeModel(shape=(channels, size, size), latent_dim=latent_dim)
    splits, latents, recons = {}, {}, {}
    for name, idx in parts.items():
        f = factors[idx]
        images = _render(f, size, channels) if len(f) else np.zeros((0, channels, size, size),
                                                                     np.float32)
        depth = holdout.depth(f, space) if holdout is not None else None
        splits[name] = Split(f, images, depth)
        latents[name] = model.encode(images)
        recons[name] = model.decode(latents[name])
    tes: list[TransectEval] = []
    if transects:
        lo = np.array([f.bounds[0] for f in space.factors])
        hi = np.array([f.bounds[1] for f in space.factors])
        mid = (lo + hi) / 2
        start, end = mid.copy(), mid.copy()
        start[0], end[0] = lo[0], hi[0]
        for name, a, b in (("P1", lo, hi), ("P 2/x", start, end)):
            tr = Transect.between(name, a, b, 7)
            images = _render(tr.points, size, channels)
            z = model.encode(images)
            in_hole = (holdout.contains(tr.points, space) if holdout is not None
                       else np.zeros(len(tr.t), bool))
            tes.append(TransectEval(name, tr.t, tr.points, images, model.decode(z), z, in_hole))
    model.decoded_.clear()
    return EvalContext(dataset=_Data(), space=space, model=model, label="fake-model", seed=0,
                       splits=splits, latents=latents, reconstructions=recons,
                       transects=tes, holdout=holdout)


def assert_png(path: Path, *, min_side: int = 80) -> np.ndarray:
    """``path`` exists, is a PNG of non-trivial size; returns the pixels [H, W, 4]."""
    assert path.exists(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 2000
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert min(pixels.shape[:2]) >= min_side
    assert pixels[..., :3].std() > 0.01, "the picture is blank"
    return pixels


def expected_files(cls: type[Output], ctx: EvalContext) -> set[str]:
    d = ctx.latents["train"].shape[1]
    if cls is TransectStrips:
        return {f"transect_{t.name.replace(' ', '_').replace('/', '_')}.png"
                for t in ctx.transects}
    if cls is Traversal:
        pairs = [(i, j) for i in range(d) for j in range(i + 1, d)][:6]
        return {"traversal.png"} | {f"traversal_grid_{i}_{j}.png" for i, j in pairs}
    return {f"{cls.name}.png"}


def write_all(ctx: EvalContext, directory: Path) -> dict[str, list[Path]]:
    out = {}
    for cls in ALL:
        sub = directory / cls.name
        sub.mkdir()
        paths = cls().write(ctx, sub)
        assert all(isinstance(p, Path) for p in paths)
        assert {p.name for p in paths} == expected_files(cls, ctx), cls.name
        assert sorted(p.name for p in sub.iterdir()) == sorted(p.name for p in paths)
        for p in paths:
            assert_png(p)
        out[cls.name] = paths
    return out


# -- the contract ----------------------------------------------------------------------


def test_hook_returns_every_output_with_the_plugin_contract() -> None:
    classes = zsbench_add_outputs()
    assert classes == ALL + GENERATIVE
    assert len({c.name for c in classes}) == len(classes)
    for cls in classes:
        assert issubclass(cls, Output)
        assert cls.summary() and not cls.summary().endswith(":")
        obj = cls()
        for name, p in cls.parameters().items():
            assert p.kind is inspect.Parameter.KEYWORD_ONLY
            assert p.annotation is not inspect.Parameter.empty, (cls.name, name)
            assert getattr(obj, name) == p.default
        assert set(obj.get_params()) == set(cls.parameters())


def test_parameters_are_stored_unchanged() -> None:
    t = Traversal(center="mean", steps=5, grid=4, limit=3.0, pairs=[[0, 1]])
    assert t.get_params() == {"center": "mean", "steps": 5, "grid": 4, "limit": 3.0,
                              "pairs": [[0, 1]]}
    assert LatentScatter(projection="first2", max_points=10).get_params() == {
        "projection": "first2", "max_points": 10}
    assert ErrorMap(x="b", y="a").get_params() == {"x": "b", "y": "a"}
    assert Trajectory(steps=4).steps == 4


# -- the full case -----------------------------------------------------------------------


def test_every_output_writes_its_pictures(tmp_path: Path) -> None:
    ctx = make_ctx()
    written = write_all(ctx, tmp_path)
    assert len(written["transect_strips"]) == 2
    assert len(written["traversal"]) == 1 + 3


def test_transect_strip_shows_two_rows_of_tiles(tmp_path: Path) -> None:
    ctx = make_ctx(size=32)
    path = TransectStrips().write(ctx, tmp_path)[0]
    pixels = assert_png(path)
    # 7 square tiles side by side, two rows and an error plot: wider than tall
    assert pixels.shape[1] > 1.4 * pixels.shape[0]
    other = tmp_path / "no_error"
    other.mkdir()
    no_error = TransectStrips(show_error=False).write(ctx, other)[0]
    assert imread(no_error).shape[0] < pixels.shape[0]


# -- cases every output must cope with -------------------------------------------------


def test_no_hole(tmp_path: Path) -> None:
    ctx = make_ctx(hole=False)
    assert "hole" not in ctx.splits and ctx.holdout is None
    write_all(ctx, tmp_path)


def test_empty_hole_split(tmp_path: Path) -> None:
    ctx = make_ctx(region=Ball({"a": 9.0, "b": 9.0}, 0.1))
    assert len(ctx.splits["hole"]) == 0
    write_all(ctx, tmp_path)


def test_no_transects_writes_no_strip(tmp_path: Path) -> None:
    ctx = make_ctx(transects=False)
    strips = tmp_path / "strips"
    strips.mkdir()
    assert TransectStrips().write(ctx, strips) == []
    assert list(strips.iterdir()) == []
    everything = tmp_path / "all"
    everything.mkdir()
    write_all(ctx, everything)


def test_one_latent(tmp_path: Path) -> None:
    ctx = make_ctx(latent_dim=1)
    written = write_all(ctx, tmp_path)
    assert [p.name for p in written["traversal"]] == ["traversal.png"]


def test_eight_latents_draw_at_most_six_default_grids(tmp_path: Path) -> None:
    ctx = make_ctx(latent_dim=8, transects=False)
    written = write_all(ctx, tmp_path)
    assert len(written["traversal"]) == 1 + 6
    paths = Traversal(pairs=[[7, 2]]).write(ctx, tmp_path / "traversal")
    assert paths[-1].name == "traversal_grid_7_2.png"


@pytest.mark.parametrize("size", [8, 256])
def test_image_sizes(tmp_path: Path, size: int) -> None:
    ctx = make_ctx(size=size, n=40 if size > 64 else 150, latent_dim=2)
    write_all(ctx, tmp_path)


def test_rgb_images(tmp_path: Path) -> None:
    ctx = make_ctx(channels=3, latent_dim=2)
    write_all(ctx, tmp_path)


def test_discrete_factors(tmp_path: Path) -> None:
    space = LatentSpace((Factor("vx", 0.1, 5.0), Factor("df", values=(2.0, 200.0)),
                         Factor("c", -0.95, 0.95)))
    ctx = make_ctx(space=space, region=Box({"vx": 2.0, "c": -0.3}, {"vx": 3.0, "c": 0.3}))
    write_all(ctx, tmp_path)
    # default plane: the continuous factors vx and c
    assert ErrorMap().axes_factors(space) == (0, 2)
    assert ErrorMap(y="df").axes_factors(space) == (0, 1)


def test_single_discrete_factor(tmp_path: Path) -> None:
    space = LatentSpace((Factor("digit", values=(1.0, 8.0)),))
    ctx = make_ctx(space=space, hole=False, transects=False, latent_dim=2)
    assert ErrorMap().axes_factors(space) == (0, None)
    write_all(ctx, tmp_path)


def test_one_factor_space_with_a_hole(tmp_path: Path) -> None:
    space = LatentSpace((Factor("a", 0.0, 1.0),))
    ctx = make_ctx(space=space, region=Ball({"a": 0.5}, 0.1), latent_dim=2)
    write_all(ctx, tmp_path)


# -- helpers and specifics -------------------------------------------------------------


def test_tile_shapes() -> None:
    images = np.random.default_rng(0).uniform(size=(25, 1, 8, 6)).astype(np.float32)
    assert _plot.tile(images, ncols=5, pad=1).shape == (5 * 8 + 4, 5 * 6 + 4)
    assert _plot.tile(images, pad=0).shape == (8, 25 * 6)
    assert _plot.tile(images[:7], ncols=3, pad=2).shape == (3 * 8 + 4, 3 * 6 + 4)
    rgb = np.zeros((4, 3, 5, 5))
    assert _plot.tile(rgb, ncols=2, pad=1).shape == (11, 11, 3)
    tiled = _plot.tile(images, ncols=5, pad=1, pad_value=0.5)
    x0, y0, x1, y1 = _plot.tile_box(7, 5, 8, 6, 1)
    np.testing.assert_array_equal(tiled[int(y0 + 0.5):int(y1 + 0.5), int(x0 + 0.5):int(x1 + 0.5)],
                                  images[7, 0])
    assert tiled[8, 0] == 0.5


def test_traversal_grid_has_the_requested_tiles(tmp_path: Path) -> None:
    ctx = make_ctx(latent_dim=3, size=16)
    model = ctx.model
    assert isinstance(model, FakeModel)
    paths = Traversal(grid=5, steps=7, pairs=[[0, 2]]).write(ctx, tmp_path)
    assert [p.name for p in paths] == ["traversal.png", "traversal_grid_0_2.png"]
    assert model.decoded_ == [3 * 7, 5 * 5]
    grid = imread(paths[1])
    # a square mosaic of square tiles: nearly square picture
    assert 0.8 < grid.shape[1] / grid.shape[0] < 1.25
    rows = imread(paths[0])
    assert rows.shape[1] > 1.5 * rows.shape[0]


def test_grid_latents_layout() -> None:
    values = np.linspace(-2.0, 2.0, 3)
    z = grid_latents(np.array([0.0, 7.0, 0.0]), 0, 2, values)
    assert z.shape == (9, 3)
    np.testing.assert_allclose(z[0], [-2.0, 7.0, 2.0])  # top left: z_i low, z_j high
    np.testing.assert_allclose(z[2], [2.0, 7.0, 2.0])
    np.testing.assert_allclose(z[8], [2.0, 7.0, -2.0])


def test_traversal_center_mean_uses_training_latents() -> None:
    ctx = make_ctx()
    np.testing.assert_allclose(Traversal(center="mean").center_point(ctx),
                               ctx.latents["train"].mean(axis=0))
    np.testing.assert_allclose(Traversal().center_point(ctx), 0.0)


def test_trajectory_rows() -> None:
    ctx = make_ctx(latent_dim=3)
    traj = Trajectory(steps=5).trajectories(ctx)
    # 3 latent axes + 2 factor lines + 1 circle
    assert len(traj) == 6
    assert all(z.shape == (5, 3) for _, z in traj)
    circle = traj[-1][1]
    np.testing.assert_allclose(circle[0], circle[-1], atol=1e-12)
    one = Trajectory().trajectories(make_ctx(latent_dim=1))
    assert len(one) == 1 + 2  # no circle in one dimension


def test_latent_scatter_subsample_is_deterministic(tmp_path: Path) -> None:
    a, b = seeded_rows(10_000, 3000, seed=0), seeded_rows(10_000, 3000, seed=0)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 3000 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(seeded_rows(5, 3000, seed=0), np.arange(5))
    ctx = make_ctx(latent_dim=5)
    for projection in ("pca", "first2"):
        sub = tmp_path / projection
        sub.mkdir()
        assert_png(LatentScatter(projection=projection, max_points=20).write(ctx, sub)[0])


def test_holdout_outline_grid_crosses_zero() -> None:
    space = LatentSpace((Factor("a", 0.5, 2.0), Factor("b", 0.0, 2.0), Factor("c", 0.0, 1.0)))
    for region in (Ball({"a": 1.25, "b": 1.0}, 0.3), Box({"a": 1.0, "b": 0.5}, {"a": 1.5, "b": 1.5}),
                   ~Ball({"a": 1.25, "b": 1.0}, 0.3) & Ball({"a": 1.25, "b": 1.0}, 0.6)):
        xs, ys, depth = holdout_depth_grid(region, space, 0, 1, n=51)
        assert depth.shape == (51, 51) and xs.shape == (51,) and ys.shape == (51,)
        assert depth.min() < 0 < depth.max()


def test_bad_parameters_raise_clear_errors(tmp_path: Path) -> None:
    ctx = make_ctx(latent_dim=3)
    with pytest.raises(PluginParameterError, match="pairs"):
        Traversal(pairs=[[0, 5]]).write(ctx, tmp_path)
    with pytest.raises(PluginParameterError, match="grid"):
        Traversal(grid=1).write(ctx, tmp_path)
    with pytest.raises(PluginParameterError, match='Did you mean "a"'):
        ErrorMap(x="aa").write(ctx, tmp_path)
    with pytest.raises(PluginParameterError, match="both"):
        ErrorMap(x="a", y="a").write(ctx, tmp_path)
    with pytest.raises(PluginParameterError, match="planes"):
        Trajectory(planes=[[1, 1]]).write(ctx, tmp_path)
    with pytest.raises(PluginParameterError, match="projection"):
        LatentScatter(projection="tsne").write(ctx, tmp_path)  # type: ignore[arg-type]
