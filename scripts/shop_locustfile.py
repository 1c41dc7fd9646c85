"""The locustfile of ``run_load_tests.sh interactive``: the shop's Shopper and Admin users only.

Locust instantiates every ``LoadTestShape`` and offers every concrete user class it finds in a
locustfile's namespace. ``tests/perf/shop_users.py`` also holds classes made for the pytest
scenarios (race buyers, step shapes needing arguments), so the web UI gets this file instead:
only the realistic mix (Shopper weight 10, Admin weight 1) and Locust's default shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "perf"))

from shop_users import Admin, Shopper

__all__ = ["Admin", "Shopper"]
