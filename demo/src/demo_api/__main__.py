"""``python -m demo_api --host 127.0.0.1 --port 8000 [--workers N] [--shutdown-timeout S]``."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import ValidationError

from demo_api.config import Settings
from demo_api.faults import FaultSpecError, parse_faults


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo_api", description="Run the demo shop.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--shutdown-timeout", type=int, default=2,
                        help="on SIGTERM, cancel requests still open after this many seconds"
                             " (default 2; a hung request would otherwise hold the exit)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Validate the configuration, then hand over to uvicorn."""
    args = _args(argv)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.shutdown_timeout < 0:
        print("error: --shutdown-timeout must be 0 or more", file=sys.stderr)
        return 2
    try:
        settings = Settings()
        parse_faults(settings.faults)
        from demo_api.main import app  # noqa: F401  (builds the app: checks the fault routes)
    except (FaultSpecError, ValidationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "demo_api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=args.shutdown_timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
