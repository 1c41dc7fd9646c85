"""Engine, connections and transactions for SQLite and PostgreSQL.

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys; its write
transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a
read lock. PostgreSQL gets the same busy timeout as ``lock_timeout``: a statement waiting
longer than that for a lock fails (503 "database is busy") instead of hanging. SQLite
calls are fast and local, so they run inline on the event loop (no thread hop); other
backends run in the thread pool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeAlias, TypeVar

from sqlalchemy import Connection, Engine, Row, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from demo_api.config import Settings
from demo_api.models import Base, order_stats_table
from demo_api.order_stats import BACKFILL

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
P = ParamSpec("P")
T = TypeVar("T")

_SCHEMA_LOCK_ID = 0x5E0D_5409  # PostgreSQL advisory lock held while creating tables


class Database:
    """One engine plus the transaction helpers the services use."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 5.0,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        self.is_sqlite = self.backend == "sqlite"
        kwargs: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
        }
        if self.is_sqlite:
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise ValueError(
                    "the shop needs a SQLite file; in-memory databases are unsupported"
                )
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
            if self.url.get_driver_name() == "psycopg":
                kwargs["connect_args"] = {
                    "connect_timeout": 5,
                    "options": f"-c lock_timeout={int(busy_timeout_ms)}",
                }
        self.schema_ready = False
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A connection for reads; whatever it did is rolled back when it closes.

        Single statements need no transaction, so SQLite reads run in autocommit mode
        (one round trip less). ``snapshot=True`` makes several statements agree: a
        deferred ``BEGIN`` on SQLite, ``REPEATABLE READ`` elsewhere.
        """
        with self.engine.connect() as conn:
            if snapshot:
                if self.is_sqlite:
                    conn.execution_options(sqlite_begin="BEGIN")
                else:
                    conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed unless an exception escapes.

        On SQLite the transaction is ``BEGIN IMMEDIATE``: the write lock is taken up front,
        so a writer never has to upgrade a read lock (which can deadlock).
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking database function: inline for SQLite, in a thread otherwise."""
        if self.is_sqlite:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    def create_schema(self) -> None:
        """Create missing tables; safe when several workers start at once.

        A database from before ``order_stats`` existed gets the table filled from its orders
        (once, in the transaction that creates it), so the running figures start exact.
        """
        with self.write() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_ID})
            had_stats = inspect(conn).has_table(order_stats_table.name)
            Base.metadata.create_all(conn)
            if not had_stats:
                conn.execute(BACKFILL)
        self.schema_ready = True

    def ensure_ready(self) -> None:
        """Create the schema if that has not succeeded yet, else ping; raise if unreachable."""
        if self.schema_ready:
            self.ping()
        else:
            self.create_schema()

    def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.rollback()

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Pragmas on every new connection and explicit BEGIN handling (SQLAlchemy recipe)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        begin = conn.get_execution_options().get("sqlite_begin")
        if begin:  # straight to the driver: this runs once per transaction
            try:
                conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]
            except sqlite3.OperationalError as exc:  # e.g. "database is locked"
                raise OperationalError(begin, None, exc) from exc


def database_from_settings(settings: Settings) -> Database:
    """Build the :class:`Database` described by ``settings``."""
    return Database(
        settings.resolved_database_url(),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout_s,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
