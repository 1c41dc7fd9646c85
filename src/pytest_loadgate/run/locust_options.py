"""``environment.parsed_options`` for an in-process run, as Locust's command line would parse it.

Locustfiles read ``environment.parsed_options`` (``headless``, ``host``, ``num_users``, and
their own arguments added by ``init_command_line_parser`` listeners). Each run gets a namespace
from Locust's own parser (so custom arguments get their defaults and types), filled with the
run's users, spawn rate, run time, host and tags, then the values the session
(``--loadgate-locust-option NAME=VALUE``) and the test (``locust_options={...}``) set.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from locust.argument_parser import (
    get_empty_argument_parser,
    get_parser,
    setup_parser_arguments,
)

from pytest_loadgate.errors import LoadgateConfigError

#: Locust options that cannot work inside a pytest process, and why.
REFUSED = {
    "processes": "forks the Locust process; use --loadgate-workers N for more generator cores",
    "master": "makes this process a master; use --loadgate-workers/--loadgate-remote-workers",
    "worker": ("makes this process a worker; start workers with"
               " python -m pytest_loadgate.run.worker"),
}
#: Options the run itself sets, and where to set them instead.
FROM_THE_RUN = {
    "num_users": "users=", "spawn_rate": "spawn_rate=", "run_time": "run_time=",
    "host": "--loadgate-host or loadgate_app", "tags": "tags=", "exclude_tags": "exclude_tags=",
    "headless": "(always true)",
}


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest not in (None, "help", argparse.SUPPRESS)}


def _dest(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_")


def _check_settable(dest: str, actions: Mapping[str, argparse.Action], source: str) -> None:
    if dest in REFUSED:
        raise LoadgateConfigError(f"{source}: Locust's --{dest.replace('_', '-')} cannot work"
                                  f" in-process: it {REFUSED[dest]}")
    if dest in FROM_THE_RUN:
        raise LoadgateConfigError(f"{source}: {dest} is set by the run; use"
                                  f" {FROM_THE_RUN[dest]}")
    if dest not in actions:
        custom = sorted(d for d in actions if d not in builtin_dests())
        known = ", ".join(custom) if custom else "none"
        raise LoadgateConfigError(
            f"{source}: Locust has no option {dest!r} (custom options added by"
            f" init_command_line_parser listeners: {known})")


def _convert(action: argparse.Action, raw: str, source: str) -> Any:
    """A command-line string as Locust's parser would turn it into a value."""
    if action.nargs == 0:  # store_true / store_false flags
        lowered = raw.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise LoadgateConfigError(f"{source}: {raw!r} is not a boolean (true/false)")
        return lowered in ("true", "1", "yes")
    try:
        value = action.type(raw) if callable(action.type) else raw
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise LoadgateConfigError(f"{source}: {raw!r} is not valid: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise LoadgateConfigError(
            f"{source}: {raw!r} is not one of {', '.join(map(str, action.choices))}")
    return value



def builtin_dests() -> frozenset[str]:
    """Locust's own option names (built once, and only when an error message needs them)."""
    parser = get_empty_argument_parser(add_help=False, default_config_files=[])
    setup_parser_arguments(parser)
    return frozenset(_actions(parser))


def build_parsed_options(*, users: int | None, spawn_rate: float | None, run_time_s: float,
                         host: str, tags: Sequence[str] | None = None,
                         exclude_tags: Sequence[str] | None = None,
                         session: Mapping[str, str] | None = None,
                         per_test: Mapping[str, Any] | None = None) -> argparse.Namespace:
    """The namespace ``locust --headless -u USERS -r RATE -t TIME --host HOST`` would give,
    with ``session`` (strings, as on a command line) and ``per_test`` (Python values) applied.
    Locust's config files are not read (a pytest run is configured by pytest); ``LOCUST_*``
    environment variables are, as by the command line."""
    parser = get_parser(default_config_files=[])  # fires init_command_line_parser
    try:
        options: argparse.Namespace = parser.parse_args([])
    except SystemExit as exc:  # a required custom argument, or a bad LOCUST_* variable
        raise LoadgateConfigError(
            "Locust's options could not be parsed with their defaults (a custom option added"
            " by an init_command_line_parser listener may be required: set it with"
            f" --loadgate-locust-option NAME=VALUE): exit {exc.code}") from None
    actions = _actions(parser)
    for name, raw in (session or {}).items():
        dest = _dest(name)
        source = f"--loadgate-locust-option {name}={raw}"
        _check_settable(dest, actions, source)
        setattr(options, dest, _convert(actions[dest], raw, source))
    for name, value in (per_test or {}).items():
        dest = _dest(name)
        _check_settable(dest, actions, f"locust_options={{{name!r}: {value!r}}}")
        setattr(options, dest, value)
    options.num_users = users
    options.spawn_rate = spawn_rate
    options.run_time = int(run_time_s) if run_time_s else None
    options.host = host
    options.headless = True
    options.tags = list(tags) if tags else options.tags
    options.exclude_tags = list(exclude_tags) if exclude_tags else options.exclude_tags
    return options
