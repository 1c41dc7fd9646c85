"""Where the worker link's token comes from, when a master beyond loopback needs one, and that
the token is never shown."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from pytest_loadgate.distributed_plan import TOKEN_ENV, WorkerPlan, is_loopback

CLI_TOKEN = "cli-token-0123456789abcdef"
ENV_TOKEN = "env-token-fedcba9876543210"

#: A test that checks the session's worker plan (remote, bind host, bind port, token).
PLAN_TEST = """
from pytest_loadgate.plugin import SETTINGS_KEY


def test_plan(request):
    plan = request.config.stash[SETTINGS_KEY].workers
    assert (plan.remote, plan.bind_host, plan.bind_port, plan.token) == {expected!r}
"""


@pytest.fixture(autouse=True)
def no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without LOADGATE_TOKEN (a developer's shell may have one)."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def _accepted(pytester: pytest.Pytester, expected: tuple[int, str, int, str | None],
              *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_plan=PLAN_TEST.format(expected=expected))
    result = pytester.runpytest("-p", "no:cacheprovider", "-v", *args)
    result.assert_outcomes(passed=1)
    return result


def _refused(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    error = result.stderr.str()
    assert "Traceback" not in error
    return error


def _output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


# -- where the token comes from -----------------------------------------------------------------
def test_the_token_option_sets_the_token(pytester: pytest.Pytester) -> None:
    result = _accepted(pytester, (0, "127.0.0.1", 0, CLI_TOKEN), f"--loadgate-token={CLI_TOKEN}")
    assert CLI_TOKEN not in _output(result)


def test_the_token_comes_from_the_environment(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, ENV_TOKEN)
    result = _accepted(pytester, (0, "127.0.0.1", 0, ENV_TOKEN))
    assert ENV_TOKEN not in _output(result)


def test_the_option_wins_over_the_environment(pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "short")  # not even read: the option decides
    _accepted(pytester, (0, "127.0.0.1", 0, CLI_TOKEN), f"--loadgate-token={CLI_TOKEN}")


def test_no_token_anywhere_means_none(pytester: pytest.Pytester) -> None:
    _accepted(pytester, (0, "127.0.0.1", 0, None))


def test_the_token_is_no_ini_key(pytester: pytest.Pytester) -> None:
    # A secret does not belong in a checked-in file: pytest warns and the plugin ignores it.
    pytester.makeini(f"[pytest]\nloadgate_token = {CLI_TOKEN}\n")
    result = _accepted(pytester, (0, "127.0.0.1", 0, None))
    result.stdout.fnmatch_lines(["*Unknown config option: loadgate_token*"])


def test_a_short_token_option_is_a_usage_error_naming_the_option(
        pytester: pytest.Pytester) -> None:
    error = _refused(pytester, "--loadgate-token=tooshort123")
    assert "--loadgate-token: the token must be at least 16 characters" in error
    assert "tooshort123" not in error


def test_a_short_token_in_the_environment_is_a_usage_error_naming_the_variable(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "x" * 15)
    error = _refused(pytester)
    assert f"${TOKEN_ENV}: the token must be at least 16 characters" in error
    assert "x" * 15 not in error


def test_a_token_of_16_characters_is_enough(pytester: pytest.Pytester) -> None:
    _accepted(pytester, (0, "127.0.0.1", 0, "y" * 16), "--loadgate-token=" + "y" * 16)


# -- a master beyond loopback -------------------------------------------------------------------
REMOTE = ("--loadgate-remote-workers=1",)


def test_remote_workers_on_a_public_bind_without_a_token_are_refused(
        pytester: pytest.Pytester) -> None:
    error = _refused(pytester, *REMOTE, "--loadgate-master-bind=0.0.0.0:5557")
    assert "--loadgate-master-bind: the master would listen on 0.0.0.0, beyond loopback," \
        " without a token" in error
    assert f"Set {TOKEN_ENV} (or --loadgate-token)" in error


def test_a_public_bind_from_the_ini_file_is_named_as_the_ini_key(
        pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nloadgate_master_bind = 10.1.2.3:5557\n")
    error = _refused(pytester, *REMOTE)
    assert "ini loadgate_master_bind: the master would listen on 10.1.2.3" in error
    assert TOKEN_ENV in error


@pytest.mark.parametrize("token_from", ["option", "env"])
def test_remote_workers_on_a_public_bind_with_a_token_are_accepted(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, token_from: str) -> None:
    args = [*REMOTE, "--loadgate-master-bind=0.0.0.0:5557"]
    if token_from == "env":
        monkeypatch.setenv(TOKEN_ENV, ENV_TOKEN)
        token = ENV_TOKEN
    else:
        args.append(f"--loadgate-token={CLI_TOKEN}")
        token = CLI_TOKEN
    result = _accepted(pytester, (1, "0.0.0.0", 5557, token), *args)
    assert token not in _output(result)


@pytest.mark.parametrize(("bind", "host"), [
    ("127.0.0.1:5557", "127.0.0.1"),
    ("localhost:5557", "localhost"),
    ("[::1]:5557", "[::1]"),
])
def test_remote_workers_on_a_loopback_bind_need_no_token(pytester: pytest.Pytester,
                                                         bind: str, host: str) -> None:
    _accepted(pytester, (1, host, 5557, None), *REMOTE, f"--loadgate-master-bind={bind}")


def test_local_workers_on_a_public_bind_need_no_token(pytester: pytest.Pytester) -> None:
    # Only remote workers are told the token by the user; local ones get a fresh one.
    _accepted(pytester, (0, "0.0.0.0", 5557, None), "--loadgate-workers=1",
              "--loadgate-master-bind=0.0.0.0:5557")


# -- is_loopback --------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True),
    ("127.8.9.10", True),
    ("::1", True),
    ("[::1]", True),
    ("localhost", True),
    ("ip6-localhost", True),
    ("0.0.0.0", False),
    ("::", False),
    ("[::]", False),
    ("10.1.2.3", False),
    ("192.168.0.7", False),
    ("2001:db8::1", False),
])
def test_is_loopback_for_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _resolver(addresses: dict[str, list[str]]) -> Callable[..., list[Any]]:
    """A getaddrinfo that knows only ``addresses`` (no DNS in a unit test)."""
    def getaddrinfo(host: str, *_: Any, **__: Any) -> list[Any]:
        if host not in addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, 0)) for a in addresses[host]]
    return getaddrinfo


@pytest.mark.parametrize(("host", "loopback"), [
    ("no-such-host.invalid", False),
    ("devbox", True),
    ("dual", False),
    ("lan", False),
    ("nothing", False),
])
def test_is_loopback_for_names(monkeypatch: pytest.MonkeyPatch, host: str,
                               loopback: bool) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({
        "devbox": ["127.0.1.1", "::1"],
        "dual": ["127.0.0.1", "192.168.0.7"],
        "lan": ["10.0.0.5"],
        "nothing": [],
    }))
    assert is_loopback(host) is loopback


# -- WorkerPlan ---------------------------------------------------------------------------------
def test_a_worker_plans_repr_hides_its_token() -> None:
    plan = WorkerPlan(local=1, remote=2, bind_host="0.0.0.0", bind_port=5557, token=CLI_TOKEN)
    assert plan.token == CLI_TOKEN
    assert plan.total == 3
    for shown in (repr(plan), str(plan), f"{plan}", f"{plan!r}", repr([plan])):
        assert CLI_TOKEN not in shown
        assert "token" not in shown
    assert "bind_host='0.0.0.0'" in repr(plan)
