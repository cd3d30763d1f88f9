"""The sandbox is an independent oracle: it imports only the standard library and itself.

A sandbox that shared a helper with the connectors would agree with them by construction,
so a misreading of an API document would pass every test. Each module of the package is
parsed (not imported) and every import is checked.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import jobsync_sandbox

PACKAGE = "jobsync_sandbox"
PACKAGE_DIR = Path(jobsync_sandbox.__file__).resolve().parent


def _modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _imported_names(tree: ast.Module, module: str) -> list[tuple[int, str]]:
    """``(line, top-level name)`` of every import in the module, relative ones resolved to the package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: always inside this package
                found.append((node.lineno, f"{PACKAGE} (relative, in {module})"))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def _allowed(name: str) -> bool:
    top = name.split(".", maxsplit=1)[0].split(" ", maxsplit=1)[0]
    return top == PACKAGE or top in sys.stdlib_module_names or top == "__future__"


def test_the_package_has_modules_to_check():
    names = {p.relative_to(PACKAGE_DIR).as_posix() for p in _modules()}
    assert {"server.py", "core.py", "client.py", "apis/pcrecruiter.py", "apis/jobcase.py"} <= names


def test_every_import_is_the_standard_library_or_the_sandbox_itself():
    problems = []
    for path in _modules():
        module = f"{PACKAGE}.{path.relative_to(PACKAGE_DIR).with_suffix('').as_posix().replace('/', '.')}"
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in _imported_names(tree, module):
            if not _allowed(name):
                problems.append(f"{module} (line {line}) imports {name}")
    assert not problems, "the sandbox must depend on the standard library and itself only:\n" + "\n".join(problems)


def test_the_check_catches_a_connector_import():
    tree = ast.parse("import requests\nfrom jobsync_common import pcrecruiter as pcr\nfrom os import path\n")
    bad = [name for _, name in _imported_names(tree, "example") if not _allowed(name)]
    assert bad == ["requests", "jobsync_common"]
