"""Processes killed (SIGKILL) at a named point between two steps, to see what a crash there leaves.

A fault point is a function of the product, named ``module:attribute`` (``Class.method`` for a
method): in the process that is killed it is replaced by a stop that tells the test it got
there and waits to be killed. ``before``: the function is not run; ``after``: it ran and its
result is not used yet. Nothing in the product knows about it, so the point costs nothing where
no test is running.

Loading Django takes a process about two seconds: one process per test session loads it once
(after the test database exists), and each crash is a fork of it — the real server (``serve``:
Django's WSGI application on a port) or a worker's job (``call``) — given the test's settings
and clock, so a crash costs a fraction of a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from guahao.core import clock
from tests.processes import PAYSIM_ENV, free_port

# The settings a test may have changed that the killed process needs too.
SHARED_SETTINGS = (
    "PUBLIC_URL",
    "PAYSIM_URL",
    "PAYSIM_MCH_ID",
    "PAYSIM_KEY",
    "HIS_URL",
    "HIS_KEY",
    "HIS_TIMEOUT_MS",
    "HIS_AVAILABILITY_SECONDS",
    "OUTBOX_KICK",
    "RATELIMIT_ENABLED",
    "WECHAT_API_URL",
    "SMS_BACKEND",
    "ALIYUN_SMS",
)

ZYGOTE = r"""
import datetime as dt, importlib, json, os, signal, sys, time
import django
django.setup()
from django.conf import settings
from django.core.cache import close_caches
from django.core.wsgi import get_wsgi_application
from django.db import connections
from wsgiref.simple_server import WSGIRequestHandler, make_server
from guahao.core import clock

application = get_wsgi_application()
for name in ("guahao.api.v1", "guahao.payments.services", "guahao.his.outbox", "guahao.his.adapters.hissim"):
    importlib.import_module(name)
connections.close_all()  # each fork opens its own
close_caches()
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the killed forks are reaped by the system
WSGIRequestHandler.log_message = lambda *args: None


def stop_at(point, when, nth, reached):
    module, _, path = point.partition(":")
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    real = getattr(owner, name)
    calls = []

    def stop(*args, **kwargs):
        calls.append(1)
        if len(calls) < nth:
            return real(*args, **kwargs)
        if when == "after":
            real(*args, **kwargs)
        open(reached, "w").close()
        time.sleep(600)

    setattr(owner, name, stop)


def run(job):
    for name, value in job["settings"].items():
        setattr(settings, name, value)
    clock.advance(dt.datetime.fromisoformat(job["now"]) - clock.now())
    if job["point"]:
        stop_at(job["point"], job["when"], job["nth"], job["reached"])
    if job["serve"]:
        make_server("127.0.0.1", job["serve"], application).serve_forever()
    module, _, name = job["call"].partition(":")
    getattr(importlib.import_module(module), name)(**job["kwargs"])
    # A web process or worker lives on after the call: what it writes a moment later is written.
    from guahao.core.cache import soon_written

    soon_written()


print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        continue
    try:
        sys.stdin.close()
        run(job)
    finally:
        os._exit(0)
"""


def database_url() -> str:
    """This test's database, as a process of its own reaches it."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Zygote:
    """The process every killed one is forked from (started by the first test that asks)."""

    proc: subprocess.Popen | None = None
    database: str = ""
    ready: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Started (if it is not running on this database) without waiting for it: it loads
        Django while the test sets up its scene."""
        with self.lock:
            url = database_url()
            if self.proc is not None and self.proc.poll() is None and self.database == url:
                return
            self.close()
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-c", ZYGOTE],
                env=dict(os.environ, **PAYSIM_ENV, DATABASE_URL=url, GUAHAO_HTTPS="off", GUAHAO_LOG_FORMAT="plain"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            self.database, self.ready = url, False

    def fork(self, job: dict[str, Any]) -> int:
        self.start()
        with self.lock:
            assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
            if not self.ready:
                assert self.proc.stdout.readline().strip() == "ready", "the zygote did not start"
                self.ready = True
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            return int(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


@dataclass
class Killed:
    """A process stopped at its fault point; ``kill`` ends it as ``kill -9`` would."""

    pid: int
    reached: Path
    url: str = ""

    def wait_until_reached(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.reached.exists():
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("the process never reached its fault point")
            time.sleep(0.02)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        _gone(self.pid, timeout=10)  # its database connection dies with it
        connection.close()  # the test's own: a fresh one sees what the crash left


def _gone(pid: int, *, timeout: float) -> bool:
    """Wait until the process ``pid`` is gone (the zygote reaps its forks); False if it is not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    return False


@dataclass
class CrashPoints:
    zygote: Zygote
    folder: Path

    def _job(
        self, point: str, when: str, nth: int, overrides: dict[str, Any] | None = None, **more: Any
    ) -> tuple[dict[str, Any], Path]:
        assert when in ("before", "after")
        reached = self.folder / f"reached-{time.monotonic_ns()}"
        job = {
            "point": point,
            "when": when,
            "nth": nth,
            "reached": str(reached),
            "now": clock.now().isoformat(),
            "settings": {name: getattr(settings, name) for name in SHARED_SETTINGS} | (overrides or {}),
            "serve": 0,
            "call": "",
            "kwargs": {},
        } | more
        return job, reached

    @contextlib.contextmanager
    def server(self, point: str = "", when: str = "before", nth: int = 1, port: int = 0) -> Iterator[Killed]:
        """The web server (on ``port``, or a free one), to be killed at ``point`` (its ``nth``
        call); without a point, the server started again after a crash. Killed at the end."""
        port = port or free_port()
        job, reached = self._job(point, when, nth, serve=port)
        killed = Killed(self.zygote.fork(job), reached, f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 20
            while not _answers(f"{killed.url}/healthz"):
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.02)
            yield killed
        finally:
            killed.kill()

    def call(self, function: str, **kwargs: Any) -> None:
        """``function`` (``module:function``) run to its end in a process of its own: another web
        process or worker, not killed."""
        job, _ = self._job("", "before", 1, call=function, kwargs=kwargs)
        assert _gone(self.zygote.fork(job), timeout=20), f"{function} did not end"
        connection.close()  # the test's own: a fresh one sees what the other process did

    @contextlib.contextmanager
    def job(
        self,
        function: str,
        point: str,
        when: str = "before",
        nth: int = 1,
        overrides: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Iterator[Killed]:
        """A worker's job (``module:function``, called with ``kwargs``) in a process stopped at
        ``point``: yielded once it got there, killed at the end. ``overrides``: settings of the
        killed process's own."""
        job, reached = self._job(point, when, nth, overrides, call=function, kwargs=kwargs)
        killed = Killed(self.zygote.fork(job), reached)
        try:
            killed.wait_until_reached()
            yield killed
        finally:
            killed.kill()


@pytest.fixture
def crash_points(zygote, django_db_setup, tmp_path) -> CrashPoints:
    zygote.start()
    return CrashPoints(zygote, tmp_path)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - our own server
    except OSError:
        return False
    return True


def send(
    url: str, method: str, path: str, body: Any = None, *, token: str = "", **headers: str
) -> tuple[int, Any] | Exception:
    """A client's request to a server that may die while answering: its answer, or what the client saw."""
    request = urllib.request.Request(  # noqa: S310 - our own server
        f"{url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", **headers},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
    except OSError as cut_off:
        return cut_off


def in_background(call: Callable[[], object]) -> Callable[[], object]:
    """Run ``call`` in a thread; the returned function waits for and returns its result."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()

    def join() -> object:
        thread.join(timeout=30)
        return result[0] if result else None

    return join
