"""A doctor's page in a phone-sized Chromium (390×844), in both languages, reached from a clinic:
the profile, specialties and the coming clinics, audited like every page. Screenshots:
``artifacts/browser/<language>/doctor-*.png``."""

from __future__ import annotations

import re

import pytest

from guahao.catalog.models import Doctor
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_from_a_clinic_to_the_doctors_page_and_back_to_book(chromium, live_server, language):  # noqa: F811
    dep = f.department(f.hospital())
    doctor = f.doctor(dep)
    Doctor.objects.filter(pk=doctor.pk).update(
        name_en="Wang Jianhua",
        specialty="高血压、冠心病、心力衰竭",
        specialty_en="hypertension, coronary heart disease, heart failure",
        intro="从事心血管内科临床工作三十年，擅长复杂冠心病的介入治疗。",
    )
    schedule = f.schedule(dep, doctor)
    shots = ARTIFACTS / language
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(f"{live_server.url}/schedules/{schedule.pk}/")
    page.locator("#doctor-link").click()
    page.wait_for_url(re.compile(rf"/doctors/{doctor.pk}/$"))
    tags = page.locator("#specialties li").all_inner_texts()
    assert tags == (
        ["hypertension", "coronary heart disease", "heart failure"]
        if language == "en"
        else ["高血压", "冠心病", "心力衰竭"]
    )
    assert "三十年" in page.locator("#intro").inner_text()
    page.screenshot(path=str(shots / "doctor-01-profile.png"), full_page=True)
    assert page.evaluate(AUDIT) == []
    page.locator(f'a[href="/schedules/{schedule.pk}/"]').click()
    page.wait_for_url(re.compile(rf"/schedules/{schedule.pk}/$"))
    context.close()
