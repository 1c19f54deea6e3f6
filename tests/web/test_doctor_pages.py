"""A doctor's page: title, department, specialties, introduction, and the clinics of the next
14 days with what is left, each leading to its clinic."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.catalog.models import Doctor
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "title", "left"), [("zh-hans", "主任医师", "剩余 10"), ("en", "Chief physician", "10 left")]
)
def test_a_doctors_page_shows_the_profile_and_the_coming_clinics(language, title, left):
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    Doctor.objects.filter(pk=doctor.pk).update(
        specialty="高血压、冠心病",
        specialty_en="hypertension, coronary disease",
        intro="从事心血管内科临床工作三十年。",
    )
    soon = f.schedule(dep, doctor)
    f.schedule(dep, f.doctor(dep, name="赵立新"), day=f.today() + dt.timedelta(days=2))  # another doctor's
    browser = Browser(language)
    html = browser.get(f"/doctors/{doctor.pk}/")
    assert title in html and "从事心血管内科临床工作三十年。" in html
    specialties = html.split('id="specialties"')[1].split("</ul>")[0]
    if language == "en":
        assert "<li>hypertension</li><li>coronary disease</li>" in specialties
    else:
        assert "<li>高血压</li><li>冠心病</li>" in specialties
    clinics = html.split('id="clinics"')[1]
    assert f'href="/schedules/{soon.pk}/"' in clinics and left in clinics and "赵立新" not in clinics
    assert f'href="/doctors/{doctor.pk}/"' in browser.get(f"/schedules/{soon.pk}/")


def test_an_unknown_or_inactive_doctor_is_not_found():
    dep = f.department(f.hospital())
    doctor = f.doctor(dep)
    Doctor.objects.filter(pk=doctor.pk).update(is_active=False)
    Browser().get(f"/doctors/{doctor.pk}/", status=404)
