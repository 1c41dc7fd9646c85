"""Packaging: the plugin imports only what its distribution declares; uvicorn stays optional."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import pytest_loadgate
from pytest_loadgate.errors import LoadgateServerError
from pytest_loadgate.target import server

PACKAGE = Path(pytest_loadgate.__file__).parent
ROOT = Path(__file__).resolve().parents[3]
#: Third-party import name -> the declared dependency that provides it (gevent and
#: geventhttpclient come with Locust, pydantic_core with pydantic, each pinned by its owner).
PROVIDED_BY = {
    "pytest": "pytest",
    "_pytest": "pytest",
    "locust": "locust",
    "gevent": "locust",
    "greenlet": "locust",  # through gevent
    "geventhttpclient": "locust",
    "zmq": "locust",  # Locust's master/worker link, which wire_auth signs
    "msgpack": "locust",
    "psutil": "psutil",
    "cloudpickle": "cloudpickle",
    "hdrh": "hdrhistogram",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
}
#: Imported only when the user has installed them (pytest-html: a hook class registered only
#: when that plugin is active).
OPTIONAL = {"pytest_html"}


def _pyproject(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def _dist_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower() for req in requirements}


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level modules the plugin imports that are neither stdlib nor the plugin itself."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                if root not in sys.stdlib_module_names and root != "pytest_loadgate":
                    found.setdefault(root, []).append(str(path.relative_to(PACKAGE)))
    return found


def test_the_plugin_imports_only_its_declared_dependencies() -> None:
    imports = _third_party_imports()
    unknown = {name: files for name, files in imports.items()
               if name not in PROVIDED_BY and name not in OPTIONAL}
    assert unknown == {}, "declare these in pyproject.toml and PROVIDED_BY, or drop the import"
    declared = _dist_names(_pyproject(ROOT / "pyproject.toml")["project"]["dependencies"])
    assert {PROVIDED_BY[name] for name in imports if name in PROVIDED_BY} <= declared


def test_the_demo_shop_is_a_distribution_of_its_own() -> None:
    root = _pyproject(ROOT / "pyproject.toml")
    demo = _pyproject(ROOT / "demo" / "pyproject.toml")
    shop_deps = _dist_names(demo["project"]["dependencies"])
    assert not shop_deps & _dist_names(root["project"]["dependencies"]) - {"pydantic"}
    assert root["tool"]["setuptools"]["packages"]["find"]["include"] == ["pytest_loadgate*"]
    assert "py.typed" in root["tool"]["setuptools"]["package-data"]["pytest_loadgate"]
    assert (PACKAGE / "py.typed").is_file()
    assert _dist_names(root["project"]["optional-dependencies"]["asgi"]) == {"uvicorn"}


def test_serving_an_asgi_app_without_uvicorn_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "uvicorn" else real_find_spec(name, package)

    monkeypatch.setattr(server.importlib.util, "find_spec", find_spec)
    with pytest.raises(LoadgateServerError) as excinfo:
        server.uvicorn_command("myapp.main:app", 8000)
    message = str(excinfo.value)
    assert "'myapp.main:app' needs uvicorn" in message
    assert "pip install 'pytest-loadgate[asgi]'" in message
