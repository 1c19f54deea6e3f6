"""Patients rate the doctor after a visit: one rating per registration, only once they were seen,
published or rejected by the staff of that hospital (audited), then shown on the doctor's page
and in the API with the patient's name masked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from guahao.booking import selectors
from guahao.booking import services as booking
from guahao.booking.models import Rating, Registration
from guahao.core.models import AuditEntry
from guahao.scheduling.models import Schedule, Session
from tests import factories as f

# The visits rated are this afternoon's: it is 10:00.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]


def _registration(dep, doctor, *, seen: bool = True, name: str = "张伟") -> tuple[f.Api, Registration]:
    """A registration at this afternoon's clinic, checked in and seen by the doctor (or not yet)."""
    clinic = Schedule.objects.filter(department=dep, doctor=doctor, date=f.today()).first() or f.schedule(
        dep, doctor, day=f.today(), session=Session.PM, start=dt.time(14), end=dt.time(15)
    )
    app = f.Api().login()
    _, hold = app.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": app.add_patient(name=name)})
    status, booked = app.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, booked
    registration = Registration.objects.get(pk=booked["id"])
    if seen:
        registration = booking.registration_check_in(registration=registration, actor=booking.SYSTEM)
        registration = booking.registration_mark_visited(registration=registration, actor=booking.SYSTEM)
    return app, registration


@pytest.fixture
def clinic():
    h = f.hospital()
    dep = f.department(h)
    return h, dep, f.doctor(dep)


def _staff(username: str, role: str, h) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(f.staff_member(username, role, h))
    return client


def _act(client: Client, action: str, *ratings: Rating) -> str:
    response = client.post(
        "/console/booking/rating/", {"action": action, "_selected_action": [r.pk for r in ratings]}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


def test_a_visited_patient_rates_staff_publish_and_the_doctor_shows_it_masked(clinic):
    h, dep, doctor = clinic
    app, registration = _registration(dep, doctor, name="张伟")
    _, listed = app.call("GET", "/registrations")
    assert [(r["rateable"], r["rating"]) for r in listed] == [(True, None)]

    status, rated = app.call(
        "POST", f"/registrations/{registration.pk}/rating", {"score": 4, "comment": "耐心细致，解释清楚"}
    )

    assert status == 201, rated
    assert rated["status"] == "pending" and rated["score"] == 4 and rated["doctor_id"] == str(doctor.pk)
    _, mine = app.call("GET", f"/registrations/{registration.pk}")
    assert mine["rateable"] is False and mine["rating"] == rated
    status, shown = app.call("GET", f"/doctors/{doctor.pk}")
    assert status == 200
    assert (shown["rating_count"], shown["rating_average"], shown["recent_ratings"]) == (0, None, [])

    body = _act(_staff("renhe-op", "operator", h), "publish", Rating.objects.get())

    rating = Rating.objects.get()
    assert (rating.status, rating.decided_by) == ("published", "renhe-op")
    assert "errorlist" not in body
    audit = AuditEntry.objects.get(action="rating.published")
    assert (audit.actor, audit.hospital_id, audit.target) == ("renhe-op", h.pk, registration.registration_number)
    assert audit.before == {"status": "pending"} and audit.after == {"status": "published", "score": 4}
    status, shown = app.call("GET", f"/doctors/{doctor.pk}")
    assert (shown["rating_count"], shown["rating_average"]) == (1, 4.0)
    assert [(r["patient"], r["score"], r["comment"]) for r in shown["recent_ratings"]] == [
        ("张*", 4, "耐心细致，解释清楚")
    ]
    # When it was rated reads on the hospital's clock, as every time of the visit does.
    assert rated["rated_at"].endswith("+08:00") and shown["recent_ratings"][0]["rated_at"] == rated["rated_at"]
    _, found = app.call("GET", f"/search?q=王&hospital={h.pk}")
    assert [(d["id"], d["rating_average"], d["rating_count"]) for d in found["doctors"]] == [(str(doctor.pk), 4.0, 1)]


def test_a_registration_not_yet_seen_cannot_be_rated_and_nothing_is_kept(clinic):
    _, dep, doctor = clinic
    app, registration = _registration(dep, doctor, seen=False)

    status, problem = app.call("POST", f"/registrations/{registration.pk}/rating", {"score": 5})

    assert status == 409 and problem["code"] == "rating.not_visited"
    assert app.call("GET", f"/registrations/{registration.pk}")[1]["rateable"] is False
    assert Rating.objects.count() == 0


def test_checked_in_is_enough_and_one_registration_is_rated_once(clinic):
    _, dep, doctor = clinic
    app, registration = _registration(dep, doctor, seen=False)
    booking.registration_check_in(registration=registration, actor=booking.SYSTEM)
    assert app.call("POST", f"/registrations/{registration.pk}/rating", {"score": 5})[0] == 201

    status, problem = app.call("POST", f"/registrations/{registration.pk}/rating", {"score": 1, "comment": "改"})

    assert status == 409 and problem["code"] == "rating.exists"
    assert list(Rating.objects.values_list("score", "comment")) == [(5, "")]


def test_the_database_keeps_one_rating_per_registration(clinic):
    _, dep, doctor = clinic
    _, registration = _registration(dep, doctor)
    booking.rating_create(registration=registration, score=3)
    fields = {
        "registration": registration,
        "hospital_id": registration.hospital_id,
        "doctor": doctor,
        "account_id": registration.account_id,
        "patient_id": registration.patient_id,
        "created_at": registration.booked_at,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(score=4, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():  # and scores from 1 to 5
        Rating.objects.filter(registration=registration).update(score=6)


def test_refusals_name_their_rule_in_the_readers_language(clinic):
    _, dep, doctor = clinic
    app, registration = _registration(dep, doctor)
    stranger = f.Api(language="en").login()

    assert stranger.call("POST", f"/registrations/{registration.pk}/rating", {"score": 5})[0] == 404
    status, problem = app.call("POST", f"/registrations/{registration.pk}/rating", {"score": 6})
    assert status == 422
    general_app, general_registration = _registration(dep, None)
    general_app.language = "en"
    status, problem = general_app.call("POST", f"/registrations/{general_registration.pk}/rating", {"score": 5})
    assert (status, problem["code"]) == (409, "rating.no_doctor")
    assert "general clinic" in problem["title"]
    assert Rating.objects.count() == 0


def test_rejected_ratings_are_never_shown_and_a_rating_is_reviewed_once(clinic):
    h, dep, doctor = clinic
    _, first = _registration(dep, doctor, name="李秀英")
    _, second = _registration(dep, doctor, name="欧阳娜娜")
    good = booking.rating_create(registration=first, score=5, comment="很好")
    rude = booking.rating_create(registration=second, score=1, comment="广告内容")
    admin = _staff("renhe-admin", "hospital_admin", h)

    _act(admin, "publish", good)
    _act(admin, "reject", rude)
    body = _act(admin, "publish", Rating.objects.get(pk=rude.pk))

    assert "已审核" in body or "already been reviewed" in body
    assert dict(Rating.objects.values_list("pk", "status")) == {good.pk: "published", rude.pk: "rejected"}
    summary = selectors.doctor_ratings(doctor_id=doctor.pk)
    assert (summary.average, summary.count, [r.patient for r in summary.recent]) == (5.0, 1, ["李**"])
    assert selectors.masked_name("欧阳娜娜") == "欧***"
    assert AuditEntry.objects.filter(action__startswith="rating.").count() == 2


def test_staff_review_only_their_hospitals_ratings_and_a_viewer_cannot(clinic):
    h, dep, doctor = clinic
    _, registration = _registration(dep, doctor)
    rating = booking.rating_create(registration=registration, score=4)
    other = f.hospital()

    _act(_staff("theirs-op", "operator", other), "publish", rating)
    _act(_staff("renhe-viewer", "viewer", h), "publish", rating)

    assert Rating.objects.get().status == "pending"
    assert AuditEntry.objects.filter(action__startswith="rating.").count() == 0
