"""Bad configuration ends in one clear error naming the key and its value."""

from __future__ import annotations

import sys

import pytest

from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.target.server import expand_command


def test_braces_in_a_server_command_are_the_commands_own() -> None:
    words = expand_command("""sh -c 'echo {"ready": true} {port}' --python {python}""", 8123)
    assert words == ["sh", "-c", 'echo {"ready": true} 8123', "--python", sys.executable]


@pytest.mark.parametrize(("template", "reason"), [
    ("serve --port {port} 'unterminated", "No closing quotation"),
    ("   ", "the command is empty"),
])
def test_a_server_command_that_cannot_be_split_names_the_key(template: str,
                                                             reason: str) -> None:
    with pytest.raises(LoadgateConfigError) as info:
        expand_command(template, 1)
    assert str(info.value).startswith("ini loadgate_server_command = ")
    assert reason in str(info.value)


def test_a_bad_server_command_stops_the_session_at_start(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
[pytest]
loadgate_server_command = {python} -m http.server {port} 'oops
""")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini loadgate_server_command = *No closing quotation*"])
    assert "Traceback" not in result.stderr.str()


#: (option, bad value, what the error must say besides the option's name).
BAD_OPTIONS = [
    ("--loadgate-host", "127.0.0.1:8000", "127.0.0.1:8000"),
    ("--loadgate-startup-timeout", "soon", "soon"),
    ("--loadgate-startup-timeout", "-1", "-1"),
    ("--loadgate-progress", "loud", "loud"),
    ("--loadgate-workers", "two", "two"),
    ("--loadgate-workers", "-1", "-1"),
    ("--loadgate-remote-workers", "x", "x"),
    ("--loadgate-master-bind", "nohostport", "nohostport"),
    ("--loadgate-worker-timeout", "0", "0"),
    ("--loadgate-unreliable", "ignore", "ignore"),
    ("--loadgate-baseline", "maybe", "maybe"),
    ("--loadgate-confirm", "-2", "-2"),
    ("--loadgate-calibrate", "many", "many"),
    ("--loadgate-max-stall", "forever", "forever"),
    ("--loadgate-request-timeout", "0s", "0s"),
    ("--loadgate-max-samples", "lots", "lots"),
    ("--loadgate-warmup", "-3s", "-3s"),
    ("--loadgate-users", "0", "0"),
    ("--loadgate-spawn-rate", "fast", "fast"),
    ("--loadgate-run-time", "1 fortnight", "1 fortnight"),
    ("--loadgate-threshold", "p95_ms", "p95_ms"),
    ("--loadgate-threshold", "p95_ms=fast", "fast"),
    ("--loadgate-locust-option", "novalue", "novalue"),
]


@pytest.mark.parametrize(("option", "value", "says"), BAD_OPTIONS)
def test_every_bad_option_value_is_a_usage_error_naming_it(
        pytester: pytest.Pytester, option: str, value: str, says: str) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    extra = ["--loadgate-locustfile", "lf.py"] if option in (
        "--loadgate-users", "--loadgate-spawn-rate", "--loadgate-run-time",
        "--loadgate-threshold") else []
    if extra:
        pytester.makepyfile(lf="from locust import HttpUser, task\n\n\n"
                               "class U(HttpUser):\n    @task\n    def t(self):\n"
                               "        self.client.get('/')\n")
    result = pytester.runpytest("-p", "no:cacheprovider", f"{option}={value}", *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    error = result.stderr.str()
    assert option in error and says in error, error
    assert "Traceback" not in error
