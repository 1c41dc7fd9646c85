"""Fault injection: a scratch project whose server is a stdlib HTTP server the test controls."""

from __future__ import annotations

import pytest

SERVER = '''
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Path("server.pid").write_text(str(os.getpid()))


FAULT = os.environ.get("STDLIB_SERVER_FAULT", "")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hang":
            time.sleep(3600)
        body = b"ok"
        self.send_response(503 if FAULT == "unhealthy" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


port = int(os.environ["STDLIB_SERVER_PORT"]) if FAULT == "port_taken" else int(sys.argv[1])
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''

INI = """
[pytest]
loadgate_server_command = {{python}} server.py {{port}}
loadgate_health_path = /
loadgate_progress = off
loadgate_baseline = off
{extra}
"""

USERS = '''
from locust import FastHttpUser, constant, task


class Browse(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def root(self):
        self.client.get("/")
'''


@pytest.fixture
def stdlib_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with ``server.py`` (writes server.pid; ``/hang`` never answers; env
    ``STDLIB_SERVER_FAULT=unhealthy`` answers 503, ``port_taken`` binds ``STDLIB_SERVER_PORT``
    instead of its own), ``users.py``
    and a pytest.ini that boots the server; ``pytester.makeini`` again to add keys."""
    pytester.makepyfile(server=SERVER, users=USERS)
    pytester.makeini(INI.format(extra=""))
    return pytester
