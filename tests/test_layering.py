"""The layering of cenas: no import cycle between its top-level packages and modules.

The import graph is read from the source (AST), not from ``sys.modules``: every ``import``
and ``from ... import`` counts, including function-local ones, ones under
``TYPE_CHECKING`` and relative ones, because a lazy import still ties two layers together.
Each node is a top-level unit of ``cenas`` (``cenas.engine``, ``cenas.study``,
``cenas.errors``, ...; the root package itself is ``cenas``). A depth-first search finds
cycles of any length, not just two packages importing each other.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

Graph = dict[str, set[str]]
Sources = dict[tuple[str, str], list[str]]


def _module_name(path: Path, src: Path) -> tuple[str, bool]:
    """Dotted name of the module at ``path`` and whether it is a package ``__init__``."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Absolute names of everything ``module`` imports, with the line of each import.

    ``from pkg import name`` yields ``pkg.name`` as well as ``pkg``: ``name`` may be a
    submodule (``from cenas import study``); the caller keeps only names it knows.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                keep = len(base_parts) - (node.level - 1)
                base = ".".join(base_parts[: max(keep, 0)])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:
                if alias.name != "*":
                    yield f"{target}.{alias.name}", node.lineno


def package_graph(src: Path, root: str = "cenas") -> tuple[Graph, Sources]:
    """Import edges between the top-level units of package ``root`` under ``src``.

    Returns:
        ``graph[a]``: the units ``a`` imports (never ``a`` itself); ``sources[(a, b)]``:
        ``module:line`` of each import behind the edge ``a -> b``.
    """
    top = src / root
    units = {root} | {
        f"{root}.{p.stem if p.is_file() else p.name}"
        for p in top.iterdir()
        if (p.is_file() and p.suffix == ".py" and p.stem != "__init__")
        or (p.is_dir() and (p / "__init__.py").is_file())
    }

    def unit(name: str) -> str | None:
        parts = name.split(".")
        if parts[0] != root:
            return None
        if len(parts) > 1 and f"{root}.{parts[1]}" in units:
            return f"{root}.{parts[1]}"
        return root if len(parts) == 1 else None

    graph: Graph = {u: set() for u in units}
    sources: Sources = {}
    for path in sorted(top.rglob("*.py")):
        module, is_package = _module_name(path, src)
        here = unit(module)
        assert here is not None, path
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, line in _imports(tree, module, is_package):
            there = unit(name)
            if there is None or there == here:
                continue
            graph[here].add(there)
            seen = sources.setdefault((here, there), [])
            if f"{module}:{line}" not in seen:
                seen.append(f"{module}:{line}")
    return graph, sources


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` if it is acyclic.

    Iterative depth-first search with three colours: reaching a node still on the stack
    (grey) closes a cycle, whatever its length.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for targets in graph.values():
        for t in targets:
            colour.setdefault(t, white)
    for start in sorted(colour):
        if colour[start] != white:
            continue
        path = [start]
        todo = [iter(sorted(graph.get(start, ())))]
        colour[start] = grey
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                todo.pop()
            elif colour[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            elif colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                todo.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _describe(cycle: list[str], sources: Sources) -> str:
    lines = [" -> ".join(cycle)]
    for a, b in itertools.pairwise(cycle):
        where = sources.get((a, b), [])
        lines.append(f"  {a} -> {b}: {', '.join(where[:4])}{' ...' if len(where) > 4 else ''}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ the rule
def test_no_import_cycle_between_top_level_packages() -> None:
    graph, sources = package_graph(SRC)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between cenas packages:\n" + _describe(cycle, sources)


def test_graph_reads_the_real_layers() -> None:
    """The graph is not vacuous: it sees top-level, function-local and re-exported imports."""
    graph, sources = package_graph(SRC)
    assert {"cenas.engine", "cenas.policy", "cenas.rl", "cenas.signals"} <= graph.keys()
    assert "cenas.engine" in graph["cenas.policy"]  # top-level import
    assert "cenas.policy" in graph["cenas.config"]  # only imported inside functions
    assert "cenas.study" in graph["cenas.rl"]  # the training env builds studies' engines
    assert "cenas.signals" in graph["cenas.live"] and "cenas.signals" in graph["cenas.study"]
    assert any(s.startswith("cenas.config:") for s in sources[("cenas.config", "cenas.policy")])
    # the layers this test pins: the step loop and the policies sit below study, config, rl
    for low, high in [
        ("cenas.engine", "cenas.policy"),
        ("cenas.policy", "cenas.config"),
        ("cenas.policy", "cenas.study"),
        ("cenas.policy", "cenas.rl"),
        ("cenas.live", "cenas.study"),
        ("cenas.signals", "cenas.study"),
    ]:
        assert high not in graph[low], f"{low} imports {high}: {sources[(low, high)]}"


def test_serving_the_learned_policy_needs_no_training_stack() -> None:
    """``policy.registry`` serves ``rl`` without loading the study layer or gymnasium."""
    code = (
        "import sys\n"
        "from cenas.engine.energy import PowerModel\n"
        "from cenas.policy.registry import make_policy\n"
        "for name in ('rl', 'rl-continuous'):\n"
        "    assert make_policy(name, None, 8, PowerModel(), None).name == name\n"
        "bad = ['gymnasium', 'stable_baselines3', 'torch', 'cenas.study', 'cenas.rl',\n"
        "       'cenas.config', 'cenas.live']\n"
        "print(','.join(m for m in bad if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"loaded: {out.stdout.strip()}"


# ----------------------------------------------------------------- the checker itself
def test_find_cycle_catches_long_cycles_and_passes_dags() -> None:
    # no two nodes import each other, but a -> b -> c -> d -> b is a cycle
    graph: Graph = {"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}, "e": {"a"}}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"b", "c", "d"} and len(cycle) == 4
    for a, b in itertools.pairwise(cycle):
        assert b in graph[a]
    diamond: Graph = {"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}
    assert find_cycle(diamond) is None
    assert find_cycle({"a": set(), "b": {"a"}}) is None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_package_graph_counts_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "pkg" / "__init__.py", "")
    _write(src / "pkg" / "low" / "__init__.py", "from pkg.low import _impl\n")
    _write(src / "pkg" / "low" / "_impl.py", "def f():\n    from ..mid import g\n    return g\n")
    _write(src / "pkg" / "mid.py", "from typing import TYPE_CHECKING\n")
    _write(
        src / "pkg" / "high" / "__init__.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import low\n",
    )
    _write(src / "pkg" / "util.py", "import os\nfrom pkg import helpers_that_do_not_exist\n")
    graph, sources = package_graph(src, root="pkg")
    assert graph["pkg.low"] == {"pkg.mid"}  # relative import inside a function
    # relative submodule import under TYPE_CHECKING (``from .. import`` runs the root too)
    assert graph["pkg.high"] == {"pkg", "pkg.low"}
    assert graph["pkg.util"] == {"pkg"}  # a name of the root package: the root itself
    assert sources[("pkg.low", "pkg.mid")] == ["pkg.low._impl:2"]
    assert find_cycle(graph) is None

    # close a three-package cycle (low -> mid -> high -> low) with a lazy absolute import
    _write(src / "pkg" / "mid.py", "def g():\n    import pkg.high.sub\n")
    graph, sources = package_graph(src, root="pkg")
    cycle = find_cycle(graph)
    assert cycle is not None and set(cycle) == {"pkg.low", "pkg.mid", "pkg.high"}
    assert "pkg.mid:2" in _describe(cycle, sources)
