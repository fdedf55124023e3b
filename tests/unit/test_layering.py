"""The privacy rule of docs/architecture.md, held by a test.

A module whose name starts with ``_`` is private to the package that holds it: only modules
inside that package (or its subpackages) import it. Everything else (other packages, tests,
benchmarks, users) goes through the package's ``__init__`` or a public module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = ("harness", "tests", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(tree: ast.AST, importer: str, is_package: bool) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = importer.split(".")
                if not is_package:
                    package = package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            yield node.lineno, base
            for alias in node.names:  # `from harness.x import _y` imports a module too
                yield node.lineno, f"{base}.{alias.name}"


def private_owner(module: str) -> str | None:
    """The package a private module belongs to (``harness.a._b.c`` -> ``harness.a``)."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def violations() -> list[str]:
    found: list[str] = []
    for top in TREES:
        for path in sorted((ROOT / top).rglob("*.py")):
            importer = _module_name(path)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for line, module in _imported(tree, importer, path.name == "__init__.py"):
                if not module.startswith("harness"):
                    continue
                owner = private_owner(module)
                if owner is not None and importer != owner and not importer.startswith(owner + "."):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {module} (private to {owner})")
    return found


def test_no_module_imports_another_packages_private_module() -> None:
    """Nothing outside a package imports one of its ``_private`` modules."""
    assert violations() == []


@pytest.mark.parametrize(("module", "owner"), [
    ("harness.analysis._stats", "harness.analysis"),
    ("harness._ports.free_port", "harness"),
    ("harness.load.users._stream.X", "harness.load.users"),
    ("harness.analysis", None),
    ("harness.__version__", None),
])
def test_private_owner(module: str, owner: str | None) -> None:
    """The owner of a private module is the package right above its first ``_`` part."""
    assert private_owner(module) == owner
