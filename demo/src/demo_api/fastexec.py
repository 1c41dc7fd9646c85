"""Run hot Core statements straight on the SQLite driver.

SQLAlchemy's per-execution bookkeeping costs more than SQLite itself for the shop's tiny
statements. For SQLite, each statement is compiled once by SQLAlchemy and then executed on
the DBAPI cursor, with DateTime values converted the way SQLAlchemy stores them. Other
backends take the ordinary ``Connection.execute`` path, so the SQL is identical.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.sql import ClauseElement

_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


class _Prepared:
    """SQL text, positional parameter names, row type and DateTime columns of a statement."""

    def __init__(self, stmt: Any, conn: Connection) -> None:
        compiled = stmt.compile(dialect=conn.dialect)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.defaults: dict[str, Any] = dict(compiled.params)  # literals such as 'pending'
        columns = list(stmt.exported_columns)
        self.row: Any = namedtuple("FastRow", [c.key for c in columns]) if columns else None
        self.datetimes = [i for i, c in enumerate(columns) if isinstance(c.type, DateTime)]


_WRAPPERS: dict[type[Exception], type[DatabaseError]] = {
    sqlite3.IntegrityError: IntegrityError,
    sqlite3.OperationalError: OperationalError,
}
_PREPARED: dict[ClauseElement, _Prepared] = {}


def _bind(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime(_SQLITE_DATETIME)
    return value


def fetch(conn: Connection, stmt: ClauseElement, params: dict[str, Any]) -> list[Any]:
    """Execute ``stmt`` and return all rows (attribute access like SQLAlchemy rows)."""
    if conn.dialect.name != "sqlite":
        result = conn.execute(stmt, params)  # type: ignore[call-overload]
        # A statement without RETURNING yields no rows (and no result to read): [] like SQLite.
        return list(result.all()) if result.returns_rows else []
    prepared = _PREPARED.get(stmt)
    if prepared is None:
        prepared = _PREPARED[stmt] = _Prepared(stmt, conn)
    values = [
        _bind(params[name] if name in params else prepared.defaults[name])
        for name in prepared.names
    ]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(prepared.sql, values)
        raw = cursor.fetchall() if prepared.row is not None else []
    except sqlite3.Error as exc:  # keep SQLAlchemy's exception types for the error handlers
        wrapper = _WRAPPERS.get(type(exc), DatabaseError)
        raise wrapper(prepared.sql, values, exc) from exc
    finally:
        cursor.close()
    if prepared.datetimes:
        raw = [list(r) for r in raw]
        for r in raw:
            for i in prepared.datetimes:
                if r[i] is not None:
                    r[i] = datetime.fromisoformat(r[i])
    make = prepared.row._make if prepared.row is not None else tuple
    return [make(r) for r in raw]


def fetch_one(conn: Connection, stmt: ClauseElement, params: dict[str, Any]) -> Any:
    """The first row of ``fetch``, or ``None``."""
    rows = fetch(conn, stmt, params)
    return rows[0] if rows else None
