"""pytest-loadgate: Locust load tests as pytest verdicts."""

from __future__ import annotations

from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.verdict.result import EndpointStats, LoadResult

__all__ = ["EndpointStats", "LoadResult", "LoadgateConfigError", "__version__"]
__version__ = "0.1.0"
