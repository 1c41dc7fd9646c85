"""The shop's capacity under the seed's limits (p95 ≤ 200 ms, errors ≤ 1%), and the capacity
gate failing once the fault switch makes the shop's code about 2× slower.

Three searches run in one inner session, in order: the shop as it is (on a small machine the
load generator may give out first: then the capacity is stated as a lower bound); the shop
with 2 ms of CPU added to every request (``DEMO_API_FAULTS="*:cpu_ms=2"``), whose capacity the
server limits; and the shop with 4 ms, gated at 3/4 of the previous capacity: it must fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SHOP_USERS = Path(__file__).with_name("shop_users.py")
SEARCH = ('slo={"p95_ms": 200, "max_error_rate": 0.01}, start_rate=50, max_rate=3000,'
          ' precision=0.25, step_time="2s", validation_time="4s", warmup="0.5s",'
          ' profiles={"full": {"step_time": "10s", "validation_time": "30s",'
          ' "precision": 0.05, "warmup": "2s"}}')

CONFTEST = '''
import uuid

import pytest
import requests
from pytest_loadgate.target.server import boot_target


@pytest.fixture(scope="module")
def loadgate_server(loadgate_settings, tmp_path_factory, request):
    """The shop on a fresh SQLite file, with a catalogue to shop from, and the module's
    faults (FAULTS) switched on."""
    data = tmp_path_factory.mktemp("shop")
    env = {"DATABASE_URL": f"sqlite:///{data / 'shop.db'}",
           "DEMO_API_FAULTS": getattr(request.module, "FAULTS", "")}
    with boot_target(loadgate_settings, env) as target:
        with requests.Session() as http:
            for n in range(50):
                http.post(target.url + "/products/", timeout=10, json={
                    "name": f"Product {n}", "sku": f"C-{uuid.uuid4().hex[:20]}",
                    "price": 9.99, "stock": 1_000_000}).raise_for_status()
        yield target
'''

SHOP = f'''
import pytest
from shop_users import Shopper


@pytest.mark.capacity({SEARCH.replace("start_rate=50", "start_rate=200")})
def test_shop_capacity(loadgate):
    found = loadgate.capacity(Shopper)
    assert found.bound in ("found", "at_least"), found.describe()
'''

#: The shop with 2 ms of CPU added to every request, then with 4 ms: about 2x slower code.
COSTLY = f'''
import json
from pathlib import Path

import pytest
from shop_users import Shopper

FAULTS = "*:cpu_ms=2"


@pytest.mark.capacity({SEARCH}, min_capacity_rps=50)
def test_costly_shop(loadgate):
    found = loadgate.capacity(Shopper)
    Path("capacity.json").write_text(json.dumps({{"rps": found.capacity_rps,
                                                  "bound": found.bound}}))
'''

SLOWER = f'''
import json
from pathlib import Path

import pytest
from shop_users import Shopper

FAULTS = "*:cpu_ms=4"


@pytest.mark.capacity({SEARCH})
def test_2x_slower_shop(loadgate):
    before = json.loads(Path("capacity.json").read_text())["rps"]
    loadgate.capacity(Shopper, min_capacity_rps=0.75 * before)
'''


def test_shop_capacity_and_the_gate_on_a_slower_shop(pytester: pytest.Pytester,
                                                     request: pytest.FixtureRequest) -> None:
    shutil.copy(SHOP_USERS, pytester.path / "shop_users.py")
    pytester.makeini("""
        [pytest]
        loadgate_app = demo_api.main:app
        loadgate_health_path = /health
        loadgate_progress = off
        loadgate_baseline = off
    """)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a_shop=SHOP, test_b_costly=COSTLY, test_c_slower=SLOWER)
    profile = request.config.getoption("loadgate_profile", None)
    args = ["-p", "no:randomly", "-p", "no:cacheprovider"]
    if profile:
        args.append(f"--loadgate-profile={profile}")
    result = pytester.runpytest_subprocess(*args, timeout=1200)
    print(result.stdout.str()[-4000:])
    result.assert_outcomes(passed=2, failed=1)
    costly = json.loads((pytester.path / "capacity.json").read_text())
    assert costly["bound"] == "found", costly  # the server, not the generator, gave out
    reports = {p.name: json.loads(p.read_text())
               for p in (pytester.path / "reports").glob("*.json")}
    slower = next(r for name, r in reports.items() if "test_2x_slower_shop" in name)
    assert slower["capacity"]["bound"] == "found", slower["capacity"]["describe"]
    (check,) = [c for c in slower["checks"] if c["threshold"] == "min_capacity_rps"]
    assert not check["passed"] and check["measured"] < 0.75 * costly["rps"]
    result.stdout.fnmatch_lines(["*test_c_slower.py::test_2x_slower_shop*FAILED*"])
