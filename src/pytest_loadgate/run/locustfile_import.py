"""Find the User classes and the shape of a locustfile, as Locust's command line does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locust.util.load_locustfile import load_locustfile

from pytest_loadgate.errors import LoadgateConfigError


def import_locustfile(path: Path) -> tuple[list[type], Any]:
    """The User classes and the shape (an instance, or None) of a locustfile, found as
    Locust's command line finds them; errors name the file."""
    try:
        users, shapes = load_locustfile(str(path))
    except SystemExit as exc:
        raise LoadgateConfigError(f"{path}: could not be loaded (exit {exc.code})") from None
    if not users:
        raise LoadgateConfigError(
            f"{path}: no User class found (a locustfile defines a non-abstract subclass of"
            " locust.User, HttpUser or FastHttpUser)")
    if len(shapes) > 1:
        names = ", ".join(type(s).__name__ for s in shapes)
        raise LoadgateConfigError(
            f"{path}: more than one LoadTestShape class ({names}); Locust would ask which to"
            " use: keep one per locustfile")
    return list(users.values()), shapes[0] if shapes else None
