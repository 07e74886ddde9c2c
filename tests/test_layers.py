"""docs/ARCHITECTURE.md's import rules, checked: each zsbench module imports only from its
own layer or the layers below, and each kind of standard plugin only what it may."""
from __future__ import annotations

import re

from test_architecture import ROOT, import_graph

#: The layers of docs/ARCHITECTURE.md, bottom first (the table is parsed from the page).
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def _layers() -> dict[str, int]:
    layers: dict[str, int] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        row = re.match(r"\| (\d) [^|]+\| ([^|]+)\|", line)
        if row:
            for name in re.findall(r"`([a-z_]+)`", row.group(2)):
                module = "zsbench" if name == "zsbench" else f"zsbench.{name}"
                layers[module] = int(row.group(1))
    return layers


#: What each kind of standard plugin may import of zsbench, beyond layers 0-1.
PLUGIN_EXTRAS = {
    "executors": {"zsbench.jobs", "zsbench.runner"},
    "observers": {"zsbench.results"},
}


def _layer_of(module: str, layers: dict[str, int]) -> int | None:
    if module.startswith("zsbench.testing"):
        return layers.get("zsbench.testing")
    return layers.get(module)


def test_every_zsbench_module_has_a_layer() -> None:
    layers = _layers()
    modules = {m for m in import_graph() if m.startswith("zsbench.") or m == "zsbench"}
    missing = sorted(m for m in modules if _layer_of(m, layers) is None)
    assert not missing, f"docs/ARCHITECTURE.md gives no layer to: {missing}"


def test_modules_import_only_their_layer_and_below() -> None:
    layers = _layers()
    graph = import_graph()
    wrong = []
    for module, targets in graph.items():
        own = _layer_of(module, layers)
        if own is None:
            continue
        for target in targets:
            theirs = _layer_of(target, layers)
            if theirs is not None and theirs > own and not module.startswith("zsbench.testing"):
                wrong.append(f"{module} (layer {own}) imports {target} (layer {theirs})")
    assert not wrong, "\n".join(wrong)


def test_the_kit_needs_no_suite_and_no_run() -> None:
    layers = _layers()
    graph = import_graph()
    wrong = [f"{m} imports {t}" for m, ts in graph.items() if m.startswith("zsbench.testing")
             for t in ts if not t.startswith("zsbench.testing") and (_layer_of(t, layers) or 0) > 1]
    assert not wrong, "\n".join(wrong)


def test_standard_plugins_import_contracts_only() -> None:
    layers = _layers()
    graph = import_graph()
    wrong = []
    for module, targets in graph.items():
        if not module.startswith("zsbench_plugins."):
            continue
        kind = module.split(".")[1]
        for target in targets:
            if target.startswith("zsbench_plugins"):
                continue
            if (_layer_of(target, layers) or 0) > 1 and target not in PLUGIN_EXTRAS.get(kind, ()):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_layer_table_is_read() -> None:
    layers = _layers()
    assert layers["zsbench.errors"] == 0 and layers["zsbench.cli"] == 8
    assert layers["zsbench.results"] < layers["zsbench.runner"] < layers["zsbench.run"]
