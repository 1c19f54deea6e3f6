"""A phone desk's own share of a clinic's numbers (seed 004: the call centre books too): made at
generation beside the platform's and the window's, validated against the platform's share, kept
in new numbers, and given online at the pool return when unused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from guahao.core import clock
from guahao.scheduling.models import Pool, RuleSet, Schedule, ScheduleEvent, ScheduleTemplate, Slot, SlotState
from guahao.scheduling.services import pools_return_due, schedule_capacity_set, schedules_generate
from tests import factories as f

pytestmark = pytest.mark.django_db


def pools(schedule) -> dict[tuple[str, str], int]:
    counted: dict[tuple[str, str], int] = {}
    for pool, state in Slot.objects.filter(schedule=schedule).values_list("pool", "state"):
        counted[(pool, state)] = counted.get((pool, state), 0) + 1
    return counted


def test_generation_splits_each_period_platform_then_phone_then_window():
    h = f.hospital(phone_share_percent=20)
    dep = f.department(h)

    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=60)  # the rules' phone share: 20%

    first = list(Slot.objects.filter(schedule=clinic, number__lte=5).order_by("number").values_list("pool", flat=True))
    assert first == [Pool.PLATFORM, Pool.PLATFORM, Pool.PLATFORM, Pool.PHONE, Pool.ONSITE]
    assert pools(clinic) == {
        (Pool.PLATFORM, SlotState.FREE): 6,
        (Pool.PHONE, SlotState.FREE): 2,
        (Pool.ONSITE, SlotState.FREE): 2,
    }
    assert clinic.phone_pool is True
    # without a phone share nothing changes
    plain = f.schedule(f.department(f.hospital()), platform_share_percent=60)
    assert plain.phone_pool is False and not Slot.objects.filter(schedule=plain, pool=Pool.PHONE).exists()


def test_the_shares_together_may_not_pass_100_and_the_error_names_the_phone_share():
    h = f.hospital(platform_share_percent=90)
    rules = RuleSet(hospital=h, phone_share_percent=20)  # a department's, inheriting 90% online
    rules.department = f.department(h)
    with pytest.raises(ValidationError) as refused:
        rules.full_clean()
    assert list(refused.value.message_dict) == ["phone_share_percent"]
    assert "100" in refused.value.message_dict["phone_share_percent"][0]
    with pytest.raises(ValidationError) as refused:
        RuleSet(hospital=f.hospital(), phone_share_percent=101).full_clean(exclude=["hospital"])
    assert "phone_share_percent" in refused.value.message_dict
    RuleSet(hospital=h, department=rules.department, platform_share_percent=70, phone_share_percent=30).full_clean()
    # and a clinic is never made with more
    from guahao.core.problems import Problem

    with pytest.raises(Problem) as problem:
        f.schedule(f.department(h, "外科"), platform_share_percent=90, phone_share_percent=20)
    assert problem.value.as_dict()["field"] == "phone_share_percent"
    assert not Schedule.objects.filter(department__name="外科").exists()


def test_templates_and_more_capacity_keep_the_phone_share():
    h = f.hospital(phone_share_percent=20, platform_share_percent=60)
    dep = f.department(h)
    monday = f.today() + dt.timedelta(days=7 - f.today().weekday())
    ScheduleTemplate.objects.create(
        hospital=h,
        department=dep,
        weekday=0,
        session="am",
        start=dt.time(8, 0),
        end=dt.time(9, 0),
        period_minutes=30,
        slots_per_period=5,
        valid_from=monday,
    )
    made = schedules_generate(hospital=h, start=monday, days=1, actor="op")
    clinic = Schedule.objects.get(pk=made.created[0].schedule_id)
    assert clinic.phone_pool and Slot.objects.filter(schedule=clinic, pool=Pool.PHONE).count() == 2

    schedule_capacity_set(schedule=clinic, capacity=15, actor="op")

    added = Slot.objects.filter(schedule=clinic, number__gt=10).order_by("number").values_list("pool", flat=True)
    assert list(added) == [Pool.PLATFORM] * 3 + [Pool.PHONE] + [Pool.ONSITE]


def test_the_pool_return_gives_the_phone_desks_unused_numbers_online():
    h = f.hospital(pool_return_time=dt.time(17, 0), phone_share_percent=20)
    clinic = f.schedule(f.department(h), platform_share_percent=60)
    Slot.objects.filter(schedule=clinic, pool=Pool.PHONE, number=4).update(state=SlotState.BOOKED)

    with clock.travel(clock.at_local(f.today(), dt.time(17, 0), h.timezone)):
        assert pools_return_due() == 6 + 1  # the platform's six to the window, the phone desk's free one online

    assert pools(clinic) == {
        (Pool.ONSITE, SlotState.FREE): 8,
        (Pool.PLATFORM, SlotState.FREE): 1,
        (Pool.PHONE, SlotState.BOOKED): 1,
    }
    event = ScheduleEvent.objects.get(schedule=clinic, kind="pool_returned")
    assert event.data == {"moved": 6, "to": "onsite", "from_phone": 1}


def test_staff_see_the_phone_desks_numbers_in_the_schedules_and_the_statistics():
    from guahao.accounts.services import staff_token_create

    h = f.hospital(phone_share_percent=20)
    clinic = f.schedule(f.department(h), platform_share_percent=60)
    Slot.objects.filter(schedule=clinic, number=4).update(state=SlotState.BOOKED)  # a phone desk's number taken
    admin = f.Api()
    admin.token = staff_token_create(user=f.staff_member("admin1", "hospital_admin", h))

    _, listed = admin.call("GET", "/staff/schedules")
    _, numbers = admin.call("GET", f"/staff/stats?from={clinic.date.isoformat()}&to={clinic.date.isoformat()}")

    assert [(s["free_platform"], s["free_phone"], s["free_onsite"]) for s in listed] == [(6, 1, 2)]
    assert numbers["by_pool"] == [
        {"key": "platform", "capacity": 6, "taken": 0, "free": 6},
        {"key": "phone", "capacity": 2, "taken": 1, "free": 1},
        {"key": "onsite", "capacity": 2, "taken": 0, "free": 2},
    ]


def test_the_console_names_the_phone_share_when_the_shares_pass_100_and_shows_the_pools():
    from django.test import Client

    h = f.hospital(platform_share_percent=90)
    f.staff_member("admin2", "hospital_admin", h)
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username="admin2", password="pw-for-tests")
    rules = RuleSet.objects.get(hospital=h)

    page = console.post(
        f"/console/scheduling/ruleset/{rules.pk}/change/",
        {"hospital": h.pk, "platform_share_percent": 90, "phone_share_percent": 20},
    )

    assert page.status_code == 200  # the form again, with the error on the field
    assert "phone_share_percent" in page.context["adminform"].form.errors
    assert RuleSet.objects.get(pk=rules.pk).phone_share_percent is None
    clinic = f.schedule(f.department(h), platform_share_percent=60, phone_share_percent=20)
    shown = console.get(f"/console/scheduling/schedule/{clinic.pk}/change/").content.decode()
    assert "电话预约 2" in shown
