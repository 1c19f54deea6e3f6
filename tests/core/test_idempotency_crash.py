"""A request whose first attempt died with its process (SIGKILL) is taken over at once when sent
again, while one whose first attempt is still running is told so: a real process, killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from guahao.core import idempotency
from guahao.core.models import IdempotentRequest
from guahao.core.problems import Problem

pytestmark = pytest.mark.django_db(transaction=True)

# Another web process: it claims the key and is still working on it (a confirm waiting for the
# payment provider) when it is killed.
FIRST_ATTEMPT = """
import django, time
django.setup()
from guahao.core import idempotency

def run():
    print("running", flush=True)
    time.sleep(600)
    return 201, {"first": True}

idempotency.replay_or_run(owner="account:7", key="confirm-1", print_="p", run=run, atomic=False)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _again(ran: list[int]) -> tuple[int, object]:
    def run() -> tuple[int, object]:
        ran.append(1)
        return 201, {"again": True}

    return idempotency.replay_or_run(owner="account:7", key="confirm-1", print_="p", run=run, atomic=False)


def test_a_retry_after_the_first_attempts_process_was_killed_runs_at_once():
    first = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", FIRST_ATTEMPT],
        env=dict(os.environ, DATABASE_URL=_database_url()),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "running"
        ran: list[int] = []
        # Alive: the retry is told the first is still running, and nothing runs twice.
        with pytest.raises(Problem) as refused:
            _again(ran)
        assert refused.value.type.code == "idempotency.in_progress" and ran == []
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert IdempotentRequest.objects.get(key="confirm-1").status_code is None  # its claim is left behind

    started = time.monotonic()
    assert _again(ran) == (201, {"again": True})  # taken over at once: no wait for the claim to go stale
    assert time.monotonic() - started < 5 and ran == [1]
    # And kept: the next retry is given that answer, and runs nothing.
    assert _again(ran) == (201, {"again": True}) and ran == [1]
