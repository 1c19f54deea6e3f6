"""The phone desk's own share: the phone channel books it first and then, like any online
channel, the platform pool; no other channel ever takes it; the database's conditional update
alone decides, so phone and app together never take one slot twice."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from guahao.accounts.services import staff_token_create
from guahao.booking.models import Hold, HoldStatus
from guahao.scheduling.models import Pool, Slot, SlotState
from tests import factories as f
from tests.booking.test_concurrency import race


def _phone_desk(h):
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member(f"call{h.pk}", "call_centre", h))
    return desk


def _by_phone(desk, clinic, name):
    person = {"name": name, "id_number": f.id_number("19560312"), "phone": f.phone()}
    return desk.call("POST", "/staff/desk/holds", {"schedule_id": clinic.pk, "channel": "phone", **person})


NAMES = ["李秀英", "王芳", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴霞"]


@pytest.mark.django_db
def test_the_phone_desk_takes_its_share_first_then_the_platform_pool():
    h = f.hospital(phone_share_percent=20)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), platform_share_percent=60)  # 3 online, 1 phone, 1
    desk = _phone_desk(h)

    taken = []
    for name in NAMES[:3]:
        status, made = _by_phone(desk, clinic, name)
        assert status == 201, made
        taken.append(Hold.objects.select_related("slot").get(pk=made["hold"]["id"]).slot)

    assert [(s.number, s.pool) for s in taken] == [(4, Pool.PHONE), (1, Pool.PLATFORM), (2, Pool.PLATFORM)]
    # the window's number stays the window's
    assert Slot.objects.get(schedule=clinic, pool=Pool.ONSITE).state == SlotState.FREE


@pytest.mark.django_db
def test_the_app_never_takes_the_phone_desks_share():
    h = f.hospital(phone_share_percent=20)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), platform_share_percent=60)
    Slot.objects.filter(schedule=clinic, pool=Pool.PLATFORM).update(state=SlotState.BOOKED)  # online: sold out
    app = f.Api().login()

    status, refused = app.call("POST", "/holds", {"schedule_id": clinic.pk, "patient_id": app.add_patient()})

    assert (status, refused["code"]) == (409, "slot.unavailable")
    assert Slot.objects.get(schedule=clinic, pool=Pool.PHONE).state == SlotState.FREE
    assert not Hold.objects.exists()
    # a clinic without a phone share: the phone desk books online as before
    plain = f.schedule(f.department(f.hospital()), platform_share_percent=60)
    status, made = _by_phone(_phone_desk(plain.hospital), plain, "王芳")
    assert status == 201 and Hold.objects.get(pk=made["hold"]["id"]).slot.pool == Pool.PLATFORM


@pytest.mark.django_db(transaction=True)
def test_phone_and_app_clients_together_never_take_one_slot_twice():
    h = f.hospital(phone_share_percent=40)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=40)  # 4 online, 4 phone, 2 window
    desk = _phone_desk(h)
    apps = []
    for _ in range(7):
        client = f.Api().login()
        apps.append((client, client.add_patient()))
    jobs = [
        lambda c=c, p=p: c.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": p}) for c, p in apps
    ] + [lambda n=n: _by_phone(desk, clinic, n) for n in NAMES[:7]]

    results = race(jobs)

    assert not [r for r in results if isinstance(r, Exception)], results
    app_won = [b for s, b in results[:7] if s == 201]
    phone_won = [b for s, b in results[7:] if s == 201]
    assert len(app_won) + len(phone_won) == 8, Counter((s, b.get("code")) for s, b in results)
    assert Counter(s for s, _ in results if s != 201) == {409: 6}
    held = Hold.objects.filter(schedule=clinic, status=HoldStatus.HELD).select_related("slot")
    assert len({h.slot_id for h in held}) == held.count() == 8  # never one slot twice
    assert {h.slot.pool for h in held if h.channel == "app"} <= {Pool.PLATFORM}
    assert {h.slot.pool for h in held if h.channel == "phone"} >= {Pool.PHONE}
    assert Slot.objects.filter(schedule=clinic, pool=Pool.PHONE, state=SlotState.HELD).count() == 4
    assert Slot.objects.filter(schedule=clinic, pool=Pool.ONSITE, state=SlotState.FREE).count() == 2
    assert Slot.objects.filter(schedule=clinic, state=SlotState.HELD).count() == 8
