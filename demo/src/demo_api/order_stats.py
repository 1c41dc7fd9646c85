"""Running order figures (``order_stats``): kept in the transactions that change orders.

``GET /summary`` reports orders per status and the revenue of paid orders. Aggregating the
``orders`` table costs O(orders) per call, so instead every transaction that inserts an
order or changes its status also adjusts ``order_stats`` (see :class:`~demo_api.models.
OrderStats`), and the summary sums at most ``3 x ORDER_STATS_SHARDS`` rows.

Exactness rests on two rules the order service follows:

* the adjustment runs in the *same transaction* as the order change, so both commit or
  neither does, and a reader's snapshot sees both or neither;
* a status change is only counted when the conditional ``UPDATE ... WHERE status =
  'pending' RETURNING ...`` returned the row, i.e. when this transaction really moved the
  order; the figures moved are the ones that ``RETURNING`` read from the order itself.

Each adjustment is an upsert (``INSERT ... ON CONFLICT DO UPDATE``) of signed deltas, so a
missing row simply starts from zero. Lock order on PostgreSQL, to rule out deadlocks: a
settle first touches the ``'pending'`` row of its shard and only then the target status's
row (one statement, rows in that order); placing and cancelling touch the product row
before any counter row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from demo_api.fastexec import fetch
from demo_api.models import ORDER_STATS_SHARDS
from demo_api.models import order_stats_table as s
from demo_api.models import orders_table as o


def _add_excluded(excluded: Any) -> dict[str, Any]:
    """``SET`` clause of the upsert: add the inserted deltas to the existing row."""
    return {
        "order_count": s.c.order_count + excluded.order_count,
        "total_cents": s.c.total_cents + excluded.total_cents,
    }


def _upsert(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dialect: insert ``rows`` of deltas, adding them to the rows that already exist."""
    on_sqlite = sqlite.insert(s).values(rows)
    on_postgresql = postgresql.insert(s).values(rows)
    key = [s.c.status, s.c.shard]
    return {
        "sqlite": on_sqlite.on_conflict_do_update(
            index_elements=key, set_=_add_excluded(on_sqlite.excluded)
        ),
        "postgresql": on_postgresql.on_conflict_do_update(
            index_elements=key, set_=_add_excluded(on_postgresql.excluded)
        ),
    }


# One new pending order.
_ADD_PENDING = _upsert(
    [
        {
            "status": "pending",
            "shard": bindparam("shard"),
            "order_count": 1,
            "total_cents": bindparam("cents"),
        }
    ]
)
# One order leaves 'pending' for :new_status. The 'pending' row comes first (lock order).
_MOVE_FROM_PENDING = _upsert(
    [
        {
            "status": "pending",
            "shard": bindparam("shard"),
            "order_count": -1,
            "total_cents": bindparam("minus_cents"),
        },
        {
            "status": bindparam("new_status"),
            "shard": bindparam("shard"),
            "order_count": 1,
            "total_cents": bindparam("cents"),
        },
    ]
)

_SHARD_OF_ORDER = o.c.id % literal_column(str(ORDER_STATS_SHARDS))
#: Rebuild the figures from the orders (only when ``order_stats`` has just been created).
BACKFILL = insert(s).from_select(
    ["status", "shard", "order_count", "total_cents"],
    select(
        o.c.status,
        _SHARD_OF_ORDER,
        func.count(),
        func.coalesce(func.sum(o.c.total_cents), 0),
    ).group_by(o.c.status, _SHARD_OF_ORDER),
)


def shard_of(order_id: int) -> int:
    """The ``order_stats`` shard that holds an order's figures."""
    return order_id % ORDER_STATS_SHARDS


def _statement(conn: Connection, statements: dict[str, Any]) -> Any:
    try:
        return statements[conn.dialect.name]
    except KeyError:
        raise NotImplementedError(
            f"order_stats supports {sorted(statements)}, not {conn.dialect.name}"
        ) from None


def record_placed(conn: Connection, order_id: int, total_cents: int) -> None:
    """Count a new pending order; call in the transaction that inserted it."""
    params = {"shard": shard_of(order_id), "cents": total_cents}
    fetch(conn, _statement(conn, _ADD_PENDING), params)


def record_settled(conn: Connection, order_id: int, total_cents: int, new_status: str) -> None:
    """Move a pending order's figures to ``new_status``; call in the transaction whose
    conditional status update returned the order (never when it matched nothing)."""
    params = {
        "shard": shard_of(order_id),
        "new_status": new_status,
        "cents": total_cents,
        "minus_cents": -total_cents,
    }
    fetch(conn, _statement(conn, _MOVE_FROM_PENDING), params)
