"""The simulators (payment sandbox, HIS) as real processes, and Guahao on a live server they reach."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FAST = {"time_scale": 0.01, "notify_delay_ms": 50, "jitter_ms": 0, "duplicate": 0.0, "lost": 0.0}
FAST |= {"refund_fail": 0.0, "refund_delay_ms": 50, "error": 0.0}
PAYSIM_ENV = {"GUAHAO_PAYSIM_MCH_ID": "1900000001", "GUAHAO_PAYSIM_KEY": "paysim-test-key"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def simulator_process(command: str, store: Path, env: dict[str, str]) -> Iterator[str]:
    """``guahao <command>`` (paysim, hissim) on a free port with its own store; yields its address
    once it answers /healthz."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "guahao.cli", command, "--port", str(port), "--store", str(store)],
        env=dict(os.environ, **env),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"guahao {command} did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def paysim_process(store: Path) -> contextlib.AbstractContextManager[str]:
    return simulator_process("paysim", store, PAYSIM_ENV)


@pytest.fixture(scope="session")
def paysim_url(tmp_path_factory) -> Iterator[str]:
    with paysim_process(tmp_path_factory.mktemp("paysim") / "paysim.sqlite3") as url:
        yield url


@pytest.fixture
def knobs(paysim_url) -> Iterator[Callable[..., None]]:
    def set_knobs(**values: object) -> None:
        request = urllib.request.Request(  # noqa: S310
            f"{paysim_url}/control", data=json.dumps(FAST | values).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310

    set_knobs()
    yield set_knobs
    set_knobs()
    # The sandbox lives through the session, the test's data does not: nothing of this test may
    # reach the live server later (a notification answered while the database is being emptied
    # holds locks the emptying waits on, and the next test would be told of orders not its own).
    forget = urllib.request.Request(f"{paysim_url}/control/forget", data=b"", method="POST")  # noqa: S310
    urllib.request.urlopen(forget, timeout=15).close()  # noqa: S310


@pytest.fixture
def sandbox(settings, live_server, paysim_url, knobs):
    """Guahao pointed at the sandbox, with its notifications reaching the live server."""
    settings.PUBLIC_URL = live_server.url
    settings.PAYSIM_URL = paysim_url
    settings.PAYSIM_MCH_ID = PAYSIM_ENV["GUAHAO_PAYSIM_MCH_ID"]
    settings.PAYSIM_KEY = PAYSIM_ENV["GUAHAO_PAYSIM_KEY"]
    return knobs


def wait_for(check: Callable[[], object], timeout: float = 15) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def post(url: str) -> int:
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
