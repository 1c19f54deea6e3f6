"""A request whose first attempt died with its process (SIGKILL) is taken over at once when sent
again, while one whose first attempt is still running is told so: a real process, killed."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from guahao.core import idempotency
from guahao.core.models import IdempotentRequest
from guahao.core.problems import Problem
from guahao.payments.models import Payment
from tests import factories as f
from tests.crash import in_background, send
from tests.processes import PAYSIM_ENV, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def first_attempt() -> None:
    """Another web process's confirm: it claims the key and is still working on it (waiting for
    the payment provider) when it is killed."""
    idempotency.replay_or_run(owner="account:7", key="confirm-1", print_="p", run=_working, atomic=False)


def _working() -> tuple[int, object]:
    return 201, {"first": True}


def _again(ran: list[int], key: str = "confirm-1") -> tuple[int, object]:
    def run() -> tuple[int, object]:
        ran.append(1)
        return 201, {"again": True}

    return idempotency.replay_or_run(owner="account:7", key=key, print_="p", run=run, atomic=False)


def test_a_retry_after_the_first_attempts_process_was_killed_runs_at_once(crash_points):
    here = "tests.core.test_idempotency_crash"
    with crash_points.job(f"{here}:first_attempt", f"{here}:_working"):
        ran: list[int] = []
        # Alive: the retry is told the first is still running, and nothing runs twice.
        with pytest.raises(Problem) as refused:
            _again(ran)
        assert refused.value.type.code == "idempotency.in_progress" and ran == []
    # Killed (kill -9).
    assert IdempotentRequest.objects.get(key="confirm-1").status_code is None  # its claim is left behind

    started = time.monotonic()
    assert _again(ran) == (201, {"again": True})  # taken over at once: no wait for the claim to go stale
    assert time.monotonic() - started < 5 and ran == [1]
    # And kept: the next retry is given that answer, and runs nothing.
    assert _again(ran) == (201, {"again": True}) and ran == [1]


def test_a_request_sent_again_while_the_first_is_about_to_answer_is_given_that_answer():
    claimed = threading.Event()

    def slow() -> tuple[int, object]:
        claimed.set()
        time.sleep(0.3)  # the payment provider answering
        return 201, {"first": True}

    def first() -> tuple[int, object]:
        try:
            return idempotency.replay_or_run(owner="account:7", key="confirm-2", print_="p", run=slow, atomic=False)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        answered = pool.submit(first)
        assert claimed.wait(10)
        ran: list[int] = []
        # Not 409 "still running": the first answers within the second the retry looks again for.
        assert _again(ran, "confirm-2") == (201, {"first": True}) and ran == []
        assert answered.result() == (201, {"first": True})


def test_a_confirm_whose_web_process_was_killed_mid_request_is_answered_at_once_when_sent_again(
    crash_points, paysim_url, knobs, settings
):
    h = f.hospital(payment_required=True)
    clinic = f.schedule(f.department(h))
    patient = f.Api().login()
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    settings.PAYSIM_MCH_ID, settings.PAYSIM_KEY = PAYSIM_ENV["GUAHAO_PAYSIM_MCH_ID"], PAYSIM_ENV["GUAHAO_PAYSIM_KEY"]
    # A provider that takes the request and never answers: the confirm is mid-call when killed.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    settings.PAYSIM_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
    with crash_points.server() as web:
        first = in_background(lambda: _confirm(web.url, patient.token, hold["id"]))
        wait_for(lambda: IdempotentRequest.objects.filter(key="pay-1").exists())
        web.kill()  # kill -9 of the web process, mid-request
        assert isinstance(first(), OSError)  # the client never got an answer
    silent.close()

    settings.PAYSIM_URL = paysim_url
    with crash_points.server() as web:  # started again
        started = time.monotonic()
        status, answer = _confirm(web.url, patient.token, hold["id"])
        assert time.monotonic() - started < 10  # not 409 idempotency.in_progress for a minute
        assert status in (200, 201, 202), answer
        assert answer["pay_url"].startswith(paysim_url)
        # Sent once more: the same answer, and still one payment for the hold.
        assert _confirm(web.url, patient.token, hold["id"]) == (status, answer)
    assert Payment.objects.filter(hold_id=hold["id"]).count() == 1


def _confirm(url: str, token: str, hold_id: str) -> Any:
    return send(url, "POST", f"/holds/{hold_id}/confirm", {"payment_method": "wechat"}, token=token, **KEY)


KEY = {"Idempotency-Key": "pay-1"}
