"""The demo shop: a small FastAPI + SQLAlchemy API that pytest-loadgate load-tests."""

from __future__ import annotations

__version__ = "0.1.0"
