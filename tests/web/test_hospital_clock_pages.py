"""Every patient page tells a clinic's times on its hospital's clock, and the patient finds the
slots held for them (not yet confirmed or paid) on their registrations page."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from guahao.accounts import kiosks, phones
from guahao.accounts.models import Account
from guahao.booking.models import Hold, Registration
from guahao.core import clock
from guahao.notifications import services as notifications
from tests import factories as f
from tests.web.test_kiosk_pages import opened, page
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db

URUMQI = "Asia/Urumqi"  # UTC+6: Beijing's clock reads two hours later


@pytest.fixture
def two_clocks():
    """A hospital on Urumqi's clock and one on Beijing's, each with a clinic at 08:00 tomorrow."""
    west = f.hospital(timezone=URUMQI)
    west_dep = f.department(west)
    east = f.hospital()
    east_dep = f.department(east)
    return {
        "west": f.schedule(west_dep, f.doctor(west_dep)),
        "east": f.schedule(east_dep, f.doctor(east_dep)),
    }


def _hold(browser: Browser, schedule_id: int, patient_id: int) -> tuple[str, Hold]:
    html = browser.post(f"/schedules/{schedule_id}/hold", {"patient_id": patient_id, "notice": "read"})
    return html, Hold.objects.get(schedule_id=schedule_id)


def test_a_clinic_at_eight_on_its_hospitals_clock_reads_eight_on_every_page(two_clocks):
    west = two_clocks["west"]
    starts = west.periods.order_by("starts_at").first().starts_at
    assert starts.astimezone(ZoneInfo(URUMQI)).time() == dt.time(8, 0)  # 10:00 in Beijing
    browser = Browser().login()
    patient = browser.add_self()

    assert "08:00–08:30" in browser.get(f"/schedules/{west.pk}/")
    assert re.search(r"08:00\s*–\s*09:00", browser.get(f"/departments/{west.department_id}/"))

    held_page, held = _hold(browser, west.pk, patient.pk)
    until = held.expires_at.astimezone(ZoneInfo(URUMQI))
    assert "08:00–08:30" in held_page and f"请在 {until:%H:%M:%S} 前确认" in held_page

    listed = browser.get("/registrations/")
    row = re.search(rf'<a class="row" id="held-{held.pk}" href="/holds/{held.pk}/">(.*?)</a>', listed, re.S)
    assert row, listed
    assert "08:00" in row.group(1) and f"保留至 {until:%H:%M}" in row.group(1) and "待确认" in row.group(1)

    booked = browser.post(f"/holds/{held.pk}/confirm", {})
    registration = Registration.objects.get(hold=held)
    assert "08:00–08:30" in booked and "10:00" not in booked
    listed = browser.get("/registrations/")
    assert 'id="held"' not in listed  # booked: no longer waiting to be confirmed
    row = re.search(rf'href="/registrations/{registration.pk}/"><span>\s*<b>([^<]+)</b>', listed)
    assert row and row.group(1).endswith("08:00")


def test_visits_at_two_hospitals_each_read_on_their_own_clock(two_clocks):
    browser = Browser().login()
    patient = browser.add_self()
    for schedule in two_clocks.values():
        _, held = _hold(browser, schedule.pk, patient.pk)
        browser.post(f"/holds/{held.pk}/confirm", {})
    listed = browser.get("/registrations/")
    times = re.findall(r'href="/registrations/\d+/"><span>\s*<b>[^<]* (\d\d:\d\d)</b>', listed)
    assert times == ["08:00", "08:00"]


def test_a_message_from_a_hospital_tells_when_it_was_sent_on_that_hospitals_clock(two_clocks):
    browser = Browser().login()
    account = Account.objects.get(phones.matching(browser.phone))
    for name, schedule in two_clocks.items():
        notifications.notice(
            account_id=account.pk,
            kind=notifications.CANCELLED_BY_HOSPITAL,
            key=name,
            hospital_id=schedule.hospital_id,
            facts={"hospital": schedule.hospital.name, "registration_number": name},
        )
    now = clock.now()
    html = browser.get("/messages/")
    sent = re.findall(r'<small class="muted">([^<]+)</small>', html)
    # the newest first: Beijing's, then Urumqi's (two hours earlier)
    assert sent == [f"{now.astimezone(ZoneInfo(z)):%Y-%m-%d %H:%M}" for z in ("Asia/Shanghai", URUMQI)], sent


def test_the_registrations_page_lists_the_slots_held_for_the_patient_until_they_run_out(two_clocks):
    browser = Browser().login()
    patient = browser.add_self()
    _, held = _hold(browser, two_clocks["east"].pk, patient.pk)
    listed = browser.get("/registrations/")
    assert f'id="held-{held.pk}"' in listed and "为您保留的号源" in listed
    # The hold's own page is one tap away, with the countdown.
    assert "保留时间还剩" in browser.get(f"/holds/{held.pk}/")

    english = Browser(language="en")
    english.client.cookies.update(browser.client.cookies)
    assert "Held for you" in english.get("/registrations/")

    clock.advance(held.expires_at - clock.now() + dt.timedelta(seconds=1))
    assert f'id="held-{held.pk}"' not in browser.get("/registrations/")


@pytest.mark.clock("12:00")  # 10:00 in Urumqi: the afternoon clinic is still ahead
def test_a_kiosk_shows_its_hospitals_clock():
    west = f.hospital(timezone=URUMQI, payment_required=False)
    dep = f.department(west)
    afternoon = f.schedule(
        dep,
        f.doctor(dep),
        day=clock.local_today(URUMQI),
        session="pm",
        start=dt.time(14),
        end=dt.time(15),
        platform_share_percent=50,
    )
    _, token = kiosks.kiosk_device_create(hospital=west, name="门诊大厅 1号机", by="admin")
    kiosk = opened(token)
    page(kiosk.post("/kiosk/identify", {"id_number": f.id_number("19560312")}))
    kiosk.post("/kiosk/register", {"name": "李秀英", "phone": f.phone(), "consent": "2026-12"})
    clinics = page(kiosk.get(f"/kiosk/book/{dep.pk}"))
    assert f'id="hold-{afternoon.pk}"' in clinics and "14:00–15:00" in clinics and "16:00" not in clinics
    held = kiosk.post(f"/kiosk/book/clinic/{afternoon.pk}")
    assert "14:00–" in page(kiosk.get(held["Location"]))
