"""A request whose first attempt died with its process (SIGKILL) is taken over at once when sent
again, while one whose first attempt is still running is told so: a real process, killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from guahao.core import clock, idempotency
from guahao.core.models import IdempotentRequest
from guahao.core.problems import Problem
from guahao.payments.models import Payment
from tests import factories as f
from tests.processes import PAYSIM_ENV, free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Another web process: it claims the key and is still working on it (a confirm waiting for the
# payment provider) when it is killed.
FIRST_ATTEMPT = """
import django, time
django.setup()
from guahao.core import clock, idempotency

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


# A web process of its own, at this test's time (the clock the test set), serving the app.
WEB_PROCESS = """
import datetime as dt, sys
import django
django.setup()
from wsgiref.simple_server import WSGIRequestHandler, make_server
from django.core.wsgi import get_wsgi_application
from guahao.core import clock
clock.advance(dt.datetime.fromisoformat(sys.argv[2]) - clock.now())
WSGIRequestHandler.log_message = lambda *args: None
make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application()).serve_forever()
"""


@contextlib.contextmanager
def _server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """A web process on this test's database."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", WEB_PROCESS, str(port), clock.now().isoformat()],
        env=dict(os.environ, **PAYSIM_ENV, DATABASE_URL=_database_url(), GUAHAO_HTTPS="off", **env),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=60)
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - our own server
    except OSError:
        return False
    return True


def _confirm(url: str, token: str, hold_id: str) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310
        f"{url}/api/v1/holds/{hold_id}/confirm",
        data=json.dumps({"payment_method": "wechat"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "Idempotency-Key": "pay-1"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_confirm_whose_web_process_was_killed_mid_request_is_answered_at_once_when_sent_again(paysim_url, knobs):
    h = f.hospital(payment_required=True)
    clinic = f.schedule(f.department(h))
    patient = f.Api().login()
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    # A provider that takes the request and never answers: the confirm is mid-call when killed.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    lost: list[object] = []
    with _server({"GUAHAO_PAYSIM_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}) as (url, web):
        first = threading.Thread(target=lambda: lost.append(_try(lambda: _confirm(url, patient.token, hold["id"]))))
        first.start()
        wait_for(lambda: IdempotentRequest.objects.filter(key="pay-1").exists())
        os.killpg(web.pid, signal.SIGKILL)  # kill -9 of the web process, mid-request
        first.join(timeout=30)
    silent.close()
    assert isinstance(lost[0], Exception)  # the client never got an answer

    with _server({"GUAHAO_PAYSIM_URL": paysim_url}) as (url, _):
        started = time.monotonic()
        status, answer = _confirm(url, patient.token, hold["id"])
        assert time.monotonic() - started < 10  # not 409 idempotency.in_progress for a minute
        assert status in (200, 201, 202), answer
        assert answer["pay_url"].startswith(paysim_url)
        # Sent once more: the same answer, and still one payment for the hold.
        assert _confirm(url, patient.token, hold["id"]) == (status, answer)
    assert Payment.objects.filter(hold_id=hold["id"]).count() == 1


def _try(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - what the client saw
        return exc
