"""The hostile catalogue's last silent, vague and late cases: each is refused before work
starts, or reported in one paragraph that names the file, key or plugin and the fix; never
exit 4, never silent. Runs use the toy plugins (no torch training), as in test_hostile.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_hostile import TOY, _clear_error, _run, toy  # noqa: F401  (toy: a fixture)

VARIANTS = TOY + """
[variants.small]
dataset.n_samples = 100

[variants.large]
dataset.n_samples = 140
"""

ITEMS = TOY.replace('plugin = "mse"', 'plugin = "item_mse"')


def test_a_variant_option_that_names_no_variant_is_refused(
        toy: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    toy.write_text(VARIANTS)
    for given in (",", " , "):
        _clear_error(capsys, ["run", str(toy), "--variant", given], "names no variant")
    _clear_error(capsys, ["run", str(toy), "--variant", "smal"], "variants.smal")


@pytest.mark.parametrize("name", ["suites", "report.html", "variants.json", "Suites"])
def test_a_reserved_variant_name_is_refused_before_anything_runs(
        name: str, toy: Path, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    toy.write_text(VARIANTS.replace("[variants.large]", f'[variants."{name}"]'))
    _clear_error(capsys, ["validate", str(toy)], f"[variants.{name}]", "reserved name")
    _clear_error(capsys, ["run", str(toy), "--out", str(tmp_path / "run")],
                 f"[variants.{name}]", "reserved name")
    assert not (tmp_path / "run" / "small").exists()  # nothing ran


def test_a_variant_that_empties_the_training_set_names_the_users_suite(
        toy: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    toy.write_text(VARIANTS.replace("dataset.n_samples = 140",
                                    "holdout.radius = 5.0"))
    err = _clear_error(capsys, ["validate", str(toy)], f"{toy}: [variants.large]",
                       "with this variant laid over the suite, [holdout]")
    assert "/tmp" not in err.replace(str(toy), "")  # no temporary file named
    run = toy.parent / "run"
    _clear_error(capsys, ["run", str(toy), "--out", str(run)], f"{toy}: [variants.large]")
    assert not (run / "small").exists()  # refused before the first variant ran


@pytest.fixture
def item_run(toy: Path, tmp_path: Path,  # noqa: F811
             capsys: pytest.CaptureFixture[str]) -> Path:
    toy.write_text(ITEMS)
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out)], capsys)[0] == 0
    assert list((out / "items").rglob("*.npz"))
    return out


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def test_check_and_compare_of_a_run_with_truncated_items_say_so(
        item_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    assert _run(["baseline", str(item_run), "--out", str(base)], capsys)[0] == 0
    damaged = next((item_run / "items").rglob("*.npz"))
    _truncate(damaged)
    _clear_error(capsys, ["check", str(item_run), "--baseline", str(base)], str(damaged),
                 "cannot be paired")
    _clear_error(capsys, ["compare", str(item_run), str(item_run)], str(damaged))


def test_check_against_a_baseline_with_truncated_items_is_exit_2(
        item_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    assert _run(["baseline", str(item_run), "--out", str(base)], capsys)[0] == 0
    items = tmp_path / "base.items.npz"
    assert items.is_file()
    _truncate(items)
    _clear_error(capsys, ["check", str(item_run), "--baseline", str(base)], str(items),
                 "regenerate the baseline")


@pytest.mark.parametrize("damage", ["leaderboard-not-a-table", "columns-not-a-list",
                                    "suite-missing"])
def test_leaderboard_of_a_run_with_a_damaged_suite_copy_warns(
        damage: str, toy: Path, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out)], capsys)[0] == 0
    copy = out / "suite.toml"
    if damage == "leaderboard-not-a-table":
        copy.write_text("leaderboard = 3\n" + TOY.replace("[profiles.smoke]", "[p]"))
    elif damage == "columns-not-a-list":
        copy.write_text(TOY + '\n[leaderboard]\ncolumns = "test_mse"\n')
    else:
        copy.unlink()
    rc, printed, err = _run(["leaderboard", str(out)], capsys)
    assert rc == 0 and "pca2" in printed
    assert "warning:" in err and str(copy) in err, err


@pytest.mark.parametrize(("damage", "pool"), [pytest.param("meta-a-list", True,
                                                           marks=pytest.mark.slow),
                                             ("meta-truncated", False),
                                             ("payload-flipped", False),
                                             ("payload-deleted", False)])
def test_a_corrupt_cached_model_is_reported_and_retrained(
        damage: str, pool: bool, toy: Path, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "c"
    argv = ["run", str(toy), "--cache-dir", str(cache)]
    # the pool's workers are other processes: their warnings must reach this one
    argv += ["--seeds", "0,1", "--workers", "2"] if pool else ["--executor", "local"]
    assert _run([*argv, "--out", str(tmp_path / "r1")], capsys)[0] == 0
    entry = next((cache / "models").glob("*/*/meta.json")).parent
    meta, payload = entry / "meta.json", entry / "model.ckpt"
    if damage == "meta-a-list":
        meta.write_text("[1, 2]")
    elif damage == "meta-truncated":
        meta.write_text(meta.read_text()[:20])
    elif damage == "payload-flipped":
        data = bytearray(payload.read_bytes())
        data[len(data) // 2] ^= 0xFF
        payload.write_bytes(bytes(data))
    else:
        payload.unlink()
    rc, _, err = _run([*argv, "--out", str(tmp_path / "r2")], capsys)
    assert rc == 0
    assert f"models/{entry.name[:12]}" in err and "corrupt" in err, err
    first = json.loads((tmp_path / "r1" / "metrics.json").read_text())["results"]
    second = json.loads((tmp_path / "r2" / "metrics.json").read_text())["results"]
    assert [r["scores"] for r in first] == [r["scores"] for r in second]


@pytest.mark.parametrize("force", [False, True])
def test_a_file_where_a_run_folder_belongs_is_named(force: bool, toy: Path,  # noqa: F811
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "pictures").write_text("not a folder")
    _clear_error(capsys, ["run", str(toy), "--out", str(out), *(["--force"] if force else [])],
                 f"{out / 'pictures'}: is a file where the run writes its pictures/ folder")
    assert (out / "pictures").read_text() == "not a folder"


def test_a_file_where_pictures_belong_is_named_on_resume(toy: Path, tmp_path: Path,  # noqa: F811
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    out = tmp_path / "run"
    assert _run(["run", str(toy), "--out", str(out)], capsys)[0] == 0
    (out / "items").mkdir(exist_ok=True)
    (out / "checkpoints").rename(tmp_path / "moved")
    (out / "checkpoints").write_text("x")
    _clear_error(capsys, ["run", str(toy), "--resume", str(out)], "checkpoints/ folder")


@pytest.mark.parametrize("label", ["two\nlines", "tab\there", "bell\x07"])
def test_a_label_that_breaks_table_rows_is_refused(label: str, toy: Path,  # noqa: F811
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    toy.write_text(TOY.replace('label = "pca2"', f"label = {json.dumps(label)}"))
    _clear_error(capsys, ["validate", str(toy)], "[model]", "control character")


def test_a_circles_dataset_too_large_names_its_size_key(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    suite = Path(__file__).parents[1] / "suites" / "circles_colour_size.toml"
    text = suite.read_text().replace("n_per_class = 2048 ", "n_per_class = 1000000000000 ")
    path = tmp_path / "big.toml"
    path.write_text(text)
    _clear_error(capsys, ["validate", str(path)], f"{path}: [dataset]", "dataset.n_per_class")


def test_workers_with_the_local_executor_of_the_suite_is_refused(
        toy: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    toy.write_text(TOY + '\n[executor]\nplugin = "local"\n')
    _clear_error(capsys, ["run", str(toy), "--workers", "2"], "--workers", '"local" executor')


def test_a_cache_that_cannot_be_written_is_named_and_left_out(
        toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """A cache on a read-only file system (the permissions say writable) is found out
    before the run, not in its workers."""
    import errno

    import zsbench.cache

    def read_only(*args: object, **kwargs: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(zsbench.cache.tempfile, "mkdtemp", read_only)
    cache = tmp_path / "ro-cache"
    rc, _, err = _run(["run", str(toy), "--cache-dir", str(cache), "--out",
                       str(tmp_path / "run")], capsys)
    assert rc == 0
    assert (f"the cache folder {cache} cannot be written (Read-only file system); running "
            "without the cache") in err
