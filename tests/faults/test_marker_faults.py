"""A bad value for any perf/race marker argument errors its test at setup, naming the argument
and its value, before any server boots; one scratch session holds every case.

Complements tests/unit/plugin/test_markers_pytester.py (one case per kind of check); here
every argument of the README's marker table gets a value of the wrong type or range.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from fault_checks import traceback_of_ours

P = "@pytest.mark.perf: "
R = "@pytest.mark.race: "
OK = "users=2, run_time='5s'"  # a valid load to hang a bad threshold on

#: (test name, decorator(s), what the setup error must say).
CASES = [
    # load
    ("users_float", "perf(users=2.5, run_time='5s')", P + "users=2.5 must be an integer >= 1"),
    ("users_bool", "perf(users=True, run_time='5s')", P + "users=True must be an integer >= 1"),
    ("users_none", "perf(users=None, run_time='5s')", P + "users=None must be an integer"),
    ("spawn_rate_zero", "perf(users=2, spawn_rate=0, run_time='5s')",
     P + "spawn_rate=0 must be > 0 users/s"),
    ("spawn_rate_str", "perf(users=2, spawn_rate='fast', run_time='5s')",
     P + "spawn_rate='fast' must be a finite number"),
    ("spawn_rate_nan", "perf(users=2, spawn_rate=float('nan'), run_time='5s')",
     P + "spawn_rate=nan must be a finite number"),
    ("run_time_negative", "perf(users=2, run_time=-5)",
     P + "run_time=-5: duration must be >= 0, got -5"),
    ("run_time_zero", "perf(users=2, run_time=0)", P + "run_time=0 must be > 0"),
    ("run_time_list", "perf(users=2, run_time=[10])",
     P + "run_time=[10]: expected a duration such as '30s' or a number, got [10]"),
    ("run_time_bool", "perf(users=2, run_time=True)",
     P + "run_time=True: expected a duration, got True"),
    ("run_time_unit", "perf(users=2, run_time='10 sec')",
     P + "run_time='10 sec': cannot parse duration '10 sec'"),
    ("warmup_text", f"perf({OK}, warmup='a while')",
     P + "warmup='a while': cannot parse duration"),
    ("warmup_whole_run", f"perf({OK}, warmup='5s')",
     P + "warmup='5s' leaves nothing of run_time='5s' to judge"),
    ("abort_on_fail_str", f"perf({OK}, abort_on_fail='yes')",
     P + "abort_on_fail='yes' must be True or False"),
    ("abort_grace_negative", f"perf({OK}, abort_grace='-1s')",
     P + "abort_grace='-1s': cannot parse duration '-1s'"),
    # thresholds
    ("avg_ms_zero", f"perf({OK}, avg_ms=0)", P + "avg_ms=0 must be > 0 milliseconds"),
    ("p50_ms_negative", f"perf({OK}, p50_ms=-1)", P + "p50_ms=-1 must be > 0 milliseconds"),
    ("p90_ms_duration", f"perf({OK}, p90_ms='1s')", P + "p90_ms='1s' must be a finite number"),
    ("p99_ms_inf", f"perf({OK}, p99_ms=float('inf'))", P + "p99_ms=inf must be a finite number"),
    ("max_ms_list", f"perf({OK}, max_ms=[500])", P + "max_ms=[500] must be a finite number"),
    ("max_error_rate_negative", f"perf({OK}, max_error_rate=-0.1)",
     P + "max_error_rate=-0.1 must be a fraction between 0 and 1"),
    ("max_error_rate_percent", f"perf({OK}, max_error_rate='1%')",
     P + "max_error_rate='1%' must be a finite number"),
    ("min_rps_zero", f"perf({OK}, min_rps=0)", P + "min_rps=0 must be > 0"),
    ("max_rss_growth_mb_negative", f"perf({OK}, max_rss_growth_mb=-5)",
     P + "max_rss_growth_mb=-5 must be >= 0"),
    # endpoints
    ("endpoints_list", f"perf({OK}, endpoints=['GET /'])",
     P + "endpoints=['GET /'] must be a dict mapping 'METHOD name' to thresholds"),
    ("endpoints_key_not_str", f"perf({OK}, endpoints={{1: {{'p95_ms': 1}}}})",
     P + "endpoints key 1 must be 'METHOD name'"),
    ("endpoints_empty_limits", f"perf({OK}, endpoints={{'GET /': {{}}}})",
     P + "endpoints['GET /']={} must be a non-empty dict of thresholds"),
    ("endpoints_limits_list", f"perf({OK}, endpoints={{'GET /': [100]}})",
     P + "endpoints['GET /']=[100] must be a non-empty dict of thresholds"),
    ("endpoints_server_threshold", f"perf({OK}, endpoints={{'GET /': {{'max_rss_growth_mb': 5}}}})",
     P + "endpoints['GET /']: unknown threshold max_rss_growth_mb=5"),
    ("endpoints_bad_limit", f"perf({OK}, endpoints={{'GET /': {{'p95_ms': -1}}}})",
     P + "endpoints['GET /']: p95_ms=-1 must be > 0 milliseconds"),
    # baselines, confirmation, pace, faults
    ("max_regression_list", f"perf({OK}, max_regression=[0.5])",
     P + "max_regression=[0.5] must be a dict such as"),
    ("max_regression_empty", f"perf({OK}, max_regression={{}})",
     P + "max_regression={} must be a dict such as"),
    ("max_regression_unknown", f"perf({OK}, max_regression={{'p42': 0.5}})",
     P + "max_regression key 'p42' is not one of"),
    ("max_regression_negative", f"perf({OK}, max_regression={{'p95': -0.1}})",
     P + "max_regression['p95']=-0.1 must be >= 0"),
    ("max_regression_rps_whole", f"perf({OK}, max_regression={{'rps': 1.5}})",
     P + "max_regression['rps']=1.5 must be >= 0 and < 1"),
    ("max_regression_text", f"perf({OK}, max_regression={{'p95': 'half'}})",
     P + "max_regression['p95']='half' must be a finite number"),
    ("confirm_many", f"perf({OK}, confirm=11)", P + "confirm=11 must be an integer 0..10"),
    ("confirm_float", f"perf({OK}, confirm=1.5)", P + "confirm=1.5 must be an integer 0..10"),
    ("min_pace_one", f"perf({OK}, min_pace=1)", P + "min_pace=1 must be a fraction from 0"),
    ("min_pace_str", f"perf({OK}, min_pace='half')", P + "min_pace='half' must be a finite"),
    ("max_stall_negative", f"perf({OK}, max_stall=-1)",
     P + "max_stall=-1: duration must be >= 0, got -1"),
    ("request_timeout_zero", f"perf({OK}, request_timeout=0)",
     P + "request_timeout=0 must be > 0 seconds"),
    ("request_timeout_text", f"perf({OK}, request_timeout='never')",
     P + "request_timeout='never': cannot parse duration"),
    # Locust's own: tags and options
    ("tags_empty", f"perf({OK}, tags=[])", P + "tags=[] must be a non-empty list of tag names"),
    ("tags_number", f"perf({OK}, tags=[1])", P + "tags=[1] must be a non-empty list"),
    ("exclude_tags_blank", f"perf({OK}, exclude_tags=[' '])",
     P + "exclude_tags=[' '] must be a non-empty list"),
    ("locust_options_list", f"perf({OK}, locust_options=['my_arg'])",
     P + "locust_options=['my_arg'] must be a dict of Locust option names to values"),
    # profiles (the session runs with --loadgate-profile=full)
    ("profiles_list", f"perf({OK}, profiles=['full'])",
     P + "profiles=['full'] must map a profile name to marker arguments"),
    ("profiles_nested", f"perf({OK}, profiles={{'full': {{'profiles': {{}}}}}})",
     P + "profiles['full']={'profiles': {}} is invalid"),
    ("profile_bad_value", f"perf({OK}, profiles={{'full': {{'users': 0}}}})",
     "@pytest.mark.perf (profile 'full'): users=0 must be an integer >= 1"),
    # the open model
    ("arrival_rate_zero", "perf(arrival_rate=0)",
     P + "arrival_rate=0 must be > 0 and at most 100000 iterations/s"),
    ("arrival_rate_text", "perf(arrival_rate='5/s')",
     P + "arrival_rate='5/s' must be a finite number"),
    ("arrival_rate_huge", "perf(arrival_rate=1e6)",
     P + "arrival_rate=1000000.0 must be > 0 and at most 100000 iterations/s"),
    ("arrival_rate_and_spawn_rate", "perf(arrival_rate=5, spawn_rate=2)",
     P + "spawn_rate=2 is not used by the open model"),
    ("arrival_rate_and_stages",
     "perf(arrival_rate=5, arrival_stages=[{'rate': 5, 'duration': '5s'}])",
     P + "give either arrival_rate=5 (constant) or arrival_stages (ramping), not both"),
    ("arrival_stages_str", "perf(arrival_stages='ramp')",
     P + "arrival_stages='ramp' must be a non-empty list"),
    ("arrival_stages_empty", "perf(arrival_stages=[])",
     P + "arrival_stages=[] must be a non-empty list"),
    ("arrival_stages_extra_key",
     "perf(arrival_stages=[{'rate': 5, 'duration': '5s', 'users': 3}])",
     P + "arrival_stages[0]={'rate': 5, 'duration': '5s', 'users': 3} must be a dict with"
         " exactly the keys 'rate'"),
    ("arrival_stages_negative_rate", "perf(arrival_stages=[{'rate': -1, 'duration': '5s'}])",
     P + "arrival_stages[0]['rate']=-1 must be between 0 and 100000 iterations/s"),
    ("arrival_stages_bad_duration", "perf(arrival_stages=[{'rate': 5, 'duration': 'soon'}])",
     P + "arrival_stages[0]['duration']='soon': cannot parse duration"),
    ("arrival_stages_all_zero", "perf(arrival_stages=[{'rate': 0, 'duration': '5s'}])",
     "schedule no iterations (every duration or every rate is 0)"),
    ("arrival_stages_and_run_time",
     "perf(arrival_stages=[{'rate': 5, 'duration': '5s'}], run_time='5s')",
     P + "run_time='5s' cannot be combined with arrival_stages"),
    ("max_users_closed", f"perf({OK}, max_users=5)",
     P + "max_users=5 belongs to the open model; give arrival_rate or arrival_stages too"),
    ("max_users_zero", "perf(arrival_rate=5, max_users=0)",
     P + "max_users=0 must be an integer >= 1"),
    ("arrivals_unknown", "perf(arrival_rate=5, arrivals='burst')",
     P + "arrivals='burst' must be 'uniform' or 'poisson'"),
    ("max_dropped_rate_whole", "perf(arrival_rate=5, max_dropped_rate=2)",
     P + "max_dropped_rate=2 must be a fraction between 0 and 1"),
    # race
    ("race_users_float", "race(users=2.0)", R + "users=2.0 must be an integer >= 1"),
    ("race_run_time", "race(users=2, run_time='later')",
     R + "run_time='later': cannot parse duration"),
    ("race_unknown", "race(users=2, deadline=5)", R + "unknown argument deadline=5"),
    ("race_positional", "race(5)", R + "positional arguments (5,) are not accepted"),
    ("race_open_model", "race(arrival_rate=5)",
     R + "a race spawns its users at once; arrival_rate and arrival_stages are for perf tests"),
    ("race_bad_threshold", "race(users=2, max_error_rate=1.5)",
     R + "max_error_rate=1.5 must be a fraction between 0 and 1"),
    # both
    ("perf_and_race", "perf(users=2, run_time='5s')\n@pytest.mark.race(users=2)",
     "test_markers.py::test_perf_and_race: a test is either perf or race, not both"),
]

SECTION = re.compile(r"^_+ ERROR at setup of (test_\w+) _+$\n(.*?)(?=^_{3,} |^=+ )",
                     re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def setup_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One scratch session with a test per case; each test's setup error section by name."""
    assert len({name for name, _, _ in CASES}) == len(CASES)
    root = tmp_path_factory.mktemp("markers")
    source = ["import pytest", ""]
    for name, marker, _ in CASES:
        source += ["", f"@pytest.mark.{marker}", f"def test_{name}(loadgate):",
                   "    raise AssertionError('must not run')", ""]
    (root / "test_markers.py").write_text("\n".join(source))
    # No server is configured: a case that slipped through would error "nothing to load-test".
    (root / "pytest.ini").write_text("[pytest]\nloadgate_progress = off\n")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers",
         "--loadgate-profile=full", "-p", "no:xdist"], cwd=root, capture_output=True,
        text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}, check=False)
    assert time.monotonic() - started < 60
    out = done.stdout
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, out + done.stderr
    assert f"{len(CASES)} errors" in out.splitlines()[-1], out
    assert "must not run" not in out
    assert not traceback_of_ours(out), traceback_of_ours(out)
    assert "During handling of the above exception" not in out
    return {m.group(1): m.group(2) for m in SECTION.finditer(out)}


@pytest.mark.parametrize(("name", "marker", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_marker_value_errors_at_setup_naming_it(
        setup_errors: dict[str, str], name: str, marker: str, message: str) -> None:
    section = setup_errors[f"test_{name}"]
    assert message in section, section
    assert len(section.strip().splitlines()) <= 3, section  # the message, not a traceback
