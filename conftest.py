"""Repository-wide fixtures: the demo shop booted by pytest-loadgate gets a fresh database."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def loadgate_server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Point the booted shop at a SQLite file of its own (one per session and xdist worker)."""
    data_dir = tmp_path_factory.mktemp("shop-data")
    return {"DATABASE_URL": f"sqlite:///{data_dir / 'shop.db'}"}
