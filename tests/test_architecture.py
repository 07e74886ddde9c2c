"""Architecture checks: the import graph of zsbench has no cycle, no module is too long, and
no function is too long without a reason in its docstring.

The graph is built with ``ast`` from the source files, counting every ``import`` and
``from ... import`` at any depth (inside functions too: a lazy import hides a cycle but
is still one), except those under ``if TYPE_CHECKING:``, which never run.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"zsbench": ROOT / "zsbench", "zsbench_plugins": ROOT / "plugins"}
MAX_LINES = 600
# Modules over MAX_LINES that are known, with the reason; remove an entry once it is split.
LONG_ALLOWED: dict[str, str] = {}
"""Modules allowed over the limit, each with the reason (none today)."""

MAX_FUNCTION_LINES = 80
"""Longest a function or method of zsbench/ or plugins/ may be (``def`` line to last line,
docstring included) unless its docstring says why, with :data:`LONG_REASON`."""
LONG_REASON = "Long because"

# Cycles among zsbench modules that are known and accepted, each as a frozenset of
# module names, with the reason. Keep empty unless a cycle truly cannot be removed.
ALLOWED: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [pkg, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in mods:
            return candidate
        parts.pop()
    return None


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    if node.level > 1:
                        base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(base)
                    head = f"{prefix}.{node.module}" if node.module else prefix
                else:
                    head = node.module or ""
                # ``from pkg import submodule`` imports the submodule too.
                targets = [head] + [f"{head}.{alias.name}" for alias in node.names]
            for target in targets:
                resolved = _resolve(target, mods)
                if resolved is not None and resolved != mod:
                    graph[mod].add(resolved)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _path_through(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One concrete cycle inside a strongly connected component, for the message."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def test_resolver_sees_relative_and_lazy_imports():
    graph = import_graph()
    assert "zsbench.errors" in graph
    assert graph["zsbench.compare"], "zsbench.compare should import something of zsbench"


def test_no_import_cycle_among_zsbench_modules():
    graph = import_graph()
    zs = {m: {t for t in ts if t.split(".")[0] == "zsbench"}
          for m, ts in graph.items() if m.split(".")[0] == "zsbench"}
    cycles = [c for c in find_cycles(zs) if frozenset(c) not in ALLOWED]
    assert not cycles, "import cycles among zsbench modules:\n" + "\n".join(
        " -> ".join(_path_through(zs, c)) + f"   (component: {', '.join(c)})" for c in cycles)


def test_allowed_cycles_still_exist():
    graph = import_graph()
    zs = {m: {t for t in ts if t.split(".")[0] == "zsbench"}
          for m, ts in graph.items() if m.split(".")[0] == "zsbench"}
    present = {frozenset(c) for c in find_cycles(zs)}
    stale = [sorted(c) for c in ALLOWED if c not in present]
    assert not stale, f"ALLOWED lists cycles that are gone; remove them: {stale}"


def test_no_module_over_max_lines():
    too_long = {}
    for path in sorted([*(ROOT / "zsbench").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and str(path.relative_to(ROOT)) not in LONG_ALLOWED:
            too_long[str(path.relative_to(ROOT))] = n
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def _long_in(tree: ast.AST, path: str) -> list[tuple[str, str, int]]:
    """``(path, qualified name, lines)`` of the functions (methods and nested functions
    too) of ``tree`` longer than :data:`MAX_FUNCTION_LINES` whose docstring does not
    contain :data:`LONG_REASON`. A function's lines run from its ``def`` to its last line."""
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, prefix)
                continue
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                length = child.end_lineno - child.lineno + 1
                if length > MAX_FUNCTION_LINES and LONG_REASON not in (
                        ast.get_docstring(child) or ""):
                    found.append((path, name, length))
            visit(child, f"{name}.")

    visit(tree, "")
    return found


def long_functions() -> list[tuple[str, str, int]]:
    """The functions of zsbench/ and plugins/ over :data:`MAX_FUNCTION_LINES` without a
    reason, as ``(file, qualified name, lines)``."""
    found: list[tuple[str, str, int]] = []
    for folder in PACKAGES.values():
        for path in sorted(folder.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            found += _long_in(tree, str(path.relative_to(ROOT)))
    return found


def test_the_function_length_check_sees_methods_and_reasons() -> None:
    body = "    x = 1\n" * MAX_FUNCTION_LINES
    source = (f'def long():\n    """No reason."""\n{body}'
              f'def excused():\n    """{LONG_REASON} it must be."""\n{body}'
              f'def short():\n    """Short."""\n    return 1\n'
              f'class C:\n    def method(self):\n{body.replace("    ", "        ")}')
    found = _long_in(ast.parse(source), "m.py")
    assert found == [("m.py", "long", MAX_FUNCTION_LINES + 2),
                     ("m.py", "C.method", MAX_FUNCTION_LINES + 1)]


def test_no_function_over_max_lines_without_a_reason() -> None:
    too_long = long_functions()
    assert not too_long, (
        f"functions over {MAX_FUNCTION_LINES} lines whose docstring gives no reason "
        f'("{LONG_REASON} ..."); split them into named steps, or say why in the docstring:\n'
        + "\n".join(f"  {path}: {name} ({n} lines)" for path, name, n in too_long))


def test_the_deterministic_context_restores_the_flag_and_warn_only() -> None:
    import torch

    from zsbench.torch_env import deterministic_algorithms, torch_threads

    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.use_deterministic_algorithms(True, warn_only=False)
        with deterministic_algorithms():
            assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()  # restored as found
        threads = torch.get_num_threads()
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == threads
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


# -- plugin-to-plugin imports ----------------------------------------------------------------

KNOWN_PLUGIN_IMPORTS: dict[tuple[str, str], str] = {
    ("zsbench_plugins.datasets.mpi3d", "zsbench_plugins.datasets.shapes3d"):
        "OriginalFile, check_include and the chunked reading of a published file",
    ("zsbench_plugins.datasets.sprites", "zsbench_plugins.datasets.shapes3d"):
        "OriginalFile and find_original (locating a published file)",
    ("zsbench_plugins.metrics.factor_recovery", "zsbench_plugins.metrics.holdout_reconstruction"):
        "depth_bin_items and spearman (scores by depth into the hole)",
    ("zsbench_plugins.metrics.prior_coverage", "zsbench_plugins.metrics.factor_recovery"):
        "family_validity (is a draw a member of the family)",
    ("zsbench_plugins.outputs.conditional_depth", "zsbench_plugins.metrics.conditional_generation"):
        "the metric itself and hole_depth: the picture draws the metric's verdicts",
    ("zsbench_plugins.outputs.conditional_scatter", "zsbench_plugins.metrics.conditional_generation"):
        "Draws, plugin_judging and split_draws: the picture draws the metric's verdicts",
    ("zsbench_plugins.outputs.conditional_scatter", "zsbench_plugins.outputs.conditional_strips"):
        "the verdict colours",
    ("zsbench_plugins.outputs.conditional_scatter", "zsbench_plugins.outputs.error_map"):
        "ErrorMap and jitter (the map of the space)",
    ("zsbench_plugins.outputs.conditional_strips", "zsbench_plugins.outputs.transect_strips"):
        "_point_labels (the transect's point labels)",
    ("zsbench_plugins.outputs.coverage_map", "zsbench_plugins.metrics.prior_coverage"):
        "hole_share_of_space and prior_recovery: the picture draws the metric's coverage",
    ("zsbench_plugins.outputs.coverage_map", "zsbench_plugins.outputs.error_map"):
        "ErrorMap and jitter (the map of the space)",
}
"""Imports of one standard plugin's module by another's that are known, with the reason;
the rule is that shared code moves into a private helper. Remove an entry once it is."""


def registered_plugin_modules(graph: dict[str, set[str]]) -> set[str]:
    """The modules that contribute a plugin: those a kind's package (``zsbench_plugins.KIND``,
    where its hook lists the plugins) imports. Every other module of ``plugins/`` is a
    private helper (``models/base.py``, ``models/_conditional.py``, ``metrics/_errors.py``,
    ``outputs/_plot.py``, ...)."""
    kinds = {m for m in graph if m.count(".") == 1 and m.startswith("zsbench_plugins.")}
    return {t for k in kinds for t in graph[k] if t.startswith(k + ".")}


def plugin_import_violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """``(importer, imported)`` pairs where a standard plugin's module imports another
    plugin's module (not its own package, not a private helper of any kind)."""
    plugins = registered_plugin_modules(graph)
    wrong = set()
    for module, targets in graph.items():
        if not module.startswith("zsbench_plugins.") or module.count(".") < 2:
            continue
        for target in targets:
            if target in plugins and target != module:
                wrong.add((module, target))
    return wrong


def test_plugins_import_no_other_plugin() -> None:
    """A standard plugin imports zsbench's layers 0-1 (tests/test_layers.py) and private
    helpers only, never another plugin's module: a plugin can be read, and removed, on its
    own."""
    found = plugin_import_violations(import_graph())
    new = sorted(found - set(KNOWN_PLUGIN_IMPORTS))
    assert not new, ("a plugin imports another plugin's module; move the shared code into a "
                     "private helper (e.g. plugins/models/_conditional.py):\n"
                     + "\n".join(f"  {a} -> {b}" for a, b in new))
    stale = sorted(set(KNOWN_PLUGIN_IMPORTS) - found)
    assert not stale, f"KNOWN_PLUGIN_IMPORTS lists imports that are gone; remove them: {stale}"


def test_a_planted_plugin_to_plugin_import_fails() -> None:
    graph = {m: set(ts) for m, ts in import_graph().items()}
    plugins = registered_plugin_modules(graph)
    assert {"zsbench_plugins.models.cvae", "zsbench_plugins.models.diffusion"} <= plugins
    assert "zsbench_plugins.models._conditional" not in plugins  # a helper
    assert "zsbench_plugins.metrics._errors" not in plugins
    graph["zsbench_plugins.models.cvae"].add("zsbench_plugins.models.diffusion")
    graph["zsbench_plugins.models.diffusion"].add("zsbench_plugins.models._conditional")
    assert plugin_import_violations(graph) - set(KNOWN_PLUGIN_IMPORTS) == {
        ("zsbench_plugins.models.cvae", "zsbench_plugins.models.diffusion")}


# -- the conditional generators share their common code through _conditional.py -------------

SHARED_RUN = 6
"""Lines in a row that two conditional generators may not have in common."""


def _conditional_generators() -> list[Path]:
    """The model modules defining a subclass of ``ConditionalGenerator``."""
    out = []
    for path in sorted((ROOT / "plugins" / "models").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id == "ConditionalGenerator" for b in n.bases)
               for n in ast.walk(tree)):
            out.append(path)
    return out


def shared_runs(texts: dict[str, str], run: int = SHARED_RUN) -> list[tuple[str, str, str]]:
    """``(file, file, first line)`` of every run of ``run`` code lines (stripped, blank
    lines and comments left out) that two of ``texts`` have in common."""
    seen: dict[tuple[str, ...], str] = {}
    found = []
    for name, text in texts.items():
        lines = [s for s in (line.strip() for line in text.splitlines())
                 if s and not s.startswith("#")]
        for i in range(len(lines) - run + 1):
            window = tuple(lines[i:i + run])
            other = seen.setdefault(window, name)
            if other != name:
                found.append((other, name, window[0]))
    return found


def test_no_two_conditional_generators_share_a_run_of_code() -> None:
    paths = _conditional_generators()
    assert {p.name for p in paths} >= {"cvae.py", "diffusion.py", "factor_decoder.py"}
    texts = {p.name: p.read_text(encoding="utf-8") for p in paths}
    found = shared_runs(texts)
    assert not found, ("conditional generators repeat code; move it into "
                       "plugins/models/_conditional.py:\n"
                       + "\n".join(f"  {a} and {b}: {line}" for a, b, line in found[:10]))
    planted = {**texts, "copy.py": "\n".join(texts["cvae.py"].splitlines()[40:60])}
    assert shared_runs(planted)
