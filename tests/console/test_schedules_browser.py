"""A hospital without a HIS runs its week in Chromium: a desk creates a weekly template,
previews and publishes two weeks, adds 2 extra slots to a full clinic, and a patient sees them
bookable in the patient app. Screenshots go to ``artifacts/browser/schedules/``."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.scheduling.models import Schedule, ScheduleEvent
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, chromium, console_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_template_to_two_published_weeks_to_extra_slots_a_patient_can_book(chromium, live_server):  # noqa: F811
    h = f.hospital()
    dep = f.department(h, "全科")
    doctor = f.doctor(dep, "周晓梅")
    f.staff_member("kangning-desk", "operator", h)
    tomorrow = f.today() + dt.timedelta(days=1)
    shots = ARTIFACTS / "schedules"
    shots.mkdir(parents=True, exist_ok=True)
    context, page = console_page(chromium, live_server.url, "kangning-desk", locale="en-US")

    # a weekly template: tomorrow's weekday, 08:00-08:30, two numbers, all online
    page.goto(f"{live_server.url}/console/scheduling/scheduletemplate/add/")
    page.select_option("select[name=hospital]", str(h.pk))
    page.select_option("select[name=department]", str(dep.pk))
    page.select_option("select[name=doctor]", str(doctor.pk))
    page.select_option("select[name=weekday]", str(tomorrow.weekday()))
    page.select_option("select[name=session]", "am")
    page.fill("input[name=start]", "08:00")
    page.fill("input[name=end]", "08:30")
    page.fill("input[name=slots_per_period]", "2")
    page.fill("input[name=platform_share_percent]", "100")
    page.fill("input[name=location]", "门诊一楼 全科诊室")
    page.fill("input[name=valid_from]", f.today().isoformat())
    page.screenshot(path=str(shots / "01-template.png"), full_page=True)
    page.click("button[name=_save]")
    page.wait_for_load_state()
    assert page.url.endswith("/console/scheduling/scheduletemplate/"), page.url

    # preview two weeks, then publish them
    page.click("#generate-link")
    page.fill("input[name=start]", f.today().isoformat())
    page.fill("input[name=weeks]", "2")
    page.click("button[name=preview]")
    page.wait_for_load_state()
    assert page.locator('#generation tr[data-outcome="create"]').count() == 2
    assert Schedule.objects.count() == 0
    page.screenshot(path=str(shots / "02-preview.png"), full_page=True)
    page.click("button[name=publish]")
    page.wait_for_load_state()
    assert page.locator('#generation tr[data-outcome="create"]').count() == 2
    assert sorted(Schedule.objects.values_list("date", flat=True)) == [tomorrow, tomorrow + dt.timedelta(days=7)]
    page.screenshot(path=str(shots / "03-published.png"), full_page=True)

    # tomorrow's clinic fills up
    clinic = Schedule.objects.get(date=tomorrow)
    for _ in range(2):
        patient = f.Api().login()
        status, _held = patient.call(
            "POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()}
        )
        assert status == 201
    late = f.Api().login()
    late_patient = late.add_patient()
    status, refused = late.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": late_patient})
    assert (status, refused["code"]) == (409, "slot.unavailable")

    # two extra slots through the clinic's action
    page.goto(f"{live_server.url}/console/scheduling/schedule/?date={tomorrow.isoformat()}")
    page.check(f"input[name=_selected_action][value='{clinic.pk}']")
    page.select_option("select[name=action]", "add_extra_slots")
    page.click("button[title='Run the selected action']")
    page.wait_for_load_state()
    page.fill("input[name=count]", "2")
    page.fill("input[name=reason]", "复诊患者加号")
    page.screenshot(path=str(shots / "04-extra-slots.png"), full_page=True)
    page.click("button[name=apply]")
    page.wait_for_load_state()
    assert ScheduleEvent.objects.get(schedule=clinic, kind="extra_slots_added").reason == "复诊患者加号"
    assert "2 / 4" in page.locator("#result_list").inner_text()  # taken / numbers

    # the patient app offers them at once
    visitor = chromium.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    phone = visitor.new_page()
    phone.goto(f"{live_server.url}/schedules/{clinic.pk}/")
    phone.screenshot(path=str(shots / "05-patient-app.png"), full_page=True)
    assert "剩余 2" in phone.locator("dl.facts").inner_text()  # the patient app speaks Chinese by default
    assert phone.get_by_role("link", name="登录后预约").count() == 1
    status, held = late.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": late_patient})
    assert (status, held["slot_number"]) == (201, 3)
    visitor.close()
    context.close()
