"""A locustfile as a test: ``pytest --loadgate-locustfile PATH`` collects one item per file.

The item runs the file the way ``locust --headless -f PATH`` would: the file is imported with
Locust's own loader (same module name, same discovery of User and LoadTestShape classes), all
its non-abstract User classes run with their weights (or its shape drives the load), with the
load and thresholds of ``--loadgate-users``/``--loadgate-spawn-rate``/``--loadgate-run-time``
and ``--loadgate-threshold KEY=VALUE``. It is a ``perf`` test like any other: the ``loadgate``
fixture runs it, and its verdict, reports and JUnit entry are those of a marker-based test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.run.locustfile_import import import_locustfile
from pytest_loadgate.settings import Settings

ITEM_NAME = "locustfile"
#: A shape decides when its run ends; without --loadgate-run-time this caps it.
DEFAULT_SHAPE_RUN_TIME_SEC = 600.0


def locustfile_marker_kwargs(spec: Mapping[str, Any], has_shape: bool) -> dict[str, Any]:
    """The ``perf`` marker arguments of a locustfile item (a shape runs until it ends)."""
    kwargs = dict(spec)
    if has_shape:
        kwargs.setdefault("run_time", DEFAULT_SHAPE_RUN_TIME_SEC)
    return kwargs


class LocustfileCollector(pytest.File):
    """Collects the one test of a locustfile named by ``--loadgate-locustfile``."""

    def __init__(self, *, spec: Mapping[str, Any] | None = None,
                 capacity: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = dict(spec or {})
        self.capacity = dict(capacity) if capacity is not None else None

    def collect(self) -> Iterator[pytest.Item]:
        try:
            users, shape = import_locustfile(self.path)
        except LoadgateConfigError as exc:
            raise self.CollectError(str(exc)) from None
        except Exception as exc:  # the locustfile's own import error, named with its file
            raise self.CollectError(
                f"{self.path}: importing it raised {type(exc).__name__}: {exc}") from None

        if self.capacity is not None:
            if shape is not None:
                raise self.CollectError(
                    f"{self.path}: its LoadTestShape drives the load, so it cannot be searched"
                    " for capacity (--loadgate-capacity runs the open model's arrival rates)")

            def search_locustfile(loadgate: Any) -> None:
                __tracebackhide__ = True
                loadgate.capacity(*users)

            search_locustfile.__doc__ = f"Finds the capacity of {self.path.name}."
            item = pytest.Function.from_parent(self, name=ITEM_NAME,
                                               callobj=search_locustfile)
            item.add_marker(pytest.mark.capacity(**self.capacity))
            yield item
            return

        def run_locustfile(loadgate: Any) -> None:
            __tracebackhide__ = True
            loadgate.run(*users, shape=shape)

        run_locustfile.__doc__ = f"Runs {self.path.name} as locust --headless would."
        item = pytest.Function.from_parent(self, name=ITEM_NAME, callobj=run_locustfile)
        item.add_marker(pytest.mark.perf(**locustfile_marker_kwargs(self.spec,
                                                                    shape is not None)))
        yield item


def check_locustfile_spec(settings: Settings) -> None:
    """Validate the load and thresholds of locustfile tests once, at start: a bad
    ``--loadgate-threshold`` is a usage error naming it, before anything runs."""
    from pytest_loadgate.gate import session_defaults
    from pytest_loadgate.spec import build_spec

    build_spec("perf", {**session_defaults(settings), **settings.locustfile_spec},
               where="--loadgate-locustfile tests (--loadgate-users, --loadgate-spawn-rate,"
                     " --loadgate-run-time, --loadgate-threshold)")
    if settings.locustfile_capacity is not None:
        from pytest_loadgate.capacity.spec import capacity_spec

        capacity_spec(settings.locustfile_capacity, where="--loadgate-capacity",
                      profile=settings.profile)
