"""The house's shape: a package per stage, no import cycles, and no stage importing a later one.

Every `import` and `from ... import` of an lmkit module counts, including those inside
functions (a lazy import is still a dependency). Stages, lowest first:

    errors, files, stop_signals, config -> corpus -> text -> models
    -> checkpoint -> evaluate -> generate, train -> report
    -> commands -> cli

A module may import its own stage and lower ones only.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lmkit"

STAGE_RANK = {
    "errors": 0, "files": 0, "stop_signals": 0, "config": 0,
    "corpus": 1,
    "text": 2,
    "models": 3,
    "checkpoint": 4,
    "evaluate": 5,
    "generate": 6, "train": 6,
    "report": 7,
    "commands": 8,
    "cli": 9, "__main__": 10,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lmkit_imports(path: Path, known: set[str]) -> set[str]:
    """The lmkit modules `path` imports (a `from pkg import sub` of a submodule names the submodule)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lmkit":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in known)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "lmkit")
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: {dep for dep in lmkit_imports(path, known) if dep != name and dep in known}
            for name, path in files.items()}


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search, colours)."""
    colour: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if colour.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in colour and (cycle := visit(dep)):
                return cycle
        path.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (cycle := visit(node)):
            return cycle
    return None


def test_every_top_level_name_is_a_known_stage():
    names = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
             if (path.suffix == ".py" or (path / "__init__.py").exists()) and path.name != "__init__.py"}
    assert names <= set(STAGE_RANK), f"unknown top-level modules or packages: {sorted(names - set(STAGE_RANK))}"


def unnamed_members(package: Path) -> list[str]:
    """The modules and subpackages of `package` its docstring never names: a stage's index must list them all."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    members = {path.stem for path in package.glob("*.py") if path.name != "__init__.py"}
    members |= {path.name for path in package.iterdir() if (path / "__init__.py").exists()}
    return sorted(name for name in members if not re.search(rf"(?<![\w.]){name}(?!\w)", doc))


@pytest.mark.parametrize("package", sorted(path.parent.relative_to(PACKAGE).as_posix()
                                           for path in PACKAGE.glob("*/**/__init__.py")))
def test_every_stage_package_names_its_modules(package):
    assert unnamed_members(PACKAGE / package) == []


def test_an_unnamed_module_is_found(tmp_path):
    (tmp_path / "__init__.py").write_text('"""Stage: x.\n\n    listed  what it does; lmkit.other.hidden is not this one\n"""\n')
    for name in ("listed", "hidden", "quiet"):
        (tmp_path / f"{name}.py").write_text("")
    assert unnamed_members(tmp_path) == ["hidden", "quiet"]


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_no_stage_imports_a_later_stage():
    upward = [f"{module} -> {dep}" for module, deps in import_graph().items() for dep in deps
              if stage(module) in STAGE_RANK and stage(dep) in STAGE_RANK
              and STAGE_RANK[stage(dep)] > STAGE_RANK[stage(module)]]
    assert upward == []


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", __import__("lmkit").__all__)
def test_public_api_names_resolve(name):
    import lmkit

    assert getattr(lmkit, name) is not None
