"""Session settings from ini keys and command-line options (CLI wins), validated."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_loadgate.distributed_plan import TOKEN_ENV, WorkerPlan, is_loopback
from pytest_loadgate.durations import parse_duration
from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.stats.histograms import DEFAULT_MAX_SAMPLES

Progress = Literal["auto", "on", "off"]
DEFAULT_STARTUP_TIMEOUT_SEC = 30.0
DEFAULT_HEALTH_PATH = "/health"

#: (option dest, ini key, help) for settings that exist both as ini key and CLI option.
OPTIONS: list[tuple[str, str, str]] = [
    ("loadgate_host", "--loadgate-host",
     "target this base URL (e.g. http://127.0.0.1:8000) instead of booting a server"),
    ("loadgate_report_dir", "--loadgate-report-dir",
     "directory for HTML/CSV/JSON reports and index.html (default: reports)"),
    ("loadgate_startup_timeout", "--loadgate-startup-timeout",
     "seconds to wait for the booted server's health URL (default: 30)"),
    ("loadgate_progress", "--loadgate-progress",
     "live progress line: auto (terminal only, not with -q), on, off (default: auto)"),
    ("loadgate_profile", "--loadgate-profile",
     "apply each marker's profiles={NAME: {...}} overrides, e.g. full for long runs"),
    ("loadgate_workers", "--loadgate-workers",
     "run every load test on N local Locust worker processes (default: 0, in-process)"),
    ("loadgate_remote_workers", "--loadgate-remote-workers",
     "also wait for N workers started elsewhere with loadgate worker (they serve every load"
     " test of the session)"),
    ("loadgate_master_bind", "--loadgate-master-bind",
     "HOST:PORT the master listens on for workers (default 127.0.0.1:0, a free port)"),
    ("loadgate_worker_timeout", "--loadgate-worker-timeout",
     "seconds to wait for workers to connect (default: 60)"),
    ("loadgate_unreliable", "--loadgate-unreliable",
     "a breaching UNRELIABLE run (saturated generator, busy machine, short pace): fail (default)"
     " or skip"),
    ("loadgate_baseline", "--loadgate-baseline",
     "baselines: compare (default: check max_regression against stored runs), add (also store"
     " this run if it passed), accept (replace the baseline with this run), off"),
    ("loadgate_baseline_dir", "--loadgate-baseline-dir",
     "where baselines live (default: .loadgate/baselines); commit it or cache it in CI"),
    ("loadgate_confirm", "--loadgate-confirm",
     "re-run a breaching load test up to N times; fail only if every attempt breaches"),
    ("loadgate_calibrate", "--loadgate-calibrate",
     "run each selected load test N times unchanged and print the run-to-run spread and"
     " suggested limits (thresholds are reported, not enforced)"),
    ("loadgate_max_stall", "--loadgate-max-stall",
     "default max_stall: a span this long (e.g. 2s) with requests outstanding and no response"
     " fails the run and ends it early; 0 turns it off (default: 2s)"),
    ("loadgate_request_timeout", "--loadgate-request-timeout",
     "default request_timeout for Locust's HTTP clients that keep their own 60 s default"
     " (default: 10s)"),
    ("loadgate_max_samples", "--loadgate-max-samples",
     "raw samples kept per run for exact percentiles (20-29 bytes each); past it, figures"
     " come from per-second HdrHistograms, within 1 part in 1000 (default: 5000000)"),
    ("loadgate_warmup", "--loadgate-warmup",
     "default warm-up left out of perf verdicts after ramp-up, e.g. 2s (default: 3s, or a"
     " quarter of the run after ramp-up if shorter)"),
    ("loadgate_tags", "--loadgate-tags",
     "run only Locust tasks with one of these tags (comma-separated), as locust --tags"),
    ("loadgate_exclude_tags", "--loadgate-exclude-tags",
     "leave out Locust tasks with one of these tags (comma-separated), as --exclude-tags"),
    ("loadgate_users", "--loadgate-users",
     "users of each --loadgate-locustfile test (default: 10)"),
    ("loadgate_spawn_rate", "--loadgate-spawn-rate",
     "spawn rate of each --loadgate-locustfile test (default: all users at once)"),
    ("loadgate_run_time", "--loadgate-run-time",
     "run time of each --loadgate-locustfile test, e.g. 30s (default: 10s)"),
]
#: Repeatable options, each with an ini key of one value per line: (dest, flag, metavar, help).
REPEATED: list[tuple[str, str, str, str]] = [
    ("loadgate_locustfiles", "--loadgate-locustfile", "PATH",
     "collect a test that runs this locustfile as locust --headless -f PATH would"
     " (repeatable)"),
    ("loadgate_thresholds", "--loadgate-threshold", "KEY=VALUE",
     "a threshold for --loadgate-locustfile tests, with the marker's keys, e.g."
     " p95_ms=500 (repeatable)"),
    ("loadgate_capacity", "--loadgate-capacity", "KEY=VALUE",
     "make each --loadgate-locustfile test a capacity search: SLO keys (p95_ms=200,"
     " max_error_rate=0.01) and search keys (start_rate=50, max_rate=2000, precision=0.05,"
     " step_time=10s, min_capacity_rps=300) of @pytest.mark.capacity (repeatable)"),
    ("loadgate_locust_options", "--loadgate-locust-option", "NAME=VALUE",
     "set a Locust option in environment.parsed_options for every run, custom arguments of"
     " the locustfile included, e.g. my_arg=3 (repeatable)"),
]
#: Options without an ini key (a secret does not belong in a committed file): (dest, flag, help).
CLI_ONLY: list[tuple[str, str, str]] = [
    ("loadgate_token", "--loadgate-token",
     f"shared secret that signs every master/worker message (default: ${TOKEN_ENV}; local"
     " workers get a fresh one); required when the master listens beyond loopback"),
]
#: ini-only keys: (key, help, default).
INI_ONLY: list[tuple[str, str, str]] = [
    ("loadgate_app", "ASGI import path booted with uvicorn, e.g. myapp.main:app", ""),
    ("loadgate_app_factory", "treat loadgate_app as an app factory (uvicorn --factory)", "false"),
    ("loadgate_server_command",
     "command that starts your server instead of uvicorn; {port} and {python} are filled in", ""),
    ("loadgate_health_path", "readiness URL path polled until it answers 2xx", DEFAULT_HEALTH_PATH),
    ("loadgate_baseline_max_age_days", "warn when the baseline is older than this", "30"),
    ("loadgate_baseline_min_requests",
     "scopes with fewer requests in the baseline are not compared (default 200)", "200"),
    ("loadgate_watch_paths",
     "space-separated paths polled every 2 s during runs; last answers go in the report", ""),
]


@dataclass(frozen=True)
class Settings:
    """Validated session-wide settings."""

    host: str | None
    report_dir: Path
    startup_timeout_s: float
    progress: Progress
    warmup: float | None
    profile: str | None
    app: str | None
    app_factory: bool
    server_command: str | None
    health_path: str
    watch_paths: tuple[str, ...] = ()
    workers: WorkerPlan = field(default_factory=WorkerPlan)
    unreliable: str = "fail"
    baseline_mode: str = "compare"
    baseline_dir: Path = Path(".loadgate/baselines")
    baseline_max_age_days: float = 30.0
    baseline_min_requests: int = 200
    confirm: int = 0
    calibrate: int = 0
    max_stall: float | None = None
    request_timeout: float | None = None
    max_samples: int = DEFAULT_MAX_SAMPLES
    #: Task tags for every run that does not name its own (None: all tasks).
    tags: tuple[str, ...] | None = None
    exclude_tags: tuple[str, ...] | None = None
    #: ``--loadgate-locust-option NAME=VALUE`` (checked against Locust's parser per run).
    locust_options: dict[str, str] = field(default_factory=dict)
    #: Locustfiles collected as tests, and their load and thresholds (marker keys).
    locustfiles: tuple[Path, ...] = ()
    locustfile_spec: dict[str, Any] = field(default_factory=dict)
    #: ``@pytest.mark.capacity`` arguments of locustfile tests (None: they are perf tests).
    locustfile_capacity: dict[str, Any] | None = None


def _repeated(config: Any, dest: str) -> tuple[list[str], str]:
    """Values of a repeatable option (all of them), else of its ini key (one per line)."""
    cli = config.getoption(dest, None)
    flag = next(f for d, f, _, _ in REPEATED if d == dest)
    if cli:
        return [str(v) for v in cli], flag
    return [str(v).strip() for v in (config.getini(dest) or []) if str(v).strip()], \
        f"ini {dest}"


def _tag_list(config: Any, dest: str) -> tuple[str, ...] | None:
    raw, where = _raw(config, dest)
    if raw in (None, ""):
        return None
    tags = tuple(t.strip() for t in str(raw).replace(",", " ").split() if t.strip())
    if not tags:
        raise LoadgateConfigError(f"{where}: {raw!r} names no tag")
    return tags


def _scalar(text: str) -> Any:
    """A KEY=VALUE value as the marker would have it: a number when it is one, else text."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _pairs(items: list[str], where: str, example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise LoadgateConfigError(f"{where} {item!r}: expected KEY=VALUE, e.g. {example}")
        out[key.strip()] = value.strip()
    return out


def _locustfile_spec(config: Any) -> dict[str, Any]:
    """Marker-style arguments of --loadgate-locustfile tests (validated by the caller)."""
    spec: dict[str, Any] = {}
    users_raw, users_where = _raw(config, "loadgate_users")
    if users_raw not in (None, ""):
        if not str(users_raw).isdigit() or int(str(users_raw)) < 1:
            raise LoadgateConfigError(f"{users_where}: {users_raw!r} must be a whole number >= 1")
        spec["users"] = int(str(users_raw))
    rate_raw, rate_where = _raw(config, "loadgate_spawn_rate")
    if rate_raw not in (None, ""):
        spec["spawn_rate"] = _positive(rate_raw, rate_where)
    time_raw, time_where = _raw(config, "loadgate_run_time")
    if time_raw not in (None, ""):
        spec["run_time"] = _duration(time_raw, time_where, "run_time")
    items, where = _repeated(config, "loadgate_thresholds")
    for key, value in _pairs(items, where, "p95_ms=500").items():
        if key in spec or key in ("users", "spawn_rate", "run_time"):
            raise LoadgateConfigError(
                f"{where} {key}={value}: set the load with --loadgate-users,"
                " --loadgate-spawn-rate and --loadgate-run-time")
        spec[key] = _scalar(value)
    return spec


def _locustfile_capacity(config: Any) -> dict[str, Any] | None:
    """``--loadgate-capacity KEY=VALUE`` as capacity marker arguments (SLO keys into ``slo``),
    validated by the caller; None when not given."""
    items, where = _repeated(config, "loadgate_capacity")
    if not items:
        return None
    from pytest_loadgate.capacity.spec import SLO_KEYS

    kwargs: dict[str, Any] = {"slo": {}}
    for key, value in _pairs(items, where, "p95_ms=200").items():
        if key in SLO_KEYS:
            kwargs["slo"][key] = _scalar(value)
        elif key in ("slo", "max_regression", "profiles"):
            raise LoadgateConfigError(f"{where} {key}={value}: give SLO keys one by one"
                                      " (p95_ms=200 max_error_rate=0.01)")
        else:
            kwargs[key] = _scalar(value)
    if not kwargs["slo"]:
        del kwargs["slo"]  # the spec names what is missing
    return kwargs


def _locustfiles(config: Any) -> tuple[Path, ...]:
    items, where = _repeated(config, "loadgate_locustfiles")
    paths = []
    for item in items:
        path = Path(item)
        if not path.is_absolute():
            base = Path.cwd() if where.startswith("--") else Path(config.rootpath)
            path = base / path
        if not path.is_file():
            raise LoadgateConfigError(f"{where} {item!r}: no such file ({path})")
        if path.suffix != ".py":
            raise LoadgateConfigError(f"{where} {item!r}: a locustfile is a .py file")
        paths.append(path.resolve())
    return tuple(paths)


def _raw(config: Any, dest: str) -> tuple[Any, str]:
    cli = config.getoption(dest, None)
    if cli is not None:
        flag = "--" + dest.replace("_", "-")
        return cli, f"{flag}"
    return config.getini(dest), f"ini {dest}"


def _duration(value: Any, where: str, name: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise LoadgateConfigError(f"{where}: {name}={value!r}: {exc}") from None


def validate_host(value: str, where: str) -> str:
    """An http(s) base URL without trailing slash."""
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise LoadgateConfigError(
            f"{where}: {value!r} is not a base URL; use e.g. http://127.0.0.1:8000")
    return value.rstrip("/")


def _count(config: Any, dest: str) -> int:
    raw, where = _raw(config, dest)
    if raw in (None, ""):
        return 0
    try:
        value = int(str(raw))
    except ValueError:
        value = -1
    if value < 0:
        raise LoadgateConfigError(f"{where}: {raw!r} must be a whole number >= 0")
    return value


def _bounded_count(config: Any, dest: str, maximum: int) -> int:
    value = _count(config, dest)
    if value > maximum:
        raise LoadgateConfigError(f"{_raw(config, dest)[1]}: {value} must be at most {maximum}")
    return value


def _positive(raw: Any, where: str) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        value = -1.0
    if not value > 0:
        raise LoadgateConfigError(f"{where}: {raw!r} must be a positive number")
    return value


def _dir(config: Any, dest: str, default: str) -> Path:
    raw, _ = _raw(config, dest)
    path = Path(str(raw or default))
    return path if path.is_absolute() else Path(config.rootpath) / path


def _worker_plan(config: Any) -> WorkerPlan:
    local = _count(config, "loadgate_workers")
    remote = _count(config, "loadgate_remote_workers")
    bind_raw, bind_where = _raw(config, "loadgate_master_bind")
    host, port = "127.0.0.1", 0
    if bind_raw:
        host, _, port_text = str(bind_raw).rpartition(":")
        if not host or not port_text.isdigit() or int(port_text) > 65535:
            raise LoadgateConfigError(
                f"{bind_where}: {bind_raw!r} must be HOST:PORT, e.g. 0.0.0.0:5557")
        port = int(port_text)
    timeout_raw, timeout_where = _raw(config, "loadgate_worker_timeout")
    timeout = _duration(timeout_raw, timeout_where, "worker_timeout") if timeout_raw else 60.0
    if timeout <= 0:
        raise LoadgateConfigError(f"{timeout_where}: {timeout_raw!r} must be > 0 seconds (how"
                                  " long to wait for workers to connect)")
    token, token_where = config.getoption("loadgate_token", None), "--loadgate-token"
    if token is None:
        token, token_where = os.environ.get(TOKEN_ENV), f"${TOKEN_ENV}"
    if token is not None and len(token) < 16:
        raise LoadgateConfigError(
            f"{token_where}: the token must be at least 16 characters (e.g. python -c"
            " 'import secrets; print(secrets.token_urlsafe())')")
    if remote and token is None and not is_loopback(host):
        raise LoadgateConfigError(
            f"{bind_where}: the master would listen on {host}, beyond loopback, without a token:"
            f" anyone who reaches it could join as a worker, read your user classes and send"
            f" samples. Set {TOKEN_ENV} (or --loadgate-token) here and on every worker")
    return WorkerPlan(local=local, remote=remote, bind_host=host, bind_port=port,
                      timeout_s=timeout, token=token)


def _max_samples(config: Any) -> int:
    raw, where = _raw(config, "loadgate_max_samples")
    if raw in (None, ""):
        return DEFAULT_MAX_SAMPLES
    value = _count(config, "loadgate_max_samples")
    if value < 1000:
        raise LoadgateConfigError(f"{where}: {raw!r} must be at least 1000 raw samples")
    return value


def load_settings(config: Any) -> Settings:
    """Resolve settings: ini values, overridden by command-line options."""
    host_raw, host_where = _raw(config, "loadgate_host")
    host = validate_host(str(host_raw), host_where) if host_raw else None
    report_dir = _dir(config, "loadgate_report_dir", "reports")
    timeout_raw, timeout_where = _raw(config, "loadgate_startup_timeout")
    timeout = (_duration(timeout_raw, timeout_where, "startup_timeout") if timeout_raw
               else DEFAULT_STARTUP_TIMEOUT_SEC)
    if timeout <= 0:
        raise LoadgateConfigError(f"{timeout_where}: startup timeout {timeout_raw!r} must be > 0")
    progress_raw, progress_where = _raw(config, "loadgate_progress")
    progress = str(progress_raw or "auto").lower()
    if progress not in ("auto", "on", "off"):
        raise LoadgateConfigError(
            f"{progress_where}: {progress_raw!r} must be one of auto, on, off")
    warmup_raw, warmup_where = _raw(config, "loadgate_warmup")
    warmup = _duration(warmup_raw, warmup_where, "warmup") if warmup_raw not in (None, "") else None
    workers = _worker_plan(config)
    baseline_raw, baseline_where = _raw(config, "loadgate_baseline")
    baseline_mode = str(baseline_raw or "compare").lower()
    if baseline_mode not in ("compare", "add", "accept", "off"):
        raise LoadgateConfigError(
            f"{baseline_where}: {baseline_raw!r} must be compare, add, accept or off")
    unreliable_raw, unreliable_where = _raw(config, "loadgate_unreliable")
    unreliable = str(unreliable_raw or "fail").lower()
    if unreliable not in ("fail", "skip"):
        raise LoadgateConfigError(f"{unreliable_where}: {unreliable_raw!r} must be fail or skip")
    factory = str(config.getini("loadgate_app_factory")).lower() in ("1", "true", "yes", "on")
    stall_raw, stall_where = _raw(config, "loadgate_max_stall")
    max_stall = (_duration(stall_raw, stall_where, "max_stall")
                 if stall_raw not in (None, "") else None)
    if max_stall is not None and max_stall < 0:
        raise LoadgateConfigError(f"{stall_where}: {stall_raw!r} must be >= 0 (0: off)")
    rt_raw, rt_where = _raw(config, "loadgate_request_timeout")
    request_timeout = (_duration(rt_raw, rt_where, "request_timeout")
                       if rt_raw not in (None, "") else None)
    if request_timeout is not None and request_timeout <= 0:
        raise LoadgateConfigError(f"{rt_where}: {rt_raw!r} must be > 0 seconds")
    return Settings(
        host=host,
        report_dir=report_dir,
        startup_timeout_s=timeout,
        progress=progress,  # type: ignore[arg-type]
        warmup=warmup,
        profile=str(_raw(config, "loadgate_profile")[0] or "") or None,
        app=str(config.getini("loadgate_app")) or None,
        app_factory=factory,
        server_command=_server_command(str(config.getini("loadgate_server_command"))),
        health_path=str(config.getini("loadgate_health_path") or DEFAULT_HEALTH_PATH),
        watch_paths=tuple(str(config.getini("loadgate_watch_paths") or "").split()),
        workers=workers,
        unreliable=unreliable,
        baseline_mode=baseline_mode,
        baseline_dir=_dir(config, "loadgate_baseline_dir", ".loadgate/baselines"),
        baseline_max_age_days=_positive(config.getini("loadgate_baseline_max_age_days"),
                                        "ini loadgate_baseline_max_age_days"),
        baseline_min_requests=int(_positive(config.getini("loadgate_baseline_min_requests"),
                                            "ini loadgate_baseline_min_requests")),
        confirm=_bounded_count(config, "loadgate_confirm", 10),
        calibrate=_bounded_count(config, "loadgate_calibrate", 100),
        max_stall=max_stall,
        request_timeout=request_timeout,
        max_samples=_max_samples(config),
        tags=_tag_list(config, "loadgate_tags"),
        exclude_tags=_tag_list(config, "loadgate_exclude_tags"),
        locust_options=_pairs(*_repeated(config, "loadgate_locust_options"), "my_arg=3"),
        locustfiles=_locustfiles(config),
        locustfile_spec=_locustfile_spec(config),
        locustfile_capacity=_locustfile_capacity(config),
    )


def _server_command(raw: str) -> str | None:
    """The ini key ``loadgate_server_command``, checked now so a bad one fails at start."""
    if not raw.strip():
        return None
    from pytest_loadgate.target.server import split_command

    split_command(raw)
    return raw


def configured_timeout(option: Any, ini: Any) -> float | None:
    """pytest-timeout's session timeout in seconds (its option, else its ini key); None when
    unset, zero or unreadable (pytest-timeout reports a bad value itself)."""
    for raw in (option, ini):
        if raw in (None, ""):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None
    return None
