"""A patient who was seen rates the doctor from the registration in a phone-sized Chromium
(390×844), the hospital's operator publishes the rating in the console, and the doctor's page shows
it, masked, in Chinese and in English. Screenshots: ``artifacts/browser/<language>/rating-*.png``
and ``artifacts/browser/console/ratings.png``."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from guahao.booking import services as booking
from guahao.booking.models import Rating, Registration
from guahao.catalog.models import Department, Doctor
from guahao.scheduling.models import Session
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, LABELS, chromium, console_page, phone_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_seen_patient_rates_staff_publish_and_the_doctors_page_shows_it(chromium, live_server):  # noqa: F811
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    Doctor.objects.filter(pk=doctor.pk).update(
        name_en="Wang Jianhua", intro="从事心血管内科临床工作三十年。", intro_en="Thirty years in cardiology."
    )
    heart_failure = f.department(h, "心衰门诊")
    Department.objects.filter(pk=heart_failure.pk).update(name_en="Heart failure clinic")
    also = f.doctor(heart_failure, "王建华")  # the same doctor, in a second department
    f.schedule(also.department, also, day=f.today() + dt.timedelta(days=3))
    f.staff_member("renhe-desk", "operator", h)
    phone = f.phone()
    app = f.Api().login(phone)
    clinic = f.schedule(dep, doctor, day=f.today(), session=Session.PM, start=dt.time(14), end=dt.time(15))
    _, hold = app.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": app.add_patient(name="张伟")})
    _, booked = app.call("POST", f"/holds/{hold['id']}/confirm", {})
    registration = Registration.objects.get(pk=booked["id"])
    booking.registration_check_in(registration=registration, actor=booking.SYSTEM)
    text = LABELS["zh-hans"]

    # the patient, in Chinese, rates the doctor from the registration
    context, page, shot = phone_page(chromium, "zh-hans", "rating-", ours=live_server.url)
    page.goto(f"{live_server.url}/login/?next=/registrations/{registration.pk}/")
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    page.locator("#f-code").fill(re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0))
    page.get_by_role("button", name=text["log_in"], exact=True).click()
    page.wait_for_url(re.compile(rf"/registrations/{registration.pk}/$"))
    page.get_by_label("非常满意").check()
    page.get_by_label("评语（选填）").fill("医生很耐心，讲解清楚。")
    shot("form")
    page.get_by_role("button", name="提交评价").click()
    assert "审核" in page.locator("#my-rating").inner_text()
    shot("pending")
    context.close()

    # the hospital's operator publishes it in the console
    desk, console = console_page(chromium, live_server.url, "renhe-desk")
    console.goto(f"{live_server.url}/console/booking/rating/?status__exact=pending")
    rating = Rating.objects.get()
    console.check(f"input[name=_selected_action][value='{rating.pk}']")
    console.select_option("select[name=action]", "publish")
    console.click("button[name=index]")
    console.wait_for_load_state()
    (ARTIFACTS / "console").mkdir(parents=True, exist_ok=True)
    console.screenshot(path=str(ARTIFACTS / "console" / "ratings.png"), full_page=True)
    rating.refresh_from_db()
    assert (rating.status, rating.decided_by) == ("published", "renhe-desk")
    desk.close()

    # found once in search (two departments, each with what it has), then the doctor's page
    for language, count, intro in (
        ("zh-hans", "1 条就诊后评价", "三十年"),
        ("en", "1 rating after a visit", "Thirty years"),
    ):
        context, page, shot = phone_page(chromium, language, "rating-doctor-", ours=live_server.url)
        page.goto(f"{live_server.url}/")
        if language == "en":
            page.get_by_role("button", name="English").click()
        page.goto(f"{live_server.url}/hospitals/{h.pk}/?q=王建华")
        assert page.locator(".found-doctor").count() == 1
        assert page.locator(".found-doctor .places li").count() == 2
        shot("search")
        page.locator(f'.found-doctor > a[href="/doctors/{doctor.pk}/"]').click()
        page.wait_for_url(re.compile(rf"/doctors/{doctor.pk}/$"))
        assert intro in page.locator("#intro").inner_text()
        assert count in page.locator("#rating-summary").inner_text()
        shown = page.locator("#rating-list").inner_text()
        assert "张*" in shown and "医生很耐心，讲解清楚。" in shown and "张伟" not in shown
        shot("ratings")
        context.close()
