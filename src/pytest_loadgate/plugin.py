"""pytest hooks and fixtures of pytest-loadgate; the logic lives in plain modules beside this."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_loadgate.capacity.spec import CapacitySpec, capacity_spec
from pytest_loadgate.errors import LoadgateConfigError, LoadgateServerError
from pytest_loadgate.gate import (
    CALIBRATION_PROPERTY,
    SUMMARY_PROPERTY,
    LoadGate,
    session_defaults,
)
from pytest_loadgate.locustfile_items import LocustfileCollector, check_locustfile_spec
from pytest_loadgate.report.progress import ProgressPrinter
from pytest_loadgate.run.gevent_setup import SKIP_PATCH_ENV, ensure_patched, is_xdist_controller
from pytest_loadgate.settings import (
    CLI_ONLY,
    INI_ONLY,
    OPTIONS,
    REPEATED,
    Settings,
    configured_timeout,
    load_settings,
)
from pytest_loadgate.signals import install_sigterm_interrupt, restore_sigterm
from pytest_loadgate.spec import (
    RUN_BUDGET_MARGIN_SEC,
    LoadSpec,
    Mode,
    run_budget_s,
    spec_from_marker,
)
from pytest_loadgate.target.reference import ReferenceServer
from pytest_loadgate.target.server import Target, boot_target

if TYPE_CHECKING:
    from pytest_loadgate.report.schema import SummaryRow

SETTINGS_KEY = pytest.StashKey[Settings]()
SPEC_KEY = pytest.StashKey[LoadSpec | None]()
SIGTERM_KEY = pytest.StashKey[Any]()
POOL_KEY = pytest.StashKey["WorkerPoolSlot"]()
CAPACITY_KEY = pytest.StashKey[CapacitySpec | None]()
#: The marker's spec, or why it is invalid: parsed once per test, whichever hook asks first.
PARSED_KEY = pytest.StashKey[LoadSpec | LoadgateConfigError | None]()

MARKER_HELP = (
    "users=10, spawn_rate=users, run_time='10s', warmup=min(3s, 25% of the run after ramp-up),"
    " abort_on_fail=False, abort_grace=3,"
    " or the open model: arrival_rate=N (iterations/s) or arrival_stages=[{'rate': N,"
    " 'duration': '30s'}, ...], max_users, arrivals='uniform'|'poisson', max_dropped_rate=0;"
    " max_stall='2s', request_timeout='10s',"
    " avg_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms, max_error_rate, min_rps,"
    " endpoints={'METHOD name': {...}}, profiles={'NAME': {...}}"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register --loadgate-* options and loadgate_* ini keys."""
    group = parser.getgroup("loadgate", "load tests with Locust (pytest-loadgate)")
    for dest, flag, help_text in OPTIONS:
        group.addoption(flag, dest=dest, default=None, metavar=flag.split("-")[-1].upper(),
                        help=help_text)
        parser.addini(dest, help_text, default="")
    for dest, flag, metavar, help_text in REPEATED:
        group.addoption(flag, dest=dest, action="append", default=None, metavar=metavar,
                        help=help_text)
        parser.addini(dest, help_text, type="linelist", default=[])
    for dest, flag, help_text in CLI_ONLY:
        group.addoption(flag, dest=dest, default=None, metavar=flag.split("-")[-1].upper(),
                        help=help_text)
    for key, help_text, default in INI_ONLY:
        parser.addini(key, help_text, default=default)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Patch for gevent before any conftest imports requests (not in an xdist controller)."""
    os.environ[SKIP_PATCH_ENV] = "1"
    if not is_xdist_controller(early_config.known_args_namespace):
        ensure_patched()


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and validate settings once."""
    config.addinivalue_line(
        "markers", f"perf({MARKER_HELP}): a load test gated by thresholds (loadgate fixture)")
    config.addinivalue_line(
        "markers", "race(users=20, spawn_rate=users, run_time='60s' (timeout), thresholds as"
        " perf): spawn all users, release them at once, each runs one task")
    config.addinivalue_line(
        "markers", "capacity(slo={'p95_ms': 200, 'max_error_rate': 0.01}, start_rate=10,"
        " max_rate=2000, precision=0.05, step_time='10s', min_capacity_rps=None,"
        " max_regression={'capacity': 0.15}): find the highest open-model arrival rate meeting"
        " the SLO (loadgate.capacity(UserClasses...))")
    try:
        settings = config.stash[SETTINGS_KEY] = load_settings(config)
        if settings.locustfiles:
            check_locustfile_spec(settings)
    except LoadgateConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    # Locustfiles are collected where pytest walks: the paths join the command's arguments.
    config.args.extend(str(p) for p in settings.locustfiles if str(p) not in config.args)
    config.pluginmanager.register(LoadgateSession(config, config.stash[SETTINGS_KEY]),
                                 "loadgate-session")
    config.stash[SIGTERM_KEY] = install_sigterm_interrupt()
    config.stash[POOL_KEY] = WorkerPoolSlot(settings)
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(LoadgateHtmlExtras(config, config.stash[SETTINGS_KEY]),
                                      "loadgate-html")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the session's load workers; put SIGTERM's handler back as it was."""
    slot = config.stash.get(POOL_KEY, None)
    if slot is not None:
        slot.close()
    restore_sigterm(config.stash.get(SIGTERM_KEY, None))


class WorkerPoolSlot:
    """The session's load workers, started by the first load test that needs them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: Any = None

    def get(self) -> Any:
        """The pool (a ``pytest_loadgate.run.pool.WorkerPool``), or None for in-process runs."""
        if not self.settings.workers.total:
            return None
        if self.pool is None:
            from pytest_loadgate.run.pool import WorkerPool

            self.pool = WorkerPool(self.settings.workers, self.settings.report_dir)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A file named by ``--loadgate-locustfile`` becomes one load test."""
    settings = parent.config.stash[SETTINGS_KEY]
    if settings.locustfiles and file_path.resolve() in settings.locustfiles:
        return LocustfileCollector.from_parent(parent, path=file_path,
                                               spec=settings.locustfile_spec,
                                               capacity=settings.locustfile_capacity)
    return None


def _marker_spec(item: pytest.Item) -> LoadSpec | None:
    """The test's perf/race spec (None without one), parsed once; raises its error each time."""
    if PARSED_KEY not in item.stash:
        try:
            item.stash[PARSED_KEY] = _parse_marker(item)
        except LoadgateConfigError as exc:
            item.stash[PARSED_KEY] = exc
    parsed = item.stash[PARSED_KEY]
    if isinstance(parsed, LoadgateConfigError):
        raise parsed
    return parsed


def _parse_marker(item: pytest.Item) -> LoadSpec | None:
    markers = [(name, item.get_closest_marker(name)) for name in ("perf", "race")]
    present = [(name, m) for name, m in markers if m is not None]
    if not present:
        return None
    if len(present) > 1:
        raise LoadgateConfigError(f"{item.nodeid}: a test is either perf or race, not both")
    mode_name, marker = present[0]
    assert marker is not None
    mode: Mode = "perf" if mode_name == "perf" else "race"
    settings = item.config.stash[SETTINGS_KEY]
    defaults = session_defaults(settings)
    if mode == "race":  # a race has no warm-up; stall and timeout defaults apply to both
        defaults.pop("warmup", None)
    return spec_from_marker(mode, marker.args, marker.kwargs, defaults,
                            where=f"@pytest.mark.{mode_name}", profile=settings.profile)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give load tests the time they ask for under pytest-timeout: a global timeout meant for
    unit tests must not kill a 10-minute run (an explicit ``timeout`` marker still wins)."""
    if not config.pluginmanager.hasplugin("timeout"):
        return
    configured = configured_timeout(config.getoption("timeout", None), config.getini("timeout"))
    if not configured:
        return
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        try:
            spec = _marker_spec(item)
            capacity = _capacity_spec(item)
        except LoadgateConfigError:
            continue  # reported at setup
        budget = 0.0
        if spec is not None:
            budget = run_budget_s(spec, config.stash[SETTINGS_KEY])
        elif capacity is not None:  # every probe as long as a validation, each with a margin
            budget = capacity.budget_s + capacity.plan.max_probes * RUN_BUDGET_MARGIN_SEC / 6
        if budget > configured:
            item.add_marker(pytest.mark.timeout(budget))


def _capacity_spec(item: pytest.Item) -> CapacitySpec | None:
    """The test's capacity request (None without the marker); raises a bad one's error."""
    marker = item.get_closest_marker("capacity")
    if marker is None:
        return None
    if item.get_closest_marker("perf") or item.get_closest_marker("race"):
        raise LoadgateConfigError(f"{item.nodeid}: a capacity test is not also perf or race")
    if marker.args:
        raise LoadgateConfigError(f"@pytest.mark.capacity takes keyword arguments only, not"
                                  f" {marker.args!r}")
    return capacity_spec(marker.kwargs, "@pytest.mark.capacity",
                         profile=item.config.stash[SETTINGS_KEY].profile)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Validate perf/race/capacity marker arguments so a bad one errors the test at setup."""
    try:
        item.stash[SPEC_KEY] = _marker_spec(item)
        item.stash[CAPACITY_KEY] = _capacity_spec(item)
        return
    except LoadgateConfigError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


class LoadgateSession:
    """Per-session state: collects run summaries (also from xdist workers) and reports them."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.rows: list[SummaryRow] = []
        self.calibration: list[dict[str, Any]] = []
        #: Session files (index, job summary, calibration) that could not be written.
        self.write_errors: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the summary each load run attached to its test report."""
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == SUMMARY_PROPERTY:
                from pytest_loadgate.report.schema import parse_summary_row

                self.rows.append(parse_summary_row(json.loads(str(value)), report.nodeid))
            elif key == CALIBRATION_PROPERTY:
                self.calibration.extend(json.loads(str(value)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write index.html (and the CI job summary) on the controller after every load test
        ran."""
        if hasattr(self.config, "workerinput"):
            return
        if self.rows:
            from pytest_loadgate.report.ci_summary import append_step_summary, step_summary_path
            from pytest_loadgate.report.index_report import write_index

            try:
                index = write_index(self.settings.report_dir, self.rows)
                step_summary = step_summary_path()
                if step_summary is not None:
                    append_step_summary(step_summary, self.rows, index=index)
            except OSError as exc:
                self.write_errors.append(f"{exc.filename or self.settings.report_dir}:"
                                         f" {exc.strerror or exc}")
        if self.calibration:
            path = self.settings.report_dir / "calibration.json"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(self.calibration, indent=2))
            except OSError as exc:
                self.write_errors.append(f"{path}: {exc.strerror or exc}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One table of every load run: verdict, throughput, p95, errors, report."""
        for error in self.write_errors:
            terminalreporter.write_line(f"loadgate: could not write {error}", red=True)
        if self.calibration:
            from pytest_loadgate.target.calibration import format_rows

            tr = terminalreporter
            runs = self.settings.calibrate
            tr.write_sep("=", f"loadgate calibration: {runs} runs per test,"
                         f" {self.settings.report_dir / 'calibration.json'}")
            for test in dict.fromkeys(r["test"] for r in self.calibration):
                tr.write_line(test)
                for line in format_rows([r for r in self.calibration if r["test"] == test]):
                    tr.write_line(f"  {line}")
        if not self.rows or self.config.option.verbose < 0:
            return
        from pytest_loadgate.report.terminal import format_summary

        tr = terminalreporter
        tr.write_sep("=", f"loadgate: {len(self.rows)} load run(s),"
                     f" reports in {self.settings.report_dir}")
        for line in format_summary(self.rows):
            tr.write_line(line)
        tr.write_line(f"index: {self.settings.report_dir / 'index.html'}")


class LoadgateHtmlExtras:
    """Registered only with pytest-html: each load test's row gets its check table and links."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.settings = settings
        html_path = getattr(config.option, "htmlpath", None)
        self.html_dir = Path(html_path).parent if html_path else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Add the run's check table and report links to the call phase's extras."""
        report = yield
        rows = [value for key, value in item.user_properties if key == SUMMARY_PROPERTY]
        if call.when != "call" or not rows:
            return report
        import pytest_html  # present: this class is registered only with pytest-html

        from pytest_loadgate.report.html_extras import extras_fragment
        from pytest_loadgate.report.schema import parse_summary_row

        extras = list(getattr(report, "extras", []))
        for value in rows:
            row = parse_summary_row(json.loads(str(value)), item.nodeid)
            extras.append(pytest_html.extras.html(
                extras_fragment(row, self.settings.report_dir, self.html_dir)))
        report.extras = extras  # type: ignore[attr-defined]
        return report


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def loadgate_settings(pytestconfig: pytest.Config) -> Settings:
    """The validated session settings (ini < command line)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def loadgate_server_env() -> dict[str, str]:
    """Extra environment for the booted server; override it to point the app at a test database."""
    return {}


@pytest.fixture(scope="session")
def loadgate_server(loadgate_settings: Settings,
                    loadgate_server_env: dict[str, str]) -> Iterator[Target]:
    """The system under test: ``--loadgate-host``, or a server process booted for the session."""
    failure = None
    try:
        with boot_target(loadgate_settings, loadgate_server_env) as target:
            yield target
    except LoadgateServerError as exc:
        failure = str(exc)
    if failure is not None:  # outside the except: the message is shown once, not chained
        pytest.fail(failure, pytrace=False)


@pytest.fixture(scope="session")
def loadgate_reference(loadgate_settings: Settings) -> Iterator[ReferenceServer]:
    """The machine-speed reference server, booted on first use by a ``p50_ref`` rule."""
    reference = ReferenceServer(loadgate_settings.report_dir)
    try:
        yield reference
    finally:
        reference.stop()


def _progress_factory(config: pytest.Config) -> ProgressPrinter | None:
    settings = config.stash[SETTINGS_KEY]
    if settings.progress == "off" or hasattr(config, "workerinput"):
        return None
    if settings.progress == "auto" and config.option.verbose < 0:
        return None
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if tr is None:
        return None
    is_tty = bool(getattr(tr, "isatty", False)) or sys.stdout.isatty()

    def write(text: str) -> None:
        if capman is not None:
            with capman.global_and_fixture_disabled():
                tr.write(text)
                tr.flush()
        else:
            tr.write(text)

    return ProgressPrinter(write, is_tty=is_tty)


def _skip(reason: str) -> None:
    pytest.skip(reason)


@pytest.fixture
def loadgate(request: pytest.FixtureRequest, loadgate_settings: Settings,
             loadgate_server: Target, loadgate_reference: ReferenceServer,
             tmp_path_factory: pytest.TempPathFactory) -> LoadGate:
    """Run Locust user classes against the target and gate on the test's marker thresholds."""
    item = request.node
    # Under xdist each worker's base temp is a child of the session's: the run lock goes there.
    shared_tmp = (tmp_path_factory.getbasetemp().parent
                  if hasattr(request.config, "workerinput") else None)

    def record(key: str, value: Any) -> None:
        item.user_properties.append((key, value))

    return LoadGate(spec=item.stash.get(SPEC_KEY, None), target=loadgate_server,
                    test_id=item.nodeid, settings=loadgate_settings,
                    progress_factory=lambda: _progress_factory(request.config),
                    record=record, skip=_skip, reference=loadgate_reference,
                    shared_tmp=shared_tmp, worker_pool=request.config.stash[POOL_KEY].get,
                    capacity=item.stash.get(CAPACITY_KEY, None))
