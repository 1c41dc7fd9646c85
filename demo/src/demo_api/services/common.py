"""Small helpers shared by the services."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime read back from the database to aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_cents(price: Decimal) -> int:
    """Convert a price with at most two decimals to integer cents."""
    return int(price * 100)


def from_cents(cents: int) -> float:
    """Convert integer cents to a JSON-friendly number of currency units."""
    return cents / 100
