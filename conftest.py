"""Repository-wide fixtures: a fresh database for the booted shop, a real PostgreSQL server,
and lean child pytest sessions."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from demo_api.throwaway_postgres import PostgresError, PostgresServer

#: What pytest sessions started by the tests (through pytester or as subprocesses) leave out:
#: the plugins that only this repo's shop tests use. Importing them costs about 2.4 s at every
#: start (hypothesis and Faker most), and no child session tests anything of theirs. The outer
#: session, ``make demo`` and the load scenarios load them all, alongside the plugin.
CHILD_PYTEST_ADDOPTS = "-p no:hypothesispytest -p no:faker -p no:schemathesis -p no:anyio"


def pytest_configure(config: pytest.Config) -> None:
    """A suite started in the background by a shell without job control (``cmd &`` in a
    script, nohup) inherits SIGINT ignored, and so would every child that the Ctrl-C tests
    signal: they need what a terminal gives, SIGINT raising KeyboardInterrupt."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _lean_child_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child pytest sessions of this test (any subprocess inherits it) skip those plugins."""
    monkeypatch.setenv("PYTEST_ADDOPTS", CHILD_PYTEST_ADDOPTS)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, whose set-up clears ``PYTEST_ADDOPTS``, with lean child sessions too."""
    monkeypatch.setenv("PYTEST_ADDOPTS", CHILD_PYTEST_ADDOPTS)
    return pytester


@pytest.fixture(scope="session")
def loadgate_server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Point the booted shop at a SQLite file of its own (one per session and xdist worker)."""
    data_dir = tmp_path_factory.mktemp("shop-data")
    return {"DATABASE_URL": f"sqlite:///{data_dir / 'shop.db'}"}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (temp cluster on a unix socket only), one per session and xdist
    worker, stopped and removed at the end. Missing binaries are an error, never a skip."""
    server = PostgresServer(database="loadgate", max_connections=200)
    try:
        server.start()
    except PostgresError as exc:
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
