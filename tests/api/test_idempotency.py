"""``Idempotency-Key`` on hold and confirm: the same key and request give the first answer."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from guahao.booking.models import Hold, Registration
from guahao.core import clock
from guahao.core.models import IdempotentRequest
from tests import factories as f
from tests.booking.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def booking():
    h = f.hospital(max_active_holds=1)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    client = f.Api().login()
    return client, schedule, {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()}


def test_a_hold_sent_twice_with_one_key_is_made_once(booking):
    client, _, body = booking
    first = client.call("POST", "/holds", body, **{"Idempotency-Key": "a1b2c3"})
    # The same request, spelled differently, after the answer was lost.
    spelled_otherwise = json.dumps({"schedule_id": body["schedule_id"], "patient_id": body["patient_id"]}, indent=2)
    again = client.call("POST", "/holds", spelled_otherwise, **{"Idempotency-Key": "a1b2c3"})
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert Hold.objects.count() == 1

    # Without a key the same request is a new one, refused by the one-hold rule.
    status, refused = client.call("POST", "/holds", body)
    assert (status, refused["code"]) == (409, "rule.active_holds")


def test_a_key_reused_for_another_request_is_refused_and_changes_nothing(booking):
    client, schedule, body = booking
    client.call("POST", "/holds", body, **{"Idempotency-Key": "k-1"})
    other = f.schedule(schedule.department, day=schedule.date + dt.timedelta(days=1))
    status, problem = client.call("POST", "/holds", body | {"schedule_id": str(other.pk)}, **{"Idempotency-Key": "k-1"})
    assert (status, problem["code"], problem["field"]) == (422, "idempotency.key_reused", "Idempotency-Key")
    assert Hold.objects.count() == 1


def test_keys_belong_to_one_account(booking):
    client, schedule, body = booking
    stranger = f.Api().login()
    theirs = {"schedule_id": body["schedule_id"], "patient_id": stranger.add_patient()}
    mine = client.call("POST", "/holds", body, **{"Idempotency-Key": "same"})
    other = stranger.call("POST", "/holds", theirs, **{"Idempotency-Key": "same"})
    assert mine[0] == other[0] == 201 and mine[1]["id"] != other[1]["id"]


def test_a_refusal_is_not_kept_so_the_request_can_be_sent_again(booking):
    client, schedule, body = booking
    other = f.schedule(schedule.department, day=schedule.date + dt.timedelta(days=1))
    status, blocking = client.call("POST", "/holds", body | {"schedule_id": str(other.pk)})
    assert status == 201
    status, refused = client.call("POST", "/holds", body, **{"Idempotency-Key": "retry-me"})
    assert (status, refused["code"]) == (409, "rule.active_holds")
    client.call("DELETE", f"/holds/{blocking['id']}")
    status, held = client.call("POST", "/holds", body, **{"Idempotency-Key": "retry-me"})
    assert status == 201 and held["schedule_id"] == body["schedule_id"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "键"])
def test_a_malformed_key_names_the_header(booking, key):
    client, _, body = booking
    status, problem = client.call("POST", "/holds", body, **{"Idempotency-Key": key})
    assert (status, problem["code"], problem["field"]) == (422, "request.invalid", "Idempotency-Key")
    assert not Hold.objects.exists()


def test_the_same_key_sent_by_eight_clients_at_once_holds_one_slot(booking):
    client, schedule, body = booking
    results = race([lambda: client.call("POST", "/holds", body, **{"Idempotency-Key": "burst"})] * 8)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert {status for status, _ in results} == {201}
    assert len({answer["id"] for _, answer in results}) == 1
    assert Hold.objects.count() == 1


def test_a_confirm_sent_twice_books_once_and_answers_the_same(booking):
    client, _, body = booking
    hold = client.call("POST", "/holds", body)[1]
    first = client.call("POST", f"/holds/{hold['id']}/confirm", {}, **{"Idempotency-Key": "c-1"})
    again = client.call("POST", f"/holds/{hold['id']}/confirm", {}, **{"Idempotency-Key": "c-1"})
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert Registration.objects.count() == 1
    # Without the key the second confirm is told the hold is no longer live.
    status, refused = client.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert (status, refused["code"]) == (409, "hold.not_active")


def test_a_confirm_cut_off_by_a_crash_after_booking_answers_its_registration_when_sent_again(booking):
    client, _, body = booking
    hold = client.call("POST", "/holds", body)[1]
    path = f"/holds/{hold['id']}/confirm"
    first = client.call("POST", path, {}, **{"Idempotency-Key": "c-2"})
    # As if the process had died after claiming the key and before answering: nobody holds the
    # key's liveness lock, so the retry takes the claim over at once (tests/core/test_idempotency_crash.py
    # kills a real process).
    IdempotentRequest.objects.filter(key="c-2").update(status_code=None, response=None, created_at=clock.now())
    status, answer = client.call("POST", path, {}, **{"Idempotency-Key": "c-2"})
    # The first attempt had booked before the crash: the client gets that registration, the
    # first answer, and nothing is booked twice.
    assert first[0] == 201
    # (its check-in QR is signed anew, with the time of signing: the same registration number)
    assert (status, {**answer, "qr": None}) == (201, {**first[1], "qr": None})
    assert Registration.objects.count() == 1


def test_a_hold_on_the_last_slot_sent_again_with_its_key_gets_its_hold_not_sold_out():
    h = f.hospital(max_active_holds=1)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep), slots_per_period=1, end=dt.time(8, 30))  # one slot
    client = f.Api().login()
    body = {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()}
    first = client.call("POST", "/holds", body, **{"Idempotency-Key": "last-1"})
    assert first[0] == 201, first
    # The answer was lost; sent again, the patient is told of their hold, not that it is sold out.
    assert client.call("POST", "/holds", body, **{"Idempotency-Key": "last-1"}) == first
    assert Hold.objects.count() == 1
