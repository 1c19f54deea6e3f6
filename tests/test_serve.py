"""``guahao serve`` stops the whole web server with it: granian's workers too, even when granian's
own process has ended first and left them behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.processes import free_port, wait_for

BIN = Path(sys.executable).parent


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stopping_serve_stops_granian_s_workers_even_if_granian_ended_first(tmp_path):
    port = free_port()
    env = dict(os.environ, GUAHAO_DATA_DIR=str(tmp_path))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    serve = subprocess.Popen(  # noqa: S603
        [str(BIN / "guahao"), "serve", "--port", str(port), "--workers", "2", "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:

        def up() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200  # noqa: S310
            except OSError:
                return False

        wait_for(up, timeout=60)
        [granian] = _children(serve.pid)
        wait_for(lambda: len(_children(granian)) == 2, timeout=30)
        workers = _children(granian)
        os.kill(granian, signal.SIGKILL)  # granian's own process ends first, its workers left serving
        time.sleep(0.5)
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        wait_for(lambda: not any(_alive(w) for w in workers), timeout=15)
    finally:
        if serve.poll() is None:
            serve.kill()
        for worker in workers:  # a failure leaves nothing serving either
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)
