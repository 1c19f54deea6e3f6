"""A crowd at release time: real threads, each with its own client and database connection."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from guahao.booking.models import Hold, HoldStatus, Registration
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
CROWD = 50


def race(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job in its own thread, all released at the same moment."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = jobs[i]()
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_fifty_patients_racing_for_ten_slots_get_exactly_ten():
    h = f.hospital()
    dep = f.department(h)
    sched = f.schedule(dep, f.doctor(dep))  # ten online slots
    colleague = f.schedule(dep, f.doctor(dep, name="赵立新"))
    crowd = []
    for _ in range(CROWD):
        client = f.Api().login()
        crowd.append((client, client.add_patient()))
    body = lambda pid: {"schedule_id": str(sched.pk), "patient_id": pid}  # noqa: E731

    results = race([lambda c=c, p=p: c.call("POST", "/holds", body(p)) for c, p in crowd])

    assert not [r for r in results if isinstance(r, Exception)], results
    won = [b for s, b in results if s == 201]
    lost = [b for s, b in results if s != 201]
    assert len(won) == 10, Counter((s, b.get("code") if isinstance(b, dict) else b) for s, b in results)
    assert sorted(b["slot_number"] for b in won) == list(range(1, 11))
    assert Counter((s, b["code"]) for s, b in [(s, b) for s, b in results if s != 201]) == {
        (409, "slot.unavailable"): 40
    }
    assert all(any(a["schedule_id"] == str(colleague.pk) for a in b["alternatives"]) for b in lost)
    assert Hold.objects.filter(schedule=sched, status=HoldStatus.HELD).count() == 10
    assert Slot.objects.filter(schedule=sched, state=SlotState.HELD).count() == 10


def test_one_account_firing_in_parallel_gets_no_more_than_its_rules_allow():
    h = f.hospital(max_active_holds=2)
    deps = [f.department(h, name) for name in ("消化内科", "呼吸内科", "神经内科", "肾内科")]
    schedules = [f.schedule(d, None) for d in deps]
    client = f.Api().login()
    patients = [client.add_patient(relation="self", name="张三"), client.add_patient(relation="child", name="张小明")]
    # Every patient at every department, three times over: 24 requests from one account.
    jobs = [
        (lambda s=s, p=p: client.call("POST", "/holds", {"schedule_id": s.pk, "patient_id": p}))
        for s in schedules
        for p in patients
        for _ in range(3)
    ]

    results = race(jobs)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for s, _ in results if s == 201) == 2
    live = Hold.objects.filter(account_id=client.account_id, status=HoldStatus.HELD)
    assert live.count() == 2
    assert Slot.objects.filter(state=SlotState.HELD).count() == 2
    codes = Counter(b["code"] for s, b in results if s != 201)
    assert set(codes) <= {"rule.active_holds", "rule.one_per_department_per_day"}


def test_one_person_held_for_by_many_accounts_at_once_gets_one_slot_in_the_department():
    """A family member added in twenty accounts (the same ID number) is one patient: twenty
    accounts holding for them at the same moment get one hold in the department that day."""
    h = f.hospital()
    dep = f.department(h)
    sched = f.schedule(dep, f.doctor(dep))  # ten online slots: room for every one of them
    colleague = f.schedule(dep, f.doctor(dep, name="赵立新"))
    number = f.id_number()
    accounts = []
    for _ in range(20):
        client = f.Api().login()
        accounts.append((client, client.add_patient(number=number, relation="parent", name="王秀兰")))
    jobs = [
        (
            lambda c=c, p=p, s=(sched if i % 2 else colleague): c.call(
                "POST", "/holds", {"schedule_id": s.pk, "patient_id": p}
            )
        )
        for i, (c, p) in enumerate(accounts)
    ]

    results = race(jobs)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Counter((s, b.get("code")) for s, b in results) == {
        (201, None): 1,
        (409, "rule.one_per_department_per_day"): 19,
    }
    assert Hold.objects.filter(status=HoldStatus.HELD, department=dep).count() == 1
    assert Slot.objects.filter(state=SlotState.HELD).count() == 1


def test_parallel_confirms_and_cancels_of_one_registration_act_once():
    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    client = f.Api().login()
    _, hold = client.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": client.add_patient()})

    confirms = race([lambda: client.call("POST", f"/holds/{hold['id']}/confirm", {}) for _ in range(10)])
    assert sorted(s for s, _ in confirms) == [201] + [409] * 9
    reg = next(b for s, b in confirms if s == 201)
    cancels = race([lambda: client.call("POST", f"/registrations/{reg['id']}/cancel", {}) for _ in range(10)])
    assert sorted(s for s, _ in cancels) == [200] + [409] * 9
    assert Registration.objects.get().status == "cancelled"
    assert Slot.objects.filter(schedule=sched).exclude(state=SlotState.FREE).count() == 0
