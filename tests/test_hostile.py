"""Bad input, tried as a hostile new user would: every case must end in a clear error.

Each case runs the CLI in-process (``zsbench.cli.main``) and asserts the exit code, that no
traceback is printed, and that the message names the file or key and gives a fix. Nothing
here trains a torch model: suite problems are caught by ``zsbench validate``, and run-folder
problems use the toy plugins of ``tests/toy_plugins.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from generative_toys import ReplayModel

from zsbench.cli import main
from zsbench.plugin import Dataset, Model, to_float

POLAR = """
[suite]
name = "hostile"
seeds = [0]

[dataset]
plugin = "polar"
n_samples = 200
image_size = 16

[[holdout]]
shape = "ball"
center = { a = 1.25, b = 1.0 }
radius = 0.3

[[transect]]
name = "P1"
start = { a = 0.5, b = 1.0 }
end = { a = 2.0, b = 1.0 }
points = 5

[[model]]
plugin = "vae"
label = "vae"
epochs = 1

[[model]]
plugin = "ae"
label = "ae"
epochs = 1

[[metric]]
plugin = "holdout_reconstruction"

[[metric]]
plugin = "probe"

[[metric]]
plugin = "transect"

[[output]]
plugin = "error_map"

[leaderboard]
columns = ["hole_bce", "test_bce"]
sort = "hole_bce"

[profiles.smoke]
model.epochs = 1
"""

Edit = Callable[[str], str]


def R(old: str, new: str) -> Edit:
    """Replace ``old`` (which must occur) by ``new``."""
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


def A(extra: str) -> Edit:
    """Append TOML."""
    return lambda text: text + "\n" + extra + "\n"


def _assert_clear(rc: int, err: str, expected_rc: int, *needles: str) -> None:
    assert rc == expected_rc, err
    assert "Traceback" not in err, err
    assert "zsbench: error:" in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def _clear_error(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str,
                 rc: int = 2, fix: bool = True) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err
    _assert_clear(code, err, rc, *needles)
    assert "Traceback" not in captured.out
    if fix:
        assert "Fix:" in err or "fix" in err.lower(), err
    return err


# --------------------------------------------------------------------------------------
# Suites that validate must refuse (key expected in the message)
SUITE_CASES: list[tuple[str, Edit, str]] = [
    # [suite]
    ("negative data_seed", R('seeds = [0]', 'seeds = [0]\ndata_seed = -1'), "suite.data_seed"),
    ("huge data_seed", R('seeds = [0]', 'seeds = [0]\ndata_seed = 18446744073709551616'),
     "suite.data_seed"),
    ("negative seed", R('seeds = [0]', 'seeds = [-3]'), "suite.seeds"),
    ("empty seeds", R('seeds = [0]', 'seeds = []'), "suite.seeds"),
    ("repeated seeds", R('seeds = [0]', 'seeds = [1, 1]'), "suite.seeds"),
    ("string seeds", R('seeds = [0]', 'seeds = "0"'), "suite.seeds"),
    ("bool seed", R('seeds = [0]', 'seeds = [true]'), "suite.seeds"),
    ("name with ../", R('name = "hostile"', 'name = "../escape"'), "suite.name"),
    ("absolute name", R('name = "hostile"', 'name = "/tmp/escape"'), "suite.name"),
    ("name with slash", R('name = "hostile"', 'name = "a/b"'), "suite.name"),
    ("hidden name", R('name = "hostile"', 'name = ".hidden"'), "suite.name"),
    ("empty name", R('name = "hostile"', 'name = ""'), "suite.name"),
    ("name with backslash", R('name = "hostile"', 'name = "a\\\\b"'), "suite.name"),
    ("name not a string", R('name = "hostile"', 'name = 3'), "suite.name"),
    ("unknown suite key", R('seeds = [0]', 'seeds = [0]\nseed = 1'), "suite.seed"),
    ("profile name with ../", A('[profiles."../up"]\nmodel.epochs = 1'), "profiles.../up"),
    ("profile with slash", A('[profiles."a/b"]\nmodel.epochs = 1'), "profiles.a/b"),
    ("suite is not a table", R('[suite]\nname = "hostile"\nseeds = [0]', 'suite = 3'), "suite"),
    ("unknown section", A('[extras]\nx = 1'), "extras"),
    ("executor not a table", lambda t: "executor = [1]\n" + t, "executor"),
    # [dataset]
    ("no dataset", R('[dataset]\nplugin = "polar"\nn_samples = 200\nimage_size = 16', ''),
     "dataset"),
    ("unknown dataset", R('plugin = "polar"', 'plugin = "polra"'), "dataset.plugin"),
    ("dataset n_samples 0", R('n_samples = 200', 'n_samples = 0'), "dataset.n_samples"),
    ("dataset image_size 4", R('image_size = 16', 'image_size = 4'), "dataset.image_size"),
    ("dataset unknown key", R('image_size = 16', 'image_size = 16\nsize = 3'), "dataset.size"),
    ("dataset wrong type", R('n_samples = 200', 'n_samples = "many"'), "dataset.n_samples"),
    ("dataset line_width nan", R('image_size = 16', 'image_size = 16\nline_width = nan'),
     "dataset.line_width"),
    ("terabytes of images", R('n_samples = 200\nimage_size = 16',
                              'n_samples = 1000000\nimage_size = 100000'), "dataset"),
    # [splits]
    ("test_fraction 1", A('[splits]\ntest_fraction = 1.0'), "splits.test_fraction"),
    ("negative fraction", A('[splits]\nvalidation_fraction = -0.1'),
     "splits.validation_fraction"),
    ("fractions leave nothing", A('[splits]\ntest_fraction = 0.5\nvalidation_fraction = 0.45'),
     "splits"),
    ("splits unknown key", A('[splits]\ntrain_fraction = 0.5'), "splits.train_fraction"),
    # regions
    ("ball radius nan", R('radius = 0.3', 'radius = nan'), "holdout[0].radius"),
    ("ball radius inf", R('radius = 0.3', 'radius = inf'), "holdout[0].radius"),
    ("ball radius 0", R('radius = 0.3', 'radius = 0'), "holdout[0].radius"),
    ("ball centre nan", R('center = { a = 1.25, b = 1.0 }', 'center = { a = nan, b = 1.0 }'),
     "holdout[0].center.a"),
    ("ball centre outside", R('center = { a = 1.25, b = 1.0 }',
                              'center = { a = 9.0, b = 1.0 }'), "holdout[0].center.a"),
    ("ball centre unknown factor", R('center = { a = 1.25, b = 1.0 }',
                                     'center = { q = 1.25, b = 1.0 }'), "holdout[0].center.q"),
    ("ball centre empty", R('center = { a = 1.25, b = 1.0 }', 'center = {}'),
     "holdout[0].center"),
    ("ball scale 0", R('radius = 0.3', 'radius = 0.3\nscale = { a = 0 }'), "holdout[0].scale"),
    ("ball unknown key", R('radius = 0.3', 'radius = 0.3\nradious = 1'),
     "holdout[0].radious"),
    ("unknown shape", R('shape = "ball"', 'shape = "blob"'), "holdout[0].shape"),
    ("halfspace zero normal", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                                'shape = "halfspace"\nnormal = { a = 0, b = 0 }\noffset = 1'),
     "holdout[0].normal"),
    ("halfspace nan normal", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                               'shape = "halfspace"\nnormal = { a = nan }'),
     "holdout[0].normal.a"),
    ("halfspace nan offset", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                               'shape = "halfspace"\nnormal = { a = 1 }\noffset = nan'),
     "holdout[0].offset"),
    ("annulus negative inner", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                                 'shape = "annulus"\ncenter = { a = 1.25, b = 1.0 }\n'
                                 'inner = -0.1\nouter = 0.3'), "holdout[0].inner"),
    ("annulus inner above outer", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\n'
                                    'radius = 0.3', 'shape = "annulus"\ncenter = { a = 1.25, '
                                    'b = 1.0 }\ninner = 0.5\nouter = 0.3'), "holdout[0].inner"),
    ("box low above high", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                             'shape = "box"\nlow = { a = 1.5 }\nhigh = { a = 1.0 }'),
     "holdout[0].low.a"),
    ("box factors differ", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                             'shape = "box"\nlow = { a = 1.0 }\nhigh = { b = 1.5 }'),
     "holdout[0]"),
    ("union of nothing", R('shape = "ball"\ncenter = { a = 1.25, b = 1.0 }\nradius = 0.3',
                           'shape = "union"\nregions = []'), "holdout[0].regions"),
    ("hole holds no points", R('radius = 0.3', 'radius = 0.3\nscale = { a = 0.0001, '
                               'b = 0.0001 }'), "holdout"),
    # transects
    ("transect outside", R('start = { a = 0.5, b = 1.0 }', 'start = { a = -5.0, b = 1.0 }'),
     "transect[0].start.a"),
    ("transect 1 point", R('points = 5', 'points = 1'), "transect[0].points"),
    ("transect no name", R('name = "P1"\n', ''), "transect[0].name"),
    ("transect zero direction", R('start = { a = 0.5, b = 1.0 }\nend = { a = 2.0, b = 1.0 }',
                                  'through = "hole"\ndirection = { a = 0, b = 0 }'),
     "transect[0]"),
    ("two transects one name", A('[[transect]]\nname = "P1"\nstart = { a = 0.5, b = 0.5 }\n'
                                 'end = { a = 2.0, b = 0.5 }'), "transect"),
    # models: labels
    ("labels collide in files", R('label = "ae"', 'label = "vae"') if False else
     A('[[model]]\nplugin = "ae"\nlabel = "x/y"\n[[model]]\nplugin = "ae"\nlabel = "x_y"'),
     "model"),
    ("labels collide by case", A('[[model]]\nplugin = "ae"\nlabel = "Big"\n[[model]]\n'
                                 'plugin = "ae"\nlabel = "big"'), "model"),
    ("duplicate label", R('label = "ae"', 'label = "vae"'), "model"),
    ("empty label", R('label = "ae"', 'label = " "'), "model[1].label"),
    ("unknown model", R('plugin = "ae"', 'plugin = "aee"'), "model[1].plugin"),
    ("unknown model param", R('label = "ae"', 'label = "ae"\nlatent = 3'), "model[1].latent"),
    ("unknown weighting", R('label = "ae"', 'label = "ae"\nweighting = "none"'),
     "model[1].weighting"),
    ("empty sweep", R('label = "ae"', 'label = "ae"\nlr = []'), "model[1].lr"),
    ("bad value in a sweep", R('label = "ae"', 'label = "ae"\nlr = [0.001, -1.0]'),
     "model[1].lr"),
    ("profile sets a bad value", R('model.epochs = 1', 'model.epochs = -5'), "model[0].epochs"),
    ("e3 body on 16 px", R('label = "ae"', 'label = "ae"\narchitecture = "e3"'),
     "model[1].architecture"),
    ("no model", R('[[model]]\nplugin = "vae"\nlabel = "vae"\nepochs = 1\n\n'
                   '[[model]]\nplugin = "ae"\nlabel = "ae"\nepochs = 1\n', ''), "model"),
    # metrics and outputs naming factors or splits
    ("frobenius unknown split", A('[[metric]]\nplugin = "frobenius"\nsplit = "tset"'),
     "metric[3].split"),
    ("latent_covariance unknown split", A('[[metric]]\nplugin = "latent_covariance"\n'
                                          'split = "all"'), "metric[3].split"),
    ("probe unknown factor", R('plugin = "probe"', 'plugin = "probe"\nfactors = ["a", "z"]'),
     "metric[1].factors"),
    ("probe positive unknown factor", R('plugin = "probe"', 'plugin = "probe"\n'
                                        'positive = { df = 2 }'), "metric[1].positive"),
    ("error_map unknown axis", R('plugin = "error_map"', 'plugin = "error_map"\nx = "radius"'),
     "output[0].x"),
    ("unknown metric", R('plugin = "transect"', 'plugin = "transects"'), "metric[2].plugin"),
    ("unknown output", R('plugin = "error_map"', 'plugin = "errormap"'), "output[0].plugin"),
    ("no metric", R('[[metric]]\nplugin = "holdout_reconstruction"\n\n[[metric]]\n'
                    'plugin = "probe"\n\n[[metric]]\nplugin = "transect"\n', ''), "metric"),
    # leaderboard
    ("unknown column", R('columns = ["hole_bce", "test_bce"]\nsort = "hole_bce"',
                         'columns = ["hole_bse"]'), "leaderboard.columns[0]"),
    ("unknown column without sort", R('columns = ["hole_bce", "test_bce"]\nsort = "hole_bce"',
                                      'columns = ["test_bce", "knn_r2_hole_man"]'),
     "leaderboard.columns[1]"),
    ("unknown sort", R('sort = "hole_bce"', 'sort = "nope"'), "leaderboard.sort"),
    ("sort not a column", R('sort = "hole_bce"', 'sort = "test_mse"'), "leaderboard.sort"),
    ("columns empty", R('columns = ["hole_bce", "test_bce"]', 'columns = []'),
     "leaderboard.columns"),
    ("columns not strings", R('columns = ["hole_bce", "test_bce"]', 'columns = [1]'),
     "leaderboard.columns"),
    ("column twice", R('columns = ["hole_bce", "test_bce"]', 'columns = ["hole_bce", '
                       '"hole_bce"]'), "leaderboard.columns"),
    ("leaderboard unknown key", R('sort = "hole_bce"', 'sort = "hole_bce"\norder = "x"'),
     "leaderboard.order"),
    ("leaderboard not a table", R('[leaderboard]\ncolumns = ["hole_bce", "test_bce"]\n'
                                  'sort = "hole_bce"', ''), "leaderboard") if False else
    ("leaderboard not a table", lambda t: "leaderboard = 1\n" + t.replace(
        '[leaderboard]\ncolumns = ["hole_bce", "test_bce"]\nsort = "hole_bce"', ''),
     "leaderboard"),
    # tolerances
    ("tolerance default a string", A('[tolerances]\ndefault = "x"'), "tolerances"),
    ("tolerance negative", A('[tolerances]\ndefault = { relative = -0.1 }'), "tolerances"),
    ("tolerance nan", A('[tolerances]\ndefault = { absolute = nan }'), "tolerances"),
    ("tolerance unknown key", A('[tolerances]\ndefault = { relativ = 0.1 }'), "tolerances"),
    ("tolerance unknown score", A('[tolerances]\nhole_bse = { relative = 0.1 }'),
     "tolerances.hole_bse"),
    # executor
    ("unknown executor", A('[executor]\nplugin = "mpi"'), "executor.plugin"),
    ("executor unknown option", A('[executor]\nplugin = "process"\nthreads = 2'),
     "executor.threads"),
    # profiles
    ("profile not a table", A('[profiles]\nfast = 3') if False else
     R('[profiles.smoke]\nmodel.epochs = 1', '[profiles]\nsmoke = 3'), "profiles.smoke"),
    ("profile unknown section", R('model.epochs = 1', 'modle.epochs = 1'), "profiles.smoke"),
    ("profile unknown key", R('model.epochs = 1', 'model.epoch = 1'), "profiles.smoke"),
    ("profile section not a table", R('model.epochs = 1', 'model = 1'), "profiles.smoke"),
]


@pytest.mark.parametrize("edit,key", [pytest.param(e, k, id=i) for i, e, k in SUITE_CASES])
def test_validate_refuses_a_bad_suite(edit: Edit, key: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(edit(POLAR), encoding="utf-8")
    _clear_error(capsys, ["validate", str(path), "--profile", "smoke"], str(path), f"[{key}")


def test_the_base_suite_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(POLAR, encoding="utf-8")
    assert main(["validate", str(path), "--profile", "smoke"]) == 0, capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Every invalid model / metric / output parameter value a run would reject
PARAM_CASES: list[tuple[str, str, str, str]] = [
    # (kind, plugin, key, TOML value)
    *[("model", m, k, v) for m in ("vae", "ae") for k, v in [
        ("epochs", "-1"), ("batch_size", "0"), ("batch_size", "-8"), ("latent_dim", "0"),
        ("latent_dim", "-2"), ("lr", "nan"), ("lr", "inf"), ("lr", "-0.001"), ("lr", "0"),
        ("lr_decay", "0"), ("lr_decay", "nan"), ("lr_decay", "-1"), ("early_stopping", "-1"),
        ("optimizer", '"sgd"'), ("device", '"tpu"'), ("reconstruction", '"mse"'),
        ("architecture", '"resnet"'), ("architecture", '"e3"'), ("epochs", "2.5"),
        ("progress", '"yes"'), ("latent_dim", '"3"')]],
    *[("model", "vae", k, v) for k, v in [
        ("kl_weight", "nan"), ("kl_weight", "inf"), ("kl_weight", "-1"),
        ("fixed_sigma", "0"), ("fixed_sigma", "-0.1"), ("fixed_sigma", "nan"),
        ("fixed_sigma", "inf"), ("entanglement_weight", "-1"), ("entanglement_weight", "nan"),
        ("entanglement_weight", "inf")]],
    ("metric", "holdout_reconstruction", "depth_bins", "0"),
    ("metric", "holdout_reconstruction", "depth_bins", "-1"),
    ("metric", "frobenius", "split", '"nope"'),
    ("metric", "frobenius", "split", "3"),
    ("metric", "latent_covariance", "split", '"nope"'),
    ("metric", "probe", "factors", "[]"),
    ("metric", "probe", "factors", '["a", "a"]'),
    ("metric", "probe", "factors", '["zz"]'),
    ("metric", "probe", "probes", '["svm"]'),
    ("metric", "probe", "probes", "[]"),
    ("metric", "probe", "neighbors", "[]"),
    ("metric", "probe", "neighbors", "[0]"),
    ("metric", "probe", "folds", "1"),
    ("metric", "probe", "max_train", "1"),
    ("metric", "probe", "positive", "{ zz = 1 }"),
    ("metric", "transect", "points", "3"),
    ("output", "error_map", "x", '"zz"'),
    ("output", "error_map", "y", '"zz"'),
    ("output", "latent_scatter", "projection", '"tsne"'),
    ("output", "latent_scatter", "max_points", "0"),
    ("output", "trajectory", "steps", "1"),
    ("output", "trajectory", "radius", "0"),
    ("output", "trajectory", "radius", "nan"),
    ("output", "trajectory", "radius", "-1.5"),
    ("output", "trajectory", "planes", "[[0, 0]]"),
    ("output", "trajectory", "planes", "[[0, -1]]"),
    ("output", "traversal", "steps", "1"),
    ("output", "traversal", "grid", "1"),
    ("output", "traversal", "limit", "0"),
    ("output", "traversal", "limit", "nan"),
    ("output", "traversal", "center", '"median"'),
    ("output", "transect_strips", "show_error", '"yes"'),
]


@pytest.mark.parametrize("kind,plugin,key,value",
                         [pytest.param(*c, id=f"{c[1]}.{c[2]}={c[3]}") for c in PARAM_CASES])
def test_validate_refuses_every_bad_plugin_parameter(kind: str, plugin: str, key: str,
                                                     value: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    if kind == "model":
        entry = f'\n[[model]]\nplugin = "{plugin}"\nlabel = "bad"\n{key} = {value}\n'
        index = 2
    elif kind == "metric":
        entry = f'\n[[metric]]\nplugin = "{plugin}"\n{key} = {value}\n'
        index = 3
    else:
        entry = f'\n[[output]]\nplugin = "{plugin}"\n{key} = {value}\n'
        index = 1
    path = tmp_path / "suite.toml"
    path.write_text(POLAR.replace("[leaderboard]", entry + "\n[leaderboard]"), encoding="utf-8")
    _clear_error(capsys, ["validate", str(path)], str(path), f"[{kind}[{index}].{key}]")


def test_a_run_rejects_what_validate_rejects() -> None:
    """The oracle for the table above: building the plugin (as a run does) raises."""
    from zsbench.errors import ZsbenchError
    from zsbench.registry import Registry

    registry = Registry()
    checked = 0
    for kind, plugin, key, value in PARAM_CASES:
        parsed = {"nan": math.nan, "inf": math.inf}.get(value)
        if parsed is None:
            import tomllib

            parsed = tomllib.loads(f"v = {value}")["v"]
        if value in ('"nope"', '["zz"]', "{ zz = 1 }", '"zz"') or key == "architecture" and \
                value == '"e3"':
            continue  # needs the suite's factors, splits or images: covered above
        with pytest.raises((ZsbenchError, ValueError, TypeError)):
            obj = registry.create(kind, plugin, {key: parsed})
            if kind == "model":  # a model may check in fit; a run would call it
                import numpy as np

                obj.fit(np.zeros((4, 1, 16, 16), np.float32), seed=0)
        checked += 1
    assert checked > 50


# --------------------------------------------------------------------------------------
# Suite files that cannot be read
def test_binary_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "suite.toml"
    path.write_bytes(b"\x00\x01\x02PK\x03\x04binary")
    _clear_error(capsys, ["validate", str(path)], str(path), "binary")


def test_suite_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "suite.toml"
    path.write_bytes('[suite]\nname = "caf\u00e9"\n'.encode("latin-1"))
    _clear_error(capsys, ["run", str(path)], str(path), "UTF-8")


def test_unreadable_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(POLAR)
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    _clear_error(capsys, ["validate", str(path)], str(path), "Permission denied")


@pytest.mark.parametrize("make", ["missing", "folder", "toml", "device", "empty"])
def test_suite_path_problems(make: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "suite.toml"
    if make == "device":
        path = Path(os.devnull)
    elif make == "empty":
        path.write_text("")
    elif make == "folder":
        path.mkdir()
    elif make == "toml":
        path.write_text("[suite\nname = 1")
    _clear_error(capsys, ["validate", str(path)], str(path))


# --------------------------------------------------------------------------------------
# Runs and run folders (toy plugins: no torch training)
TOY = """
[suite]
name = "toy"
seeds = [0]

[dataset]
plugin = "toy"
n_samples = 120

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[model]]
plugin = "linear"
label = "pca2"

[[metric]]
plugin = "mse"

[profiles.smoke]
dataset.n_samples = 100
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    monkeypatch.setenv("ZSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Traceback" not in out.out
    return rc, out.out, out.err


def test_dotdot_names_never_leave_the_results_folder(toy: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "area" / "results"
    for name in ("../../escaped", "/tmp/zsbench-escaped", "..", "a/../../b"):
        toy.write_text(TOY.replace('name = "toy"', f'name = "{name}"'))
        _clear_error(capsys, ["run", str(toy), "--results", str(results)], "[suite.name]")
    toy.write_text(TOY.replace("[profiles.smoke]", '[profiles."../../up"]'))
    _clear_error(capsys, ["run", str(toy), "--results", str(results), "--profile", "../../up"],
                 "[profiles.../../up]")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "up").exists()
    assert not Path("/tmp/zsbench-escaped").exists()
    # a good run lands directly inside the results folder
    toy.write_text(TOY)
    rc, out, _ = _run(["run", str(toy), "--results", str(results), "--profile", "smoke"],
                      capsys)
    assert rc == 0
    made = [p for p in (tmp_path / "area").rglob("*") if p.is_dir() and p.parent == results]
    assert len(made) == 1 and made[0].name.startswith("toy-smoke-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["area", "cache", "toy.toml"]


def test_out_and_results_that_are_files(toy: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    _clear_error(capsys, ["run", str(toy), "--out", str(a_file)], str(a_file))
    _clear_error(capsys, ["run", str(toy), "--results", str(a_file)], str(a_file))
    _clear_error(capsys, ["run", str(toy), "--out", str(a_file / "run")], str(a_file))
    assert a_file.read_text() == "x"


def test_out_onto_another_run_is_refused_unless_forced(toy: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out)], capsys)[0] == 0
    before = (out / "metrics.json").read_text()
    other = tmp_path / "other.toml"
    other.write_text(TOY.replace('name = "toy"', 'name = "other"'))
    _clear_error(capsys, ["run", str(other), "--out", str(out)], str(out), "--force")
    _clear_error(capsys, ["run", str(toy), "--out", str(out)], str(out), "--resume")
    assert (out / "metrics.json").read_text() == before
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    _clear_error(capsys, ["run", str(toy), "--out", str(tmp_path / "notes")], "not empty")
    assert _run(["run", str(other), "--out", str(out), "--force"], capsys)[0] == 0


@pytest.mark.slow  # a whole run folder (6-10 s): CI's slow step
def test_resume_with_other_seeds_loses_nothing(toy: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out), "--seeds", "0,1"], capsys)[0] == 0
    first = {(r["label"], r["seed"]): r["scores"]
             for r in json.loads((out / "metrics.json").read_text())["results"]}
    (out / ".metrics.json.abc123.tmp").write_text("half-written")
    rc, _, err = _run(["run", str(toy), "--resume", str(out), "--seeds", "2"], capsys)
    assert rc == 0
    assert "every finished result is kept" in err
    results = json.loads((out / "metrics.json").read_text())["results"]
    after = {(r["label"], r["seed"]): r["scores"] for r in results}
    assert sorted(after) == [("pca2", 0), ("pca2", 1), ("pca2", 2)]
    for key, scores in first.items():
        assert after[key] == scores
    assert json.loads((out / "manifest.json").read_text())["seeds"] == [0, 1, 2]
    assert not list(out.rglob(".*.tmp"))


def test_resume_refuses_another_profile(toy: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out)], capsys)[0] == 0
    _clear_error(capsys, ["run", str(toy), "--resume", str(out), "--profile", "smoke"],
                 str(out), "profile")
    _clear_error(capsys, ["run", str(toy), "--resume", str(tmp_path / "nowhere")], "nowhere")
    (out / "manifest.json").write_text("{ not json")
    _clear_error(capsys, ["run", str(toy), "--resume", str(out)], "manifest.json")


def test_ctrl_c_before_the_first_job_can_be_resumed(toy: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import zsbench.run

    out = tmp_path / "run"

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(zsbench.run, "prepare_data", interrupted)
        err = _clear_error(capsys, ["run", str(toy), "--out", str(out)], "--resume", rc=130,
                           fix=False)
    assert f"--resume {out}" in err
    assert _run(["run", str(toy), "--resume", str(out)], capsys)[0] == 0
    assert (out / "leaderboard.md").is_file()


def test_internal_error_has_its_own_exit_code_and_a_log(toy: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    import zsbench.run

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("an unexpected bug")

    out = tmp_path / "run"
    monkeypatch.setattr(zsbench.run, "prepare_data", bug)
    rc = main(["run", str(toy), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 4
    assert "Traceback" not in err and "an unexpected bug" in err
    log = out / "zsbench-crash.log"
    assert str(log) in err
    assert "Traceback" in log.read_text() and "RuntimeError" in log.read_text()


@pytest.mark.parametrize("argv,needle", [
    (["--seeds", "a,b"], "--seeds"),
    (["--seeds", "-1"], "--seeds"),
    (["--seeds", "1,1"], "--seeds"),
    (["--seeds", ""], "--seeds"),
    (["--threads", "0"], "--threads"),
    (["--executor", "local", "--workers", "2"], "--workers"),
    (["--workers", "-1"], "workers"),
    (["--executor", "mpi"], "mpi"),
    (["--resume", "x", "--out", "y"], "--resume"),
    (["--profile", "nope"], "profiles.nope"),
])
def test_bad_run_options(argv: list[str], needle: str, toy: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    _clear_error(capsys, ["run", str(toy), *argv], needle)


# --------------------------------------------------------------------------------------
# Cache
def test_cache_path_that_is_a_file(toy: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "cachefile"
    a_file.write_text("x")
    _clear_error(capsys, ["cache", "ls", "--cache-dir", str(a_file)], str(a_file))
    _clear_error(capsys, ["cache", "clear", "--cache-dir", str(a_file)], str(a_file))
    rc, _, err = _run(["run", str(toy), "--cache-dir", str(a_file), "--out",
                       str(tmp_path / "run")], capsys)
    assert rc == 0 and "without the cache" in err and a_file.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into a read-only folder")
def test_read_only_cache_runs_without_it(toy: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc, _, err = _run(["run", str(toy), "--cache-dir", str(ro), "--out",
                           str(tmp_path / "run")], capsys)
    finally:
        ro.chmod(0o700)
    assert rc == 0 and "not writable" in err


def test_cache_clear_removes_only_zsbench_entries(toy: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "c"
    assert _run(["run", str(toy), "--cache-dir", str(cache), "--out", str(tmp_path / "r")],
                capsys)[0] == 0
    mine = [cache / "models" / "ab" / ("ab" + "0" * 62), cache / "datasets" / "xx" / "notes"]
    for folder in mine:
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text('{"hello": 1}')
        (folder / "precious.txt").write_text("keep")
    (cache / "models" / "loose.txt").write_text("keep")
    rc, out, err = _run(["cache", "ls", "--cache-dir", str(cache)], capsys)
    assert rc == 0 and "not a zsbench cache entry" in err
    assert out.count("models") == 1 and out.count("datasets") == 1
    rc, out, _ = _run(["cache", "clear", "--cache-dir", str(cache)], capsys)
    assert rc == 0 and "removed 2 cache entries" in out
    for folder in mine:
        assert (folder / "precious.txt").read_text() == "keep"
    assert (cache / "models" / "loose.txt").is_file()


@pytest.mark.parametrize("damage", ["meta-not-json", "meta-a-list", "meta-wrong-key",
                                    "payload-not-npz", "payload-wrong-arrays"])
def test_malformed_cache_entry_is_reported_and_recomputed(damage: str, toy: Path,
                                                          tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    import hashlib

    import numpy as np

    cache = tmp_path / "c"
    assert _run(["run", str(toy), "--cache-dir", str(cache), "--out", str(tmp_path / "r1")],
                capsys)[0] == 0
    entry = next((cache / "datasets").glob("*/*/meta.json")).parent
    meta = json.loads((entry / "meta.json").read_text())
    if damage == "meta-not-json":
        (entry / "meta.json").write_text("{")
    elif damage == "meta-a-list":
        (entry / "meta.json").write_text("[1, 2]")
    elif damage == "meta-wrong-key":
        (entry / "meta.json").write_text(json.dumps({**meta, "key": "0" * 64}))
    else:
        payload = entry / "data.npz"
        if damage == "payload-not-npz":
            payload.write_bytes(b"not a zip")
        else:
            with open(payload, "wb") as fh:
                np.savez(fh, factors=np.zeros(3), images=np.zeros(2))
        meta["sha256"] = hashlib.sha256(payload.read_bytes()).hexdigest()
        (entry / "meta.json").write_text(json.dumps(meta))
    rc, _, err = _run(["run", str(toy), "--cache-dir", str(cache), "--out",
                       str(tmp_path / "r2")], capsys)
    assert rc == 0
    assert "recomputing" in err
    first = json.loads((tmp_path / "r1" / "metrics.json").read_text())["results"]
    second = json.loads((tmp_path / "r2" / "metrics.json").read_text())["results"]
    assert [r["scores"] for r in first] == [r["scores"] for r in second]


# --------------------------------------------------------------------------------------
# Run folders read back, baselines
@pytest.fixture
def finished_run(toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out)], capsys)[0] == 0
    return out


@pytest.mark.parametrize("damage,rc", [
    ("suite-binary", 0), ("suite-not-toml", 0), ("metrics-not-json", 2),
    ("metrics-a-list", 2), ("manifest-a-list", 2), ("no-metrics", 2), ("not-a-folder", 2),
])
def test_leaderboard_of_a_damaged_run_folder(damage: str, rc: int, finished_run: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    if damage == "suite-binary":
        (finished_run / "suite.toml").write_bytes(b"\xff\xfe\x00junk")
    elif damage == "suite-not-toml":
        (finished_run / "suite.toml").write_text("[leaderboard\ncolumns = 3")
    elif damage == "metrics-not-json":
        (finished_run / "metrics.json").write_text("{")
    elif damage == "metrics-a-list":
        (finished_run / "metrics.json").write_text("[]")
    elif damage == "manifest-a-list":
        (finished_run / "manifest.json").write_text("[]")
    elif damage == "no-metrics":
        (finished_run / "metrics.json").unlink()
    target = finished_run / "metrics.json" if damage == "not-a-folder" else finished_run
    if damage == "not-a-folder":
        target = finished_run / "leaderboard.md"
    if rc == 0:
        code, out, err = _run(["leaderboard", str(target)], capsys)
        assert code == 0 and "pca2" in out and "suite.toml" in err
    else:
        _clear_error(capsys, ["leaderboard", str(target)], str(target))


def test_leaderboard_unknown_column(finished_run: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    _clear_error(capsys, ["leaderboard", str(finished_run), "--columns", "nope"], "nope")


def _baseline(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    base = tmp_path / "base.json"
    assert _run(["baseline", str(finished_run), "--out", str(base)], capsys)[0] == 0
    return base


def _first_score(data: dict) -> dict:
    model = next(iter(data["models"].values()))
    return next(iter(model["scores"].values()))


@pytest.mark.parametrize("damage", [
    "format-2", "no-format", "mean-string", "mean-missing", "mean-nan", "mean-inf",
    "all-null", "models-empty", "scores-missing", "direction-missing", "not-json",
    "a-list", "std-string",
])
def test_a_broken_baseline_is_an_error_never_a_pass(damage: str, finished_run: Path,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    base = _baseline(finished_run, tmp_path, capsys)
    data = json.loads(base.read_text())
    text = None
    if damage == "format-2":
        data["format"] = 2
    elif damage == "no-format":
        del data["format"]
    elif damage == "mean-string":
        _first_score(data)["mean"] = "0.1"
    elif damage == "mean-missing":
        del _first_score(data)["mean"]
    elif damage in ("mean-nan", "mean-inf"):
        _first_score(data)["mean"] = "NAN" if damage == "mean-nan" else "INF"
        text = json.dumps(data).replace('"NAN"', "NaN").replace('"INF"', "Infinity")
    elif damage == "all-null":
        for model in data["models"].values():
            for score in model["scores"].values():
                score["mean"] = score["std"] = None
    elif damage == "models-empty":
        data["models"] = {}
    elif damage == "scores-missing":
        del next(iter(data["models"].values()))["scores"]
    elif damage == "direction-missing":
        del _first_score(data)["higher_is_better"]
    elif damage == "std-string":
        _first_score(data)["std"] = "small"
    elif damage == "not-json":
        text = "{"
    elif damage == "a-list":
        text = "[]"
    base.write_text(text if text is not None else json.dumps(data))
    _clear_error(capsys, ["check", str(finished_run), "--baseline", str(base)], str(base))


def test_baseline_out_problems(finished_run: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    _clear_error(capsys, ["baseline", str(finished_run), "--out", str(tmp_path)], str(tmp_path))
    manifest = json.loads((finished_run / "manifest.json").read_text())
    manifest["suite"]["name"] = "../../escaped"
    (finished_run / "manifest.json").write_text(json.dumps(manifest))
    _clear_error(capsys, ["baseline", str(finished_run)], "--out")
    assert not (tmp_path.parent / "escaped.json").exists()


def test_markdown_leaderboard_escapes_labels(toy: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    toy.write_text(TOY.replace('label = "pca2"', 'label = "a|b"'))
    out = tmp_path / "run"
    rc, printed, _ = _run(["run", str(toy), "--out", str(out)], capsys)
    assert rc == 0
    table = (out / "leaderboard.md").read_text().splitlines()
    assert "a\\|b" in table[2]
    assert len({line.count("|") - line.count("\\|") for line in table}) == 1
    base = tmp_path / "base.json"
    assert _run(["baseline", str(out), "--out", str(base)], capsys)[0] == 0
    rc, printed, _ = _run(["check", str(out), "--baseline", str(base)], capsys)
    assert rc == 0 and "a\\|b" in printed
    from zsbench.results import markdown_cell

    assert markdown_cell("x\ny|z") == "x y\\|z"


# --------------------------------------------------------------------------------------
# Git: nothing from the suite's repository runs
def _hostile_repo(root: Path, marker: Path) -> str:
    sha = "0123456789abcdef0123456789abcdef01234567"
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(sha + "\n")
    hook = root / "evil.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    (git / "config").write_text(f"[core]\n\tfsmonitor = {hook}\n\tpager = {hook}\n"
                                f"[alias]\n\tstatus = !{hook}\n")
    (git / "hooks").mkdir()
    for name in ("post-checkout", "pre-commit", "fsmonitor-watchman"):
        (git / "hooks" / name).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (git / "hooks" / name).chmod(0o755)
    return sha


def test_a_hostile_fsmonitor_repository_runs_nothing(toy: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    repo = tmp_path / "downloaded"
    (repo / "suites").mkdir(parents=True)
    marker = tmp_path / "PWNED"
    sha = _hostile_repo(repo, marker)
    suite = repo / "suites" / "toy.toml"
    suite.write_text(TOY)
    out = tmp_path / "run"
    assert _run(["run", str(suite), "--out", str(out)], capsys)[0] == 0
    assert not marker.exists()
    assert json.loads((out / "manifest.json").read_text())["git_revision"] == sha


def test_git_revision_reads_packed_refs_and_worktrees(tmp_path: Path) -> None:
    from zsbench.run import git_revision

    sha = "89abcdef0123456789abcdef0123456789abcdef"
    main_git = tmp_path / "main" / ".git"
    (main_git / "worktrees" / "wt").mkdir(parents=True)
    (main_git / "HEAD").write_text("ref: refs/heads/main\n")
    (main_git / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/main\n"
                                          f"{'1' * 40} refs/heads/other\n")
    assert git_revision(tmp_path / "main") == sha
    wt = tmp_path / "wt"
    (wt / "sub").mkdir(parents=True)
    (wt / ".git").write_text(f"gitdir: {main_git / 'worktrees' / 'wt'}\n")
    (main_git / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/other\n")
    (main_git / "worktrees" / "wt" / "commondir").write_text("../..\n")
    assert git_revision(wt / "sub") == "1" * 40
    (main_git / "HEAD").write_text("ref: refs/heads/../../../etc/passwd\n")
    assert git_revision(tmp_path / "main") is None
    assert git_revision(tmp_path / "nowhere") is None


class _BlobRenderer(Model):
    """A conditional generator that renders the requested blobs exactly."""

    name = "blob_renderer"

    def __init__(self, dataset: Dataset | None = None) -> None:
        self.dataset = dataset

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        return to_float(self.dataset.render(np.clip(factors, 0.0, 1.0)))


def test_declared_score_names_cover_every_score() -> None:
    """What validation checks columns and tolerances against is what metrics produce: each
    standard metric's ``score_names`` covers every score its ``compute`` returns."""
    import fnmatch

    from zsbench.plugin import SuitePlan
    from zsbench.registry import Registry
    from zsbench.testing import make_eval_context

    ctx = make_eval_context()
    plan = SuitePlan(space=ctx.space, splits=tuple(ctx.splits),
                     transects=tuple(t.name for t in ctx.transects))
    registry = Registry(autoload=False)
    checked = 0
    for info in registry.all():
        if info.kind != "metric" or info.distribution != "zsbench":
            continue
        metric = registry.create("metric", info.name, {})
        declared = metric.score_names(plan)
        assert declared is not None, f"{info.name} does not declare its score names"
        # metrics that need a prior or a latent search see a model that offers both
        model_ctx = ctx
        if info.name in ("prior_coverage", "reachability"):
            model = ReplayModel().fit(ctx.splits["train"].images, seed=0)
            model_ctx = dataclasses.replace(ctx, model=model, memo={})
        if info.name in ("conditional_generation", "over_prompting"):  # renders exactly
            model_ctx = dataclasses.replace(ctx, model=_BlobRenderer(ctx.dataset), memo={})
        undeclared = [k for k in metric.compute(model_ctx)
                      if not any(fnmatch.fnmatchcase(k, p) for p in declared)]
        assert not undeclared, (info.name, undeclared)
        checked += 1
    assert checked >= 5
