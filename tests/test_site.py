"""zsbench site: one static site over many run folders, opened in a real browser."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import toy_plugins
from conftest import TOY_SUITE, report_checker
from fake_runs import polar_hole_results, write_fake_run

from zsbench.cli import main
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.site import MARK, build_site
from zsbench.suite import load_suite

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tiny runs of two suites: ``toy`` twice (the second with another transect:
    another config hash) and ``toy_two``; one seed each, smoke-sized."""
    root = tmp_path_factory.mktemp("site-runs")
    registry = Registry(extra=[toy_plugins])
    out = []
    for name, text in [("a", TOY_SUITE),
                       ("b", TOY_SUITE.replace("points = 9", "points = 7")),
                       ("c", TOY_SUITE.replace('name = "toy"', 'name = "toy_two"'))]:
        (root / f"{name}.toml").write_text(text.replace("seeds = [0, 1]", "seeds = [0]"))
        suite = load_suite(root / f"{name}.toml", profile="smoke", registry=registry)
        out.append(run_suite(suite, registry=registry, run_dir=root / f"run-{name}",
                             executor=registry.create("executor", "local", {})).run_dir)
    return out


@pytest.fixture(scope="module")
def site(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    junk = out.parent / "junk"
    junk.mkdir()
    build_site([*runs, junk], out)
    return out


def test_site_has_an_index_a_page_per_suite_and_every_report(site: Path,
                                                             runs: list[Path]) -> None:
    index = (site / "index.html").read_text()
    assert 'href="suite-toy.html"' in index and 'href="suite-toy_two.html"' in index
    assert "junk" in index and "not a zsbench run folder" in index  # left out, with why
    for run in runs:
        copy = site / "runs" / run.name / "report.html"
        assert copy.read_text() == (run / "report.html").read_text()
    toy = (site / "suite-toy.html").read_text()
    # two contents of the suite: two groups, each ranked apart, and the page says so
    assert toy.count('class="board"') == 2 and "disagree on the suite's content" in toy
    assert toy.count('href="runs/run-a/report.html#model-pca2"') == 1
    assert toy.count("<svg") == 4  # a plot per score per group
    assert 'class="best"' in toy and "0.1.0" in toy
    for page in site.glob("*.html"):  # nothing to fetch: publishable anywhere
        assert "http://" not in page.read_text() and "https://" not in page.read_text()
    built = json.loads((site / MARK).read_text())
    assert [r["suite"] for r in built["runs"]] == ["toy", "toy", "toy_two"]


def test_site_command_exit_codes_and_rebuild(runs: list[Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "manifest.json").write_text("{not json")
    (junk / "metrics.json").write_text("{}")
    assert main(["site", str(junk), str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no usable run folder" in err and not out.exists()
    assert main(["site", str(runs[0]), str(junk), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "damaged" in skipped[0]  # one line, with its reason
    assert "1 suite(s) (toy), 1 run(s)" in captured.out
    assert main(["site", str(runs[2]), "--out", str(out)]) == 0  # a rebuild replaces it
    assert sorted(p.name for p in out.glob("*.html")) == ["index.html", "suite-toy_two.html"]
    assert [p.name for p in (out / "runs").iterdir()] == ["run-c"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["site", str(runs[0]), "--out", str(foreign)]) == 2
    assert "not a site zsbench wrote" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"


def test_site_ranks_every_run_together_and_shows_valid_shares(tmp_path: Path) -> None:
    """Two runs of polar_hole with the same content: one table over 8 rows, marks over
    all of them, the collapsed vae's valid share beside its valid-only errors."""
    old = write_fake_run(tmp_path / "old", polar_hole_results((0,), offset=0.3),
                         created="2026-01-01T09:00:00")
    new = write_fake_run(tmp_path / "new", polar_hole_results((0, 1)))
    build_site([old, new], tmp_path / "site")
    page = (tmp_path / "site" / "suite-polar_hole.html").read_text()
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = body.split("<tr>")[1:]
    assert len(rows) == 8 and page.count('class="board"') == 1
    # sorted by the suite's sort (hole_factor_err, best first): the new run's first
    assert all(">new<" in r for r in rows[:4]) and all(">old<" in r for r in rows[4:])
    vae = [r for r in rows if 'model-vae"' in r]
    assert len(vae) == 2 and all("(2 % valid)" in r for r in vae)
    assert all("(2 % valid)" not in r for r in rows if 'model-vae"' not in r)
    assert page.count('class="plot"') == 8 and 'class="target"' in page
    report = (tmp_path / "site" / "runs" / "new" / "report.html").read_text()  # built
    assert report.count("(2 % valid)") == 2 and "few-valid" in report


# -- in a real browser ---------------------------------------------------------------------
_checker = report_checker


MARK_ID = "zsbench-site-check"
WATCH = """<script>
window.__problems = [];
window.addEventListener("error", function (e) {
  window.__problems.push("error: " + (e.message || (e.target && (e.target.src || e.target.href))));
}, true);
["error", "warn"].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    window.__problems.push(level + ": " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
});
</script>"""
PROBE = """<script>
window.addEventListener("load", function () {
  function firsts(table) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.cells[0].textContent + "|" + r.cells[1].textContent; });
  }
  function column(table, i) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.cells[i].textContent; });
  }
  var out = {problems: window.__problems, tables: [], plots: [], links: []};
  Array.prototype.forEach.call(document.querySelectorAll("table.board"), function (t) {
    var heads = Array.prototype.map.call(t.tHead.rows[0].cells, function (c) {
      return c.textContent; });
    var seen = {heads: heads, rows: t.tBodies[0].rows.length, before: firsts(t)};
    var score = heads.indexOf("test_mse ↓");
    if (score >= 0) {
      t.tHead.rows[0].cells[0].click();            // by model name
      seen.by_model = firsts(t);
      t.tHead.rows[0].cells[score].click();        // best first
      seen.best_first = column(t, score);
      t.tHead.rows[0].cells[score].click();        // again: reversed
      seen.reversed = column(t, score);
      var box = document.querySelector('input.filter[data-table="' + t.id + '"]');
      box.value = "pca1";
      box.dispatchEvent(new Event("input"));
      seen.filtered = Array.prototype.filter.call(t.tBodies[0].rows, function (r) {
        return !r.hidden; }).length;
    }
    out.tables.push(seen);
  });
  Array.prototype.forEach.call(document.querySelectorAll("svg.plot"), function (s) {
    var box = s.getBoundingClientRect();
    out.plots.push({width: box.width, dots: s.querySelectorAll("circle.dot").length});
  });
  Array.prototype.forEach.call(document.querySelectorAll("a[href]"), function (a) {
    out.links.push(a.href); });
  var pre = document.createElement("pre");
  pre.id = "MARK_ID";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>""".replace("MARK_ID", MARK_ID)


def _open(page: Path, chromium: str) -> dict:
    """``page`` as headless chromium loads it, with :data:`WATCH` first in its head and
    :data:`PROBE` last in its body (a copy beside it, so its links resolve as the page's)."""
    text = page.read_text(encoding="utf-8")
    text = text.replace("<head>", "<head>" + WATCH, 1).replace("</body>", PROBE + "</body>")
    copy = page.with_name(f".check-{page.name}")
    copy.write_text(text, encoding="utf-8")
    try:
        proc = _checker().dump_dom(copy, chromium=chromium, budget_ms=5000, timeout=60)
    finally:
        copy.unlink()
    found = re.search(rf'<pre id="{MARK_ID}">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"chromium gave no result (exit {proc.returncode}): {proc.stderr[-800:]}"
    return json.loads(html.unescape(found.group(1)))


def _resolves(url: str, page: Path) -> bool:
    """A link of a page of the site names a file that exists (and an anchor in it)."""
    parts = urlparse(url)
    if parts.scheme != "file":
        return False
    target = Path(unquote(parts.path))
    if target.name.startswith(".check-"):  # the page itself
        target = page
    if not target.is_file():
        return False
    return not parts.fragment or f'id="{parts.fragment}"' in target.read_text(encoding="utf-8")


@pytest.mark.skipif(_checker().find_chromium() is None, reason="no chromium installed")
def test_site_opens_sorts_and_links_in_a_headless_browser(site: Path) -> None:
    chromium = _checker().find_chromium()
    seen = {page.name: _open(page, chromium) for page in sorted(site.glob("*.html"))}
    assert set(seen) == {"index.html", "suite-toy.html", "suite-toy_two.html"}
    for name, page in seen.items():
        assert page["problems"] == [], name  # no console errors, nothing failed to load
        assert page["links"] and all(_resolves(u, site / name) for u in page["links"]), name
    toy = seen["suite-toy.html"]
    assert [t["rows"] for t in toy["tables"]] == [2, 2]
    for table in toy["tables"]:
        assert table["heads"][:5] == ["model", "run", "zsbench", "date", "seeds"]
        # a click on a header reorders the rows: by model name, then best first, reversed
        assert table["before"][0].startswith("pca2|")
        assert [r.split("|")[0] for r in table["by_model"]] == ["pca1-weighted", "pca2"]
        values = [float(v) for v in table["best_first"]]
        assert values == sorted(values) and table["reversed"] == table["best_first"][::-1]
        assert table["filtered"] == 1  # the filter box keeps the rows that match
    assert len(toy["plots"]) == 4
    assert all(p["width"] > 100 and p["dots"] == 2 for p in toy["plots"])  # drawn
    assert seen["index.html"]["tables"][0]["rows"] == 2  # the two suites
