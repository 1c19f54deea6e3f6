"""Seed 003's static sold-out page: once a clinic is sold out (or not released yet, suspended,
over), the crowd still pressing "book" is answered from a copy of the refusal, without the
database and without reading the patient (but for the token, kept in the process), and the
copy never outlives what made it true."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guahao.booking import services as booking
from guahao.core import clock
from guahao.his import services as his
from tests import factories as f


def one_slot_clinic(**rules):
    """A clinic of one online slot tomorrow, taken; another doctor of the department has room."""
    h = f.hospital(**rules)
    dep = f.department(h)
    full = f.schedule(dep, f.doctor(dep), slots_per_period=1, end=dt.time(8, 30))
    colleague = f.schedule(dep, f.doctor(dep, name="孙春梅"))
    taker = f.Api().login()
    status, hold = taker.call("POST", "/holds", {"schedule_id": str(full.pk), "patient_id": taker.add_patient()})
    assert status == 201, hold
    return full, colleague, taker, hold


def read_by_the_answer(queries: CaptureQueriesContext) -> list[str]:
    """The queries an answer made, but the embedded default's cache feed (``core.CacheChange``),
    which each process reads at most every half second whatever the request."""
    return [q["sql"] for q in queries.captured_queries if "core_cachechange" not in q["sql"]]


def crowd(n: int, language: str = "zh-hans") -> list[tuple[f.Api, str]]:
    out = []
    for _ in range(n):
        c = f.Api(language=language).login()
        out.append((c, c.add_patient()))
    return out


def ask(client: f.Api, schedule, pid: str, **headers: str) -> tuple[int, dict]:
    return client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": pid}, **headers)


@pytest.mark.django_db
def test_the_crowd_turned_away_gets_the_same_refusal_without_the_database(which_gate):
    full, colleague, _, _ = one_slot_clinic()
    (first, p1), (second, p2) = crowd(2)
    status, refused = ask(first, full, p1)
    assert (status, refused["code"]) == (409, "slot.unavailable")
    assert any(a["schedule_id"] == str(colleague.pk) for a in refused["alternatives"])

    with CaptureQueriesContext(connection) as queries:
        again = ask(second, full, p2)
    assert again == (409, refused)
    assert read_by_the_answer(queries) == []

    # A token that was never given (or is no longer valid) is not logged in, whatever the clinic.
    stranger = f.Api()
    stranger.token = "never-given"
    assert ask(stranger, full, p2)[1]["code"] == "auth.required"
    assert ask(second, full, p2) == (409, refused)


@pytest.mark.django_db
def test_who_sends_no_token_or_an_idempotency_key_goes_the_whole_way(which_gate):
    full, _, _, _ = one_slot_clinic()
    (first, p1), (_, p2) = crowd(2)
    assert ask(first, full, p1)[0] == 409  # the refusal is kept now
    nobody = f.Api()
    assert ask(nobody, full, p2)[1]["code"] == "auth.required"
    stranger = f.Api()
    stranger.token = "never-given"
    assert ask(stranger, full, p2, **{"Idempotency-Key": "k-1"})[1]["code"] == "auth.required"


@pytest.mark.django_db
def test_a_winner_whose_answer_was_lost_still_gets_its_hold_when_it_sends_its_key_again(which_gate):
    h = f.hospital()
    dep = f.department(h)
    full = f.schedule(dep, f.doctor(dep), slots_per_period=1, end=dt.time(8, 30))
    (winner, pw), (loser, pl) = crowd(2)
    status, hold = ask(winner, full, pw, **{"Idempotency-Key": "press-1"})
    assert status == 201
    assert ask(loser, full, pl)[0] == 409  # the refusal is kept now
    assert ask(winner, full, pw, **{"Idempotency-Key": "press-1"}) == (201, hold)


@pytest.mark.django_db
def test_a_slot_given_back_is_offered_at_once_not_the_kept_refusal(which_gate):
    full, _, taker, hold = one_slot_clinic()
    (first, p1), (second, p2) = crowd(2)
    assert ask(first, full, p1)[0] == 409
    assert ask(first, full, p1)[0] == 409  # answered from the copy
    assert taker.call("DELETE", f"/holds/{hold['id']}")[0] == 200
    status, got = ask(second, full, p2)
    assert status == 201, got


@pytest.mark.django_db
def test_each_patient_reads_the_refusal_in_their_own_language(which_gate):
    full, _, _, _ = one_slot_clinic()
    (zh, pz), (zh2, pz2) = crowd(2)
    (en, pe), (en2, pe2) = crowd(2, language="en")
    assert ask(zh, full, pz)[1]["title"] == "当前选择已无可用号源"
    assert ask(en, full, pe)[1]["title"] == "No slot is free for this choice"
    assert ask(zh2, full, pz2)[1]["title"] == "当前选择已无可用号源"
    assert ask(en2, full, pe2)[1]["title"] == "No slot is free for this choice"


@pytest.mark.django_db
def test_a_suspension_ends_the_kept_refusal_at_once(which_gate):
    full, _, _, _ = one_slot_clinic()
    (first, p1), (second, p2) = crowd(2)
    assert ask(first, full, p1)[0] == 409
    his.schedule_suspend(schedule=full, reason="医生外出会诊", actor=booking.SYSTEM)
    assert ask(second, full, p2)[1]["code"] == "schedule.suspended"


@pytest.mark.django_db
@pytest.mark.clock("17:59")
def test_the_waitlist_is_no_longer_offered_once_it_has_closed(which_gate):
    full, _, _, _ = one_slot_clinic(waitlist_places=5)
    (first, p1), (second, p2) = crowd(2)
    status, refused = ask(first, full, p1)
    assert refused["waitlist"]["closes_at"].startswith(f.today().isoformat() + "T18:00:00+08:00")
    clock.advance(dt.timedelta(minutes=2))  # the waitlist closed at 18:00
    status, later = ask(second, full, p2)
    assert (status, later["code"]) == (409, "slot.unavailable")
    assert "waitlist" not in later


@pytest.mark.django_db
def test_the_crowd_waiting_for_the_release_is_told_when_it_opens_and_gets_a_slot_once_it_has(which_gate):
    h = f.hospital()  # seven days ahead, released at 07:00
    dep = f.department(h)
    later = f.schedule(dep, f.doctor(dep), day=f.today() + dt.timedelta(days=8))
    (first, p1), (second, p2) = crowd(2)
    status, refused = ask(first, later, p1)
    assert (status, refused["code"]) == (409, "schedule.not_released")
    with CaptureQueriesContext(connection) as queries:
        assert ask(second, later, p2) == (409, refused)
    assert read_by_the_answer(queries) == []

    clock.advance(dt.datetime.fromisoformat(refused["release_at"]) - clock.now())  # the release
    status, hold = ask(second, later, p2)
    assert status == 201, hold


@pytest.mark.django_db
@pytest.mark.clock("08:20")
def test_a_session_that_ends_is_refused_as_over_not_from_the_sold_out_copy(which_gate):
    h = f.hospital()
    dep = f.department(h)
    today = f.schedule(dep, f.doctor(dep), day=f.today(), slots_per_period=1, start=dt.time(8, 0), end=dt.time(8, 30))
    taker = f.Api().login()
    assert ask(taker, today, taker.add_patient())[0] == 201
    (first, p1), (second, p2) = crowd(2)
    assert ask(first, today, p1)[1]["code"] == "slot.unavailable"
    clock.advance(dt.timedelta(minutes=15))  # 08:35: the session is over
    assert ask(second, today, p2)[1]["code"] == "schedule.ended"
