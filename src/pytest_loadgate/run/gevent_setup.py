"""Monkey-patch the process for gevent once, early, in a way that survives pytest and xdist.

Locust patches everything (threads included) on import. Under pytest that breaks xdist workers
(``LoopExit``) and a ``requests`` imported before the patch recurses inside ``ssl``. We patch
first, with real OS threads kept, and tell Locust not to patch again.
"""

from __future__ import annotations

import os
import sys
from typing import Any

SKIP_PATCH_ENV = "LOCUST_SKIP_MONKEY_PATCH"


def ensure_patched() -> None:
    """Patch sockets, select, time etc. for gevent; leave threads and (if already in use) ssl."""
    os.environ[SKIP_PATCH_ENV] = "1"
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        return
    # Patching ssl after requests/urllib3 built their SSL contexts leads to RecursionError.
    ssl_in_use = any(m in sys.modules for m in ("requests", "urllib3", "httpx", "ssl"))
    monkey.patch_all(thread=False, ssl=not ssl_in_use)


def is_xdist_controller(options: Any) -> bool:
    """True in the pytest-xdist controller process, which runs no tests and must stay unpatched.

    Its execnet gateways use real threads and pipes that gevent's patched primitives break.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") and sys.argv[:1] == ["-c"]:
        # An xdist worker (execnet starts it with `python -c`): it sees the controller's -n too.
        # The variable alone is not enough: a pytest started inside a worker inherits it.
        return False
    workers = getattr(options, "numprocesses", None)
    return bool(workers) or bool(getattr(options, "tx", None))
