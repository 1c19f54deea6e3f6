"""With Redis, what a hold tells the caches (the department's availability moved on, the gate
noting the hold's expiry) is written a moment after the answer, by a thread of the process,
and the holds of one moment go together: another process sees the change a moment later, this
process at once, and a write Redis refused is written when Redis is back."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from guahao.core import cache as core_cache
from guahao.scheduling import selectors
from guahao.scheduling.models import Schedule
from tests import factories as f
from tests.processes import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="written a moment later only beside Redis"),
]


def free_that_day(schedule_id: int) -> int:
    """The free slots a department's availability read shows for the schedule."""
    schedule = Schedule.objects.select_related("department").get(pk=schedule_id)
    days = selectors.department_availability(department=schedule.department, start=schedule.date, days=1)
    return next(v.available for _, views in days for v in views if v.schedule.pk == schedule_id)


def note_free(schedule_id: int, path: str) -> None:
    """Run in another process (another web worker): what its availability read shows."""
    Path(path).write_text(str(free_that_day(schedule_id)))


def test_a_hold_is_seen_at_once_here_and_a_moment_later_in_another_process(crash_points, tmp_path):
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), slots_per_period=3)
    seen = tmp_path / "free"

    def elsewhere() -> int:
        crash_points.call("tests.core.test_cache_soon:note_free", schedule_id=schedule.pk, path=str(seen))
        return int(seen.read_text())

    assert free_that_day(schedule.pk) == 3  # kept here and in Redis now
    assert elsewhere() == 3

    patient = f.Api().login()
    assert (
        patient.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient.add_patient()})[0] == 201
    )
    # This process reads its own change without waiting for the thread that writes it.
    assert free_that_day(schedule.pk) == 2
    # Another process sees it a moment later.
    wait_for(lambda: elsewhere() == 2, timeout=5)


def test_what_is_asked_for_one_key_in_one_moment_is_written_once_the_least_standing_for_all():
    written: list[float] = []
    for expires in (30.0, 10.0, 20.0):
        core_cache.soon("test:soon:one", lambda pipe, e=expires: written.append(e), order=expires)
    wait_for(lambda: written, timeout=5)
    time.sleep(0.1)
    assert written == [10.0]


def test_holds_made_together_tell_redis_in_fewer_round_trips_than_holds(monkeypatch):
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), slots_per_period=8)
    patients = [f.Api().login() for _ in range(8)]
    asked = [(p, {"schedule_id": str(schedule.pk), "patient_id": p.add_patient()}) for p in patients]
    sends = []
    send = core_cache._Soon.send

    def counted(self: core_cache._Soon) -> None:
        if self.waiting:
            sends.append(len(self.waiting))
        send(self)

    monkeypatch.setattr(core_cache._Soon, "send", counted)
    key = f"facts:department:{dep.pk}"
    generation = cache.get(key)
    answers: list[int] = []
    start = threading.Barrier(len(asked))

    def hold(patient: f.Api, body: dict) -> None:
        try:
            start.wait()
            answers.append(patient.call("POST", "/holds", body)[0])
        finally:
            connection.close()  # back to the pool

    threads = [threading.Thread(target=hold, args=pair) for pair in asked]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [201] * 8
    wait_for(lambda: not core_cache._soon.waiting and not core_cache._soon.sending, timeout=5)
    assert cache.get(key) != generation
    assert 1 <= len(sends) < 8, sends


def test_a_write_redis_refused_is_written_when_it_answers_again_and_the_outage_is_logged_once(caplog):
    written: list[str] = []

    def write(pipe: object) -> None:
        if len(written) < 3:
            written.append("refused")
            raise ConnectionError("Redis went away")
        written.append("written")

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "guahao.core.cache"]

    with caplog.at_level(logging.WARNING, logger="guahao.core.cache"):
        core_cache.soon("test:soon:refused", write)
        wait_for(lambda: "the cache was told what waited" in said(), timeout=10)
    assert written == ["refused", "refused", "refused", "written"]
    assert said() == ["could not write what the cache was told; trying again", "the cache was told what waited"]


def test_a_process_forked_while_the_writer_held_its_lock_writes_its_own():
    core_cache.soon("test:soon:parent", lambda pipe: None)  # this process's writer is running
    with core_cache._soon.ready:  # held at the moment of the fork
        pid = os.fork()
        if pid == 0:  # the child: what it is told is written by a writer of its own
            signal.alarm(10)
            written = threading.Event()
            core_cache.soon("test:soon:child", lambda pipe: written.set())
            os._exit(0 if written.wait(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def hold_and_end(account_id: int, patient_id: int, schedule_id: int) -> None:
    """Run in another process, which ends right after (its writer's moment not yet come)."""
    from guahao.accounts.models import Account
    from guahao.booking import services as booking

    booking.hold_create(
        account=Account.objects.get(pk=account_id), patient=patient_id, schedule=Schedule.objects.get(pk=schedule_id)
    )


def test_a_hold_made_by_a_process_that_ends_right_after_is_seen_by_the_others(crash_points):
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), slots_per_period=3)
    assert free_that_day(schedule.pk) == 3  # kept here and in Redis now
    patient = f.Api().login()
    crash_points.call(
        "tests.core.test_cache_soon:hold_and_end",
        account_id=patient.account_id,
        patient_id=int(patient.add_patient()),
        schedule_id=schedule.pk,
    )
    wait_for(lambda: free_that_day(schedule.pk) == 2, timeout=3)
