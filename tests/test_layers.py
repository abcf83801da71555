"""One way down: every module of the package imports only from its own layer or the layers below.

The layers, as the package's own docs name them: base → schema and rules → store → queries →
products → build → faces. Imports inside functions count (a lazy import is still a dependency),
so does importing from the package's front door (``atlas/__init__.py``), which no module may do.
Within a layer, modules may import each other, but never in a circle. A new module must be
given a layer here, or this test fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "atlas"

LAYERS: dict[str, tuple[str, ...]] = {
    "base": ("errors", "names", "dates", "style", "formats", "_assets", "_browser", "_packing", "redact",
             "admit", "owned", "outputs", "coordinates", "i18n"),
    "rules": ("schema", "evidence", "ids"),
    "store": ("io", "database", "store", "sources", "provenance", "admin", "shares", "sites", "userlayers",
              "scenes"),
    "queries": ("search", "distance", "inside", "summaries", "record", "sanctions", "status", "diff", "citation"),
    "products": ("raster", "densities", "imagery", "compare", "map_layers", "webmap", "qml", "qgis", "kml", "export",
                 "postgis", "dossier", "website", "protect"),
    "build": ("builder", "layers", "gem", "staging", "readers", "shapes", "importer"),
    "faces": ("cli", "__main__", "__init__"),
}
RANK = {m: i for i, mods in enumerate(LAYERS.values()) for m in mods}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        rel = p.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported top-level module of the package, line) for every import, inside functions too."""
    found = []
    package_parts = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    if module == "__init__":
        package_parts = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not (node.module or "").startswith("atlas"):
                    continue
                base = (node.module or "").split(".")[1:]
            else:
                up = package_parts[: len(package_parts) - (node.level - 1)]
                base = up + ((node.module or "").split(".") if node.module else [])
            if base:
                found.append((base[0], node.lineno))
            else:  # "from . import x": x is a module, or a name of the front door
                for alias in node.names:
                    target = alias.name if (PACKAGE / f"{alias.name}.py").exists() or \
                        (PACKAGE / alias.name).is_dir() else "__init__"
                    found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "atlas":
                    found.append((parts[1] if len(parts) > 1 else "__init__", node.lineno))
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def test_every_module_has_a_layer():
    missing = sorted({_top(m) for m in _modules()} - set(RANK))
    assert not missing, f"give these modules a layer in tests/test_layers.py: {missing}"


def test_no_module_imports_a_higher_layer_or_the_front_door():
    wrong = []
    for module, path in _modules().items():
        own = _top(module)
        for target, line in _imports(path, module):
            if target == own:
                continue
            if target == "__init__" and own not in ("__main__", "cli"):
                wrong.append(f"atlas/{path.relative_to(PACKAGE)}:{line} imports the package's front door")
            elif RANK.get(target, -1) > RANK[own]:
                wrong.append(f"atlas/{path.relative_to(PACKAGE)}:{line} ({own}, {_layer(own)}) imports "
                             f"{target} ({_layer(target)})")
    assert not wrong, "imports that go up:\n" + "\n".join(wrong)


def _layer(module: str) -> str:
    return next(name for name, mods in LAYERS.items() if module in mods)


def test_no_import_circle():
    graph: dict[str, set[str]] = {}
    for module, path in _modules().items():
        graph.setdefault(_top(module), set()).update(
            t for t, _ in _imports(path, module) if t != _top(module) and t in RANK)
    index, low, stack, on, circles = {}, {}, [], set(), []
    counter = iter(range(10**6))

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = next(counter)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


@pytest.mark.parametrize("bad", ["from . import builder", "from .cli import main", "import atlas"])
def test_the_check_catches_an_upward_import(tmp_path, bad):
    """The checker itself: a store module that imported upward would be found."""
    f = tmp_path / "io.py"
    f.write_text(f"def f():\n    {bad}\n")
    targets = [t for t, _ in _imports(f, "io")]
    assert targets and all(RANK.get(t, RANK["cli"]) > RANK["io"] for t in targets), targets
