"""At the rules' cutoff the day before, free numbers of one pool go to the other, once."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.core import clock
from guahao.scheduling.models import Pool, ScheduleEvent, Slot, SlotState
from guahao.scheduling.services import pools_return_due
from tests import factories as f

pytestmark = pytest.mark.django_db


def pools(schedule) -> dict[tuple[str, str], int]:
    counted: dict[tuple[str, str], int] = {}
    for pool, state in Slot.objects.filter(schedule=schedule).values_list("pool", "state"):
        counted[(pool, state)] = counted.get((pool, state), 0) + 1
    return counted


def test_unused_platform_numbers_go_to_the_window_at_17_the_day_before():
    h = f.hospital(pool_return_time=dt.time(17, 0))
    dep = f.department(h)
    tomorrow = f.schedule(dep, f.doctor(dep), platform_share_percent=60)  # 3 online, 2 window per period
    later = f.schedule(dep, f.doctor(dep, "李明"), day=f.today() + dt.timedelta(days=2), platform_share_percent=60)
    patient = f.Api().login()
    patient.call("POST", "/holds", {"schedule_id": str(tomorrow.pk), "patient_id": patient.add_patient()})

    with clock.travel(clock.at_local(f.today(), dt.time(16, 59), h.timezone)):
        assert pools_return_due() == 0
    assert pools(tomorrow) == {(Pool.PLATFORM, SlotState.FREE): 5, (Pool.PLATFORM, SlotState.HELD): 1,
                               (Pool.ONSITE, SlotState.FREE): 4}  # fmt: skip

    with clock.travel(clock.at_local(f.today(), dt.time(17, 0), h.timezone)):
        assert pools_return_due() == 5
        assert pools_return_due() == 0  # once

    assert pools(tomorrow) == {(Pool.PLATFORM, SlotState.HELD): 1, (Pool.ONSITE, SlotState.FREE): 9}
    assert pools(later)[(Pool.PLATFORM, SlotState.FREE)] == 6  # its cutoff is tomorrow
    event = ScheduleEvent.objects.get(schedule=tomorrow, kind="pool_returned")
    assert event.data == {"moved": 5, "to": "onsite"}
    other = f.Api().login()
    status, refused = other.call("POST", "/holds", {"schedule_id": str(tomorrow.pk), "patient_id": other.add_patient()})
    assert (status, refused["code"]) == (409, "slot.unavailable")  # online numbers are all gone


def test_a_hospital_may_send_unused_window_numbers_online_instead():
    h = f.hospital(pool_return_time=dt.time(17, 0), pool_return="to_platform")
    clinic = f.schedule(f.department(h), platform_share_percent=60)
    with clock.travel(clock.at_local(f.today(), dt.time(18, 0), h.timezone)):
        assert pools_return_due() == 4
    assert pools(clinic) == {(Pool.PLATFORM, SlotState.FREE): 10}


def test_without_a_cutoff_in_the_rules_the_pools_stay():
    h = f.hospital()
    clinic = f.schedule(f.department(h), platform_share_percent=60)
    with clock.travel(clock.at_local(f.today(), dt.time(23, 0), h.timezone)):
        assert pools_return_due() == 0
    assert pools(clinic)[(Pool.ONSITE, SlotState.FREE)] == 4
