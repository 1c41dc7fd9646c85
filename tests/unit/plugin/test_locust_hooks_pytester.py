"""Locustfiles unchanged: Locust's module-level event hooks, parsed options, tags, custom clients.

Each test writes a locustfile-style module that registers listeners on the global
``locust.events`` at import time (as locustfiles do) and checks, after real runs, that they
fired as ``locust --headless`` fires them: each once per run, in the command line's order,
with its arguments, and that nothing piles up from one run to the next.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HOOKED = '''
import json, os
from locust import FastHttpUser, constant, events, task

LOG = os.path.join(os.path.dirname(__file__), "events.jsonl")
counts = {"requests": 0, "added": 0}


def log(event, **data):
    with open(LOG, "a") as fh:
        fh.write(json.dumps({"event": event, **data}) + "\\n")


@events.init.add_listener
def on_init(environment, runner, web_ui, **kw):
    counts["added"] = 0
    # A listener added from init: under the command line it exists once; here once per run.
    environment.events.request.add_listener(on_request_added)
    log("init", runner=type(runner).__name__, web_ui=web_ui,
        headless=environment.parsed_options.headless,
        num_users=environment.parsed_options.num_users)


def on_request_added(**kw):
    counts["added"] += 1


@events.test_start.add_listener
def on_test_start(environment, **kw):
    counts["requests"] = 0
    log("test_start")


@events.spawning_complete.add_listener
def on_spawned(user_count, **kw):
    log("spawning_complete", user_count=user_count)


@events.request.add_listener
def on_request(request_type, name, response_time, response_length, exception, **kw):
    counts["requests"] += 1


@events.test_stopping.add_listener
def on_stopping(environment, **kw):
    log("test_stopping")


@events.test_stop.add_listener
def on_test_stop(environment, **kw):
    log("test_stop", requests=counts["requests"], added=counts["added"])


@events.quitting.add_listener
def on_quitting(environment, **kw):
    log("quitting")


@events.quit.add_listener
def on_quit(exit_code, **kw):
    log("quit", exit_code=exit_code)


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def root(self):
        self.client.get("/")
'''

CLI_ORDER = ["init", "test_start", "spawning_complete", "test_stopping", "test_stop",
             "quitting", "quit"]


def _events(project: pytest.Pytester) -> list[dict]:
    return [json.loads(line) for line in (project.path / "events.jsonl").read_text().splitlines()]


def _report(project: pytest.Pytester, test: str) -> dict:
    (path,) = (project.path / "reports").glob(f"*_{test}.json")
    return json.loads(Path(path).read_text())


def test_module_level_hooks_fire_once_per_run_in_the_clis_order(project: pytest.Pytester,
                                                                 run) -> None:
    project.makepyfile(hooked=HOOKED)
    project.makepyfile(test_hooks="""
        import locust, pytest, hooked

        def handler_counts():
            return {name: len(hook._handlers) for name, hook in vars(locust.events).items()
                    if isinstance(hook, locust.event.EventHook)}

        BEFORE = handler_counts()

        @pytest.mark.perf(users=3, run_time='3s', warmup=0)
        def test_first(loadgate):
            loadgate.run(hooked.Visitor)
            assert handler_counts() == BEFORE  # nothing of the run stays behind

        @pytest.mark.perf(users=3, run_time='3s', warmup=0)
        def test_second(loadgate):
            result = loadgate.run(hooked.Visitor)
            assert handler_counts() == BEFORE
            # the module's own request listener saw the requests the run recorded (give or
            # take those its users sent between the run's end and their stop)
            assert abs(hooked.counts["requests"] - result.samples["raw_kept"]) <= 3
    """)
    result = run()
    result.assert_outcomes(passed=2)
    events = _events(project)
    names = [e["event"] for e in events]
    assert names == CLI_ORDER * 2, names
    inits = [e for e in events if e["event"] == "init"]
    assert all(e["runner"] == "LocalRunner" and e["web_ui"] is None and e["headless"]
               and e["num_users"] == 3 for e in inits)
    assert all(e["user_count"] == 3 for e in events if e["event"] == "spawning_complete")
    assert all(e["exit_code"] == 0 for e in events if e["event"] == "quit")
    stops = [e for e in events if e["event"] == "test_stop"]
    for stop, test in zip(stops, ("test_first", "test_second"), strict=True):
        requests = _report(project, test)["samples"]["raw_kept"]
        assert requests > 20
        # The listener init added saw this run's requests only: it did not pile up.
        assert stop["added"] == stop["requests"]
        assert abs(stop["requests"] - requests) <= 3  # in flight at the stop, counted after


def test_a_raising_listener_fails_the_verdict_and_names_itself(project: pytest.Pytester,
                                                               run) -> None:
    project.makepyfile(test_raising="""
        import pytest
        from locust import FastHttpUser, constant, events, task

        @events.test_start.add_listener
        def check_fixtures(environment, **kw):
            raise RuntimeError("test data missing")

        class Visitor(FastHttpUser):
            wait_time = constant(0.05)

            @task
            def root(self):
                self.client.get("/")

        @pytest.mark.perf(users=2, run_time='2s', warmup=0)
        def test_raising(loadgate):
            loadgate.run(Visitor)
    """)
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*event listener check_fixtures() raised RuntimeError: test data missing*"])


def test_custom_clients_that_fire_the_global_request_event_are_recorded_and_judged(
        project: pytest.Pytester, run) -> None:
    project.makepyfile(test_custom_client="""
        import time
        import pytest
        from locust import User, constant, events, task

        class QueueClient:
            '''A non-HTTP client, reporting as Locust's docs show: events.request.fire.'''
            def send(self, topic, slow=False):
                started = time.perf_counter()
                time.sleep(0.02 if slow else 0.001)
                events.request.fire(request_type="QUEUE", name=topic,
                                    response_time=(time.perf_counter() - started) * 1000,
                                    response_length=0, response=None, context={},
                                    exception=None)

        class Producer(User):
            wait_time = constant(0.01)

            def on_start(self):
                self.client = QueueClient()

            @task
            def publish(self):
                self.client.send("orders", slow=self.environment.parsed_options.slow_queue)

        @events.init_command_line_parser.add_listener
        def add_args(parser, **kw):
            parser.add_argument("--slow-queue", action="store_true", default=False)

        @pytest.mark.perf(users=2, run_time='3s', warmup=0, p95_ms=10)
        def test_fast_queue(loadgate):
            loadgate.run(Producer)

        @pytest.mark.perf(users=2, run_time='3s', warmup=0, p95_ms=10,
                          locust_options={"slow_queue": True})
        def test_slow_queue(loadgate):
            loadgate.run(Producer)
    """)
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    fast, slow = _report(project, "test_fast_queue"), _report(project, "test_slow_queue")
    assert fast["endpoints"]["QUEUE orders"]["requests"] > 50
    assert fast["endpoints"]["QUEUE orders"]["status_counts"] == {
        "none": fast["endpoints"]["QUEUE orders"]["requests"]}
    assert slow["endpoints"]["QUEUE orders"]["p95_ms"] >= 20
    result.stdout.fnmatch_lines(["*total*p95_ms*<= 10.0 ms*FAIL*"])


PARSED = """
    import pytest
    from locust import FastHttpUser, constant, events, task

    seen = []

    @events.init_command_line_parser.add_listener
    def add_args(parser, **kw):
        parser.add_argument("--pages", type=int, default=2, help="pages to visit")
        parser.add_argument("--mode", choices=["read", "write"], default="read")

    class Visitor(FastHttpUser):
        wait_time = constant(0.05)

        def on_start(self):
            opts = self.environment.parsed_options
            seen.append((opts.pages, opts.mode, opts.host.startswith("http://127.0.0.1")))

        @task
        def root(self):
            self.client.get("/")
"""


def test_parsed_options_have_defaults_session_values_and_per_test_values(
        project: pytest.Pytester, run) -> None:
    project.makepyfile(test_parsed=PARSED + """
    @pytest.mark.perf(users=1, run_time='1s', warmup=0)
    def test_session_value(loadgate):
        seen.clear()
        loadgate.run(Visitor)
        assert seen == [(5, "read", True)]

    @pytest.mark.perf(users=1, run_time='1s', warmup=0, locust_options={"pages": 9})
    def test_per_test_value(loadgate):
        seen.clear()
        loadgate.run(Visitor)
        assert seen == [(9, "read", True)]
    """)
    result = run("--loadgate-locust-option", "pages=5")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("args", "marker", "message"), [
    (("--loadgate-locust-option", "pages=many"), "",
     "*--loadgate-locust-option pages=many: 'many' is not valid*"),
    (("--loadgate-locust-option", "mode=delete"), "",
     "*--loadgate-locust-option mode=delete: 'delete' is not one of read, write*"),
    ((), "locust_options={'pagez': 3}",
     "*locust_options={'pagez': 3}: Locust has no option 'pagez'*pages*"),
    ((), "locust_options={'processes': 4}",
     "*Locust's --processes cannot work in-process*--loadgate-workers*"),
    ((), "locust_options={'num_users': 4}", "*num_users is set by the run; use users=*"),
])
def test_bad_locust_options_are_clear_errors(project: pytest.Pytester, run,
                                             args: tuple[str, ...], marker: str,
                                             message: str) -> None:
    project.makepyfile(test_parsed=PARSED + f"""
    @pytest.mark.perf(users=1, run_time='1s', warmup=0, {marker})
    def test_it(loadgate):
        loadgate.run(Visitor)
    """)
    result = run(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    assert not (project.path / "reports").exists() or not list(
        (project.path / "reports").glob("*.json"))  # refused before any load


def test_tags_select_tasks_and_leave_the_classes_as_they_were(project: pytest.Pytester,
                                                              run) -> None:
    project.makepyfile(test_tags="""
        import pytest
        from locust import FastHttpUser, TaskSet, constant, tag, task

        class Browse(TaskSet):
            @tag("read")
            @task
            def home(self):
                self.client.get("/")

            @tag("write")
            @task
            def slow(self):
                self.client.get("/slow")

        class Visitor(FastHttpUser):
            wait_time = constant(0.02)
            tasks = [Browse]

        @pytest.mark.perf(users=2, run_time='2s', warmup=0, tags=["read"])
        def test_read_only(loadgate):
            result = loadgate.run(Visitor)
            assert set(result.endpoints) == {"GET /"}

        @pytest.mark.perf(users=2, run_time='2s', warmup=0)
        def test_everything_again(loadgate):
            # The shared TaskSet got its two tasks back after the tagged run.
            assert len(Browse.tasks) == 2
            result = loadgate.run(Visitor)
            assert set(result.endpoints) == {"GET /", "GET /slow"}

        @pytest.mark.perf(users=2, run_time='2s', warmup=0)
        def test_session_exclude(loadgate):
            result = loadgate.run(Visitor)
            assert set(result.endpoints) == {"GET /slow"}
    """)
    result = run("-k", "read_only or everything_again")
    result.assert_outcomes(passed=2)
    result = run("-k", "session_exclude", "--loadgate-exclude-tags", "read")
    result.assert_outcomes(passed=1)
