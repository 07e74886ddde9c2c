"""Suites: reading, profiles, sweeps, and one clear error per kind of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import TOY_SUITE
from zsbench.errors import SuiteError
from zsbench.runner import prepare_data
from zsbench.suite import load_suite


def test_valid_suite_loads(toy_registry, write_suite) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    assert suite.name == "toy"
    assert suite.seeds == [0, 1]
    assert [m.label for m in suite.models] == ["pca2", "pca1-weighted"]
    assert suite.models[1].weighting == "low_b"
    assert suite.transects[0].points.shape == (9, 2)
    assert len(suite.config_hash) == 16


def test_profile_overrides_dataset_and_every_model(toy_registry, write_suite) -> None:
    path = write_suite()
    suite = load_suite(path, profile="smoke", registry=toy_registry)
    assert suite.dataset.params["n_samples"] == 120
    assert [m.params["latent_dim"] for m in suite.models] == [1, 1]
    assert suite.config_hash != load_suite(path, registry=toy_registry).config_hash


def test_profile_targets_one_model_by_label(toy_registry, write_suite) -> None:
    text = TOY_SUITE + '\n[profiles.one]\nmodel.pca2 = { latent_dim = 3 }\n'
    suite = load_suite(write_suite(text), profile="one", registry=toy_registry)
    assert [m.params.get("latent_dim") for m in suite.models] == [3, 1]


def test_sweep_expands_into_labelled_rows(toy_registry, write_suite) -> None:
    text = TOY_SUITE.replace('label = "pca2"', 'label = "pca"\nlatent_dim = [1, 2, 3]')
    suite = load_suite(write_suite(text), registry=toy_registry)
    labels = [m.label for m in suite.models]
    assert labels[:3] == ["pca[latent_dim=1]", "pca[latent_dim=2]", "pca[latent_dim=3]"]


BAD = [
    # (description, transform of the suite text, key named, words of the fix)
    ("invalid toml", lambda s: s + "\n[suite\n", "", "line"),
    ("unknown section", lambda s: s + "\n[modle]\nx = 1\n", "modle", 'did you mean "model"'),
    ("unknown suite key", lambda s: s.replace("seeds =", "seed = 3\nseeds ="),
     "suite.seed", 'did you mean "seeds"'),
    ("wrong type", lambda s: s.replace("seeds = [0, 1]", 'seeds = "0"'), "suite.seeds",
     "array"),
    ("unknown model plugin", lambda s: s.replace('plugin = "linear"\nlabel = "pca2"',
                                                 'plugin = "linaer"\nlabel = "pca2"'),
     "model[0].plugin", 'did you mean "linear"'),
    ("unknown dataset plugin", lambda s: s.replace('plugin = "toy"', 'plugin = "tyo"'),
     "dataset.plugin", "zsbench plugins"),
    ("unknown model parameter", lambda s: s.replace('label = "pca2"',
                                                    'label = "pca2"\nlatent_dm = 3'),
     "model[0].latent_dm", 'did you mean "latent_dim"'),
    ("wrong parameter type", lambda s: s.replace('label = "pca2"',
                                                 'label = "pca2"\nlatent_dim = "two"'),
     "model[0].latent_dim", "int"),
    ("literal parameter", lambda s: s.replace('label = "pca2"', 'label = "pca2"\nmode = "x"'),
     "model[0].mode", "'ok'"),
    ("unknown factor", lambda s: s.replace("center = { a = 0.5, b = 0.5 }",
                                           "center = { a = 0.5, c = 0.5 }"),
     "holdout[0].center.c", "factors: a, b"),
    ("region outside the space", lambda s: s.replace("center = { a = 0.5, b = 0.5 }",
                                                     "center = { a = 5.0, b = 0.5 }"),
     "holdout[0].center.a", "inside the bounds"),
    ("unknown shape", lambda s: s.replace('shape = "ball"', 'shape = "bal"'),
     "holdout[0].shape", 'did you mean "ball"'),
    ("negative radius", lambda s: s.replace("radius = 0.2", "radius = -0.2"),
     "holdout[0].radius", "positive"),
    ("transect outside the space", lambda s: s.replace("end = { a = 1.0, b = 0.5 }",
                                                       "end = { a = 1.5, b = 0.5 }"),
     "transect[0].end.a", "inside the bounds"),
    ("transect missing a factor", lambda s: s.replace("end = { a = 1.0, b = 0.5 }",
                                                      "end = { a = 1.0 }"),
     "transect[0].end", "fixed"),
    ("duplicate labels", lambda s: s.replace('label = "pca1-weighted"', 'label = "pca2"'),
     "model", "unique label"),
    ("unknown weighting", lambda s: s.replace('weighting = "low_b"', 'weighting = "small_b"'),
     "model[1].weighting", "low_b"),
    ("no model", lambda s: s.split("[[model]]")[0] + "[[metric]]\nplugin = \"mse\"\n", "model",
     "[[model]]"),
    ("bad split fraction", lambda s: s + "\n[splits]\ntest_fraction = 1.5\n",
     "splits.test_fraction", "fraction"),
]


@pytest.mark.parametrize("what,change,key,fix", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_key_and_fix(toy_registry, write_suite, what, change, key,
                                          fix) -> None:
    path = write_suite(change(TOY_SUITE))
    with pytest.raises(SuiteError) as info:
        load_suite(path, registry=toy_registry)
    message = str(info.value)
    assert str(path) in message
    assert info.value.key == key, message
    assert fix in message, message
    assert "\n" not in message.strip()


def test_unknown_profile(toy_registry, write_suite) -> None:
    with pytest.raises(SuiteError, match='no profile "smok".*did you mean "smoke"'):
        load_suite(write_suite(), profile="smok", registry=toy_registry)


def test_profile_key_no_plugin_accepts(toy_registry, write_suite) -> None:
    text = TOY_SUITE + "\n[profiles.bad]\nmodel.epochs = 2\n"
    with pytest.raises(SuiteError) as info:
        load_suite(write_suite(text), profile="bad", registry=toy_registry)
    assert info.value.key == "profiles.bad.model.epochs"


def test_missing_file_is_a_suite_error(toy_registry, tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "nope.toml", registry=toy_registry)


def test_empty_hole_is_rejected_before_training(toy_registry, write_suite) -> None:
    text = TOY_SUITE.replace("center = { a = 0.5, b = 0.5 }\nradius = 0.2",
                             "center = { a = 0.0, b = 0.0 }\nradius = 0.001")
    suite = load_suite(write_suite(text), registry=toy_registry)
    with pytest.raises(SuiteError) as info:
        prepare_data(suite, toy_registry, render=False)
    assert info.value.key == "holdout"
    assert re.search(r"contains none of the \d+ data points", str(info.value))
    assert "enlarge the region" in str(info.value)


def test_holdout_that_leaves_no_training_data(toy_registry, write_suite) -> None:
    text = TOY_SUITE.replace('shape = "ball"\ncenter = { a = 0.5, b = 0.5 }\nradius = 0.2',
                             'shape = "box"\nlow = { a = 0.0 }\nhigh = { a = 1.0 }')
    suite = load_suite(write_suite(text), registry=toy_registry)
    with pytest.raises(SuiteError, match="leave 0 of 300 points for training"):
        prepare_data(suite, toy_registry, render=False)


def test_standard_suites_validate() -> None:
    from conftest import REPO
    from zsbench.registry import Registry

    registry = Registry()
    if not registry.names("model"):
        pytest.skip("standard plugins not installed")
    for path in sorted((REPO / "suites").glob("*.toml")):
        suite = load_suite(path, registry=registry)
        assert suite.models, path
        import tomllib

        for profile in tomllib.loads(path.read_text()).get("profiles", {}):
            load_suite(path, profile=profile, registry=registry)


def test_every_conditional_suite_has_a_cpu_profile_the_readme_reports() -> None:
    """A suite with a conditional generator (a model asked for factors) states the CPU
    budget chosen from its learning curve, and the README's table of CPU profiles names it
    (or the suite it shares its curve with)."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    conditional = {"cvae", "diffusion", "factor_decoder"}
    for path in sorted((root / "suites").glob("*.toml")):
        data = tomllib.loads(path.read_text())
        if not conditional & {m.get("plugin") for m in data.get("model", [])}:
            continue
        if data["dataset"]["plugin"] not in ("bumps", "circles", "sprites"):
            continue  # the field's datasets load from files: no CPU profile to choose
        assert "cpu" in data.get("profiles", {}), path.name
        named = path.stem if f"`{path.stem}`" in readme else "sprites_recombination_element"
        assert f"| `{named}` |" in readme, path.name


def test_sprites_suites_code_the_orientation_as_a_turn() -> None:
    """Every conditional generator of a sprites suite codes ``orientation`` as periodic (its
    range is one turn), as the memoriser measures it: a linear code puts 0 and 2 pi a whole
    range apart."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    checked = 0
    for path in sorted((root / "suites").glob("*.toml")):
        data = tomllib.loads(path.read_text())
        if data["dataset"]["plugin"] != "sprites":
            continue
        for model in data.get("model", []):
            if model["plugin"] in ("cvae", "diffusion", "factor_decoder", "nearest_training"):
                assert model.get("periodic") == ["orientation"], (path.name, model["label"])
                checked += 1
    assert checked >= 10
