"""The hospital's search results say what each department and doctor has in the coming days and
list a doctor of two departments once; the doctor's page shows the introduction in the reader's
language and the published ratings; a patient rates the doctor from the registration."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.booking import services as booking
from guahao.booking.models import Rating, Registration
from guahao.catalog.models import Doctor
from guahao.scheduling.models import Session
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def _results(browser: Browser, h, q: str) -> str:  # type: ignore[no-untyped-def]
    html = browser.get(f"/hospitals/{h.pk}/?q={q}")
    return html.split('id="results"')[1].split("</ul>\n</div>")[0]


@pytest.mark.clock("10:00")  # this afternoon's clinic is still ahead
@pytest.mark.parametrize(
    ("language", "today", "later", "full"),
    [("zh-hans", "今日有号", "有号", "约满"), ("en", "Available today", "Slots on", "Fully booked")],
)
def test_results_show_availability_and_a_doctor_of_two_departments_once(language, today, later, full):
    h = f.hospital()
    cardio = f.department(h, "心血管内科")
    heart_failure = f.department(h, "心衰门诊")
    wang = f.doctor(cardio, "王建华")
    wang_too = f.doctor(heart_failure, "王建华")  # the same person, entered once per department
    f.schedule(cardio, wang, day=f.today(), session=Session.PM, start=dt.time(14), end=dt.time(15))
    f.schedule(heart_failure, wang_too, day=f.today() + dt.timedelta(days=3), slots_per_period=1)
    full_clinic = f.schedule(f.department(h, "心理科"), f.doctor(f.department(h, "空科室"), "无关"), slots_per_period=1)
    for slot in full_clinic.slots.all():
        slot.state = "taken"
        slot.save()

    found = _results(Browser(language), h, "王建华")

    assert found.count(f'href="/doctors/{wang.pk}/"') == 1 and f'href="/doctors/{wang_too.pk}/"' not in found
    assert f'href="/departments/{cardio.pk}/?doctor={wang.pk}"' in found
    assert f'href="/departments/{heart_failure.pk}/?doctor={wang_too.pk}"' in found
    cardio_place = found.split(f"?doctor={wang.pk}")[1].split("</li>")[0]
    failure_place = found.split(f"?doctor={wang_too.pk}")[1].split("</li>")[0]
    assert today in cardio_place and 'data-status="available"' in cardio_place
    assert later in failure_place and (f.today() + dt.timedelta(days=3)).strftime("%m-%d") in failure_place
    departments = _results(Browser(language), h, "心理")
    assert full in departments and 'data-status="full"' in departments
    assert 'data-status="none"' in _results(Browser(language), h, "空科室")


def test_namesakes_the_his_tells_apart_are_two_results_and_one_doctor_under_one_code_is_one():
    h = f.hospital()
    cardio, failure, skin = (f.department(h, name) for name in ("心血管内科", "心衰门诊", "皮肤科"))
    wang, wang_too, namesake = f.doctor(cardio, "王伟"), f.doctor(failure, "王伟"), f.doctor(skin, "王伟")
    for doctor, code in ((wang, "D1001"), (wang_too, "D1001"), (namesake, "D2417")):
        Doctor.objects.filter(pk=doctor.pk).update(his_code=code)
    for doctor in (wang, wang_too, namesake):
        f.schedule(doctor.department, doctor)

    found = _results(Browser(), h, "王伟")

    assert f'href="/doctors/{wang.pk}/"' in found and f'href="/doctors/{wang_too.pk}/"' not in found
    assert f'href="/doctors/{namesake.pk}/"' in found  # the dermatologist is another person
    assert f"?doctor={wang_too.pk}" in found.split(f'href="/doctors/{namesake.pk}/"')[0]


@pytest.mark.clock("10:00")  # this afternoon's clinic is still ahead
def test_the_api_search_says_what_each_result_has_in_the_coming_days(api):
    h = f.hospital(days_ahead=7)
    cardio, failure = f.department(h, "心血管内科"), f.department(h, "心衰门诊")
    wang, wang_too = f.doctor(cardio, "王建华"), f.doctor(failure, "王建华")
    f.schedule(cardio, wang, day=f.today(), session=Session.PM, start=dt.time(14), end=dt.time(15))
    full = f.schedule(failure, wang_too, day=f.today() + dt.timedelta(days=3), slots_per_period=1)
    full.slots.update(state="taken")
    f.schedule(failure, f.doctor(failure, "赵立新"), day=f.today() + dt.timedelta(days=12))  # opens later
    f.department(h, "心理科")  # no clinic

    status, found = api.call("GET", f"/search?q=心&hospital={h.pk}")

    assert status == 200
    departments = {d["name"]: d["next"] for d in found["departments"]}
    assert departments["心血管内科"] == {"status": "available", "date": f.today().isoformat(), "available": 10}
    assert departments["心衰门诊"] == {
        "status": "not_released",
        "date": (f.today() + dt.timedelta(days=12)).isoformat(),
        "available": 0,
    }
    assert departments["心理科"] == {"status": "none", "date": None, "available": 0}
    doctors = {d["id"]: d["next"] for d in api.call("GET", f"/search?q=王建华&hospital={h.pk}")[1]["doctors"]}
    assert doctors[str(wang.pk)]["status"] == "available"
    assert doctors[str(wang_too.pk)] == {
        "status": "full",
        "date": (f.today() + dt.timedelta(days=3)).isoformat(),
        "available": 0,
    }


def test_the_api_search_lists_each_doctor_row_once(api):
    h = f.hospital()
    dep = f.department(h)
    wang = f.doctor(dep, "王建华")
    Doctor.objects.filter(pk=wang.pk).update(specialty="王氏针法")  # matched by name and by specialty

    _, found = api.call("GET", f"/search?q=王&hospital={h.pk}")

    assert [d["id"] for d in found["doctors"]] == [str(wang.pk)]


@pytest.mark.parametrize(("language", "intro"), [("zh-hans", "从事心血管内科临床工作三十年。"), ("en", "Thirty years")])
def test_the_doctors_introduction_in_the_readers_language_and_chinese_when_there_is_no_english(language, intro):
    dep = f.department(f.hospital())
    doctor, plain = f.doctor(dep), f.doctor(dep, "赵立新")
    Doctor.objects.filter(pk=doctor.pk).update(
        intro="从事心血管内科临床工作三十年。", intro_en="Thirty years in cardiology."
    )
    Doctor.objects.filter(pk=plain.pk).update(intro="擅长心律失常。")
    browser = Browser(language)

    assert intro in browser.get(f"/doctors/{doctor.pk}/").split('id="intro"')[1]
    assert "擅长心律失常。" in browser.get(f"/doctors/{plain.pk}/").split('id="intro"')[1]


def _visited(browser: Browser, dep, doctor) -> Registration:  # type: ignore[no-untyped-def]
    clinic = f.schedule(dep, doctor, day=f.today(), session=Session.PM, start=dt.time(14), end=dt.time(15))
    app = f.Api().login(browser.phone)
    _, hold = app.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": app.add_patient(name="张伟")})
    _, booked = app.call("POST", f"/holds/{hold['id']}/confirm", {})
    registration = Registration.objects.get(pk=booked["id"])
    booking.registration_check_in(registration=registration, actor=booking.SYSTEM)
    return registration


@pytest.mark.clock("10:00")  # the patient books this afternoon's clinic and is checked in
@pytest.mark.parametrize(
    ("language", "pending", "none_yet", "count"),
    [
        ("zh-hans", "审核", "暂无评价", "1 条就诊后评价"),
        ("en", "reviews each rating", "No ratings yet", "1 rating after a visit"),
    ],
)
def test_a_patient_rates_from_the_registration_and_the_published_rating_shows(language, pending, none_yet, count):
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    browser = Browser(language).login()
    registration = _visited(browser, dep, doctor)
    page = browser.get(f"/registrations/{registration.pk}/")
    assert 'id="rate"' in page and 'name="score"' in page

    refused = browser.post(f"/registrations/{registration.pk}/rate", {"comment": "很好"}, status=422)
    assert 'id="problem"' in refused and "很好" in refused  # the comment is kept
    page = browser.post(f"/registrations/{registration.pk}/rate", {"score": "5", "comment": "很耐心"})

    assert pending in page.split('id="my-rating"')[1] and 'id="rate"' not in page
    assert none_yet in browser.get(f"/doctors/{doctor.pk}/")
    booking.rating_review(rating=Rating.objects.get(), actor=booking.SYSTEM, publish=True)
    shown = browser.get(f"/doctors/{doctor.pk}/").split('id="ratings"')[1]
    assert count in shown and "张*" in shown and "很耐心" in shown and "张伟" not in shown
    assert "5.0" in shown and "★★★★★" in shown
