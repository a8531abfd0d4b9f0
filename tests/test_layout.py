"""The package's layers: no import cycle, and no import from a lower layer to
a higher one.

The order, lowest first (a module may import its own layer and those below):

    engine < executors < labels < library < sound < player < report
    < commands < plugin

``engine`` turns audio into scores and knows nothing of beets; ``executors``
run the engine on many files; ``labels`` turn scores into beets fields;
``library`` runs over a beets library and keeps the results; ``sound`` works
with the results (similarity, radio, families, playlists); ``player`` plays
them; ``report`` draws them; ``commands`` are the beet commands and
``plugin`` (with the package's ``__init__``) the beets glue on top.

Every import counts: at module level, inside functions and under
``TYPE_CHECKING``, as read from the source with :mod:`ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = "beetsplug.musicnn"
LAYERS = (
    "engine",
    "executors",
    "labels",
    "library",
    "sound",
    "player",
    "report",
    "commands",
    "plugin",
)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package below ``root``, by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer(module: str, package: str = PACKAGE) -> str:
    """The layer of a module: its folder, or ``plugin`` for the top."""
    rest = module[len(package) :].lstrip(".").split(".")
    return rest[0] if rest[0] in LAYERS[:-1] else "plugin"


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, wherever the import
    statement is (module level, function, ``if TYPE_CHECKING``)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from x import y`: y is a module of x, or a name defined in x.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` imports a.b.c
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    found = modules(root)
    return {
        name: imports(name, path, set(found)) for name, path in found.items()
    }


def upward_imports(edges: dict[str, set[str]], package: str = PACKAGE) -> list[str]:
    """``a -> b`` for every import of a higher layer's module."""
    rank = {name: number for number, name in enumerate(LAYERS)}
    return sorted(
        f"{source} ({layer(source, package)}) -> {target} ({layer(target, package)})"
        for source, targets in edges.items()
        for target in targets
        if rank[layer(target, package)] > rank[layer(source, package)]
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


@pytest.fixture(scope="module")
def package_graph() -> dict[str, set[str]]:
    return graph(REPO_ROOT / "beetsplug" / "musicnn")


def test_every_module_is_in_a_layer_folder(package_graph):
    top = {name for name in package_graph if layer(name) == "plugin"}
    assert top == {PACKAGE, f"{PACKAGE}.plugin"}, (
        "put new modules in a layer's folder (or add the folder to LAYERS)"
    )
    folders = {
        path.name
        for path in (REPO_ROOT / "beetsplug" / "musicnn").iterdir()
        if path.is_dir() and (path / "__init__.py").exists()
    }
    assert folders == set(LAYERS[:-1])


def test_no_module_imports_a_higher_layer(package_graph):
    assert upward_imports(package_graph) == []


def test_no_import_cycle(package_graph):
    assert cycles(package_graph) == []


def test_the_graph_is_read(package_graph):
    # Guards the two tests above against reading nothing: the plugin
    # reaches the engine, also through imports inside functions.
    assert f"{PACKAGE}.commands.analyse" in package_graph[f"{PACKAGE}.plugin"]
    assert f"{PACKAGE}.library.runner" in package_graph[f"{PACKAGE}.commands.analyse"]
    assert f"{PACKAGE}.engine.analysis" in package_graph[f"{PACKAGE}.executors.worker"]


def test_the_checks_find_an_upward_import_and_a_cycle(tmp_path):
    root = tmp_path / "beetsplug" / "musicnn"
    for folder in ("engine", "report"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "engine" / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..report.high import Page\n"
    )
    (root / "report" / "high.py").write_text(
        "def draw():\n    from beetsplug.musicnn.engine import low\n"
    )
    edges = graph(root)
    assert upward_imports(edges) == [
        f"{PACKAGE}.engine.low (engine) -> {PACKAGE}.report.high (report)"
    ]
    assert cycles(edges) == [[f"{PACKAGE}.engine.low", f"{PACKAGE}.report.high"]]
