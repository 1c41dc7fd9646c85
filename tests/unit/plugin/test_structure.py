"""The package's shape: only ``pytest_loadgate.run`` imports Locust and gevent."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest_loadgate

PACKAGE = Path(pytest_loadgate.__file__).parent
RUN_ONLY = ("locust", "gevent", "geventhttpclient", "greenlet")
#: Packages that must import without loading Locust or gevent at all.
PURE = ("stats", "verdict", "target", "capacity")


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_run_package_imports_locust_and_gevent() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imported_roots(path) & set(RUN_ONLY))
        for path in PACKAGE.rglob("*.py") if path.parent.name != "run"
    }
    assert {name: roots for name, roots in offenders.items() if roots} == {}


def test_the_pure_packages_load_neither_locust_nor_gevent() -> None:
    modules = [f"pytest_loadgate.{pkg}.{path.stem}" for pkg in PURE
               for path in sorted((PACKAGE / pkg).glob("*.py")) if path.stem != "__init__"]
    modules += ["pytest_loadgate.spec", "pytest_loadgate.settings"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(RUN_ONLY)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
