"""No staff member of one hospital sees or changes another hospital's rows, on any console page
or staff API endpoint. The pages and endpoints are found at run time: a model registered in the
console, or a staff endpoint added, without scoping fails here."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.db import models
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from guahao.accounts import idcard, kiosks
from guahao.accounts.models import Account, KioskDevice, Patient, StaffEvent, StaffLockout, StaffRole
from guahao.accounts.services import staff_token_create
from guahao.api.auth import StaffBearer
from guahao.booking.models import (
    BlacklistEntry,
    BookingEvent,
    Hold,
    Rating,
    Registration,
    ReliefGrant,
    RiskDecision,
)
from guahao.catalog.models import Department, Doctor, Hospital
from guahao.core import clock
from guahao.core.models import AuditEntry
from guahao.his.models import HisCall, HisConnection, HisEvent
from guahao.notifications.models import HospitalChannels, Message, MessageTemplate
from guahao.payments.models import FailedRefund, Payment, ReconciliationDifference, ReconciliationRun, Refund
from guahao.scheduling.models import CalendarDay, RuleSet, Schedule, ScheduleEvent, ScheduleTemplate
from guahao.waitlist.models import WaitlistDraw, WaitlistEntry, WaitlistEvent
from tests import factories as f

HOSPITAL_ROLES = ["hospital_admin", "operator", "finance", "viewer", "window_clerk", "call_centre"]
THEIRS = "乙方医院"  # the other hospital's name: it must appear on no page of ours


def _theirs() -> dict[type, models.Model]:
    """One row of every kind at the other hospital, as its patients and staff would leave them."""
    h = f.hospital()
    Hospital.objects.filter(pk=h.pk).update(name=THEIRS)
    h.refresh_from_db()
    dep = f.department(h, "乙方内科")
    doctor = f.doctor(dep, "乙方医生")
    clinic = f.schedule(dep, doctor)
    patient_api = f.Api().login()
    patient_id = patient_api.add_patient(name="乙方患者")
    _, hold = patient_api.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient_id})
    _, booked = patient_api.call("POST", f"/holds/{hold['id']}/confirm", {})
    registration = Registration.objects.get(pk=booked["id"])
    held = f.Api().login()
    _, open_hold = held.call(
        "POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": held.add_patient(name="乙方等候")}
    )
    now = clock.now()
    patient = Patient.objects.get(pk=patient_id)
    payment = f.paid(registration, fen=1000, number="THEIRS0001", account=patient.account, hospital=h)
    refund = Refund.objects.create(
        payment=payment,
        out_refund_no="THEIRSR001",
        amount_fen=1000,
        reason="cancelled",
        status="failed",
        created_at=now,
    )
    run = ReconciliationRun.objects.create(provider="sandbox", day=f.today(), status="differences", ran_at=now)
    difference = ReconciliationDifference.objects.create(
        run=run, kind="missing_theirs", entry="payment", out_trade_no="THEIRS0001", hospital=h, payment=payment
    )
    his_connection = HisConnection.objects.create(hospital=h, mode="synced", hospital_code="theirs")
    his_call = HisCall.objects.create(
        hospital=h, kind="register", ref="THEIRS-REF", registration=registration, next_at=now, created_at=now
    )
    his_event = HisEvent.objects.create(hospital=h, event_id="THEIRS-EV", type="slot.cancelled", received_at=now)
    bar = BlacklistEntry.objects.create(
        hospital=h,
        person_hash=patient.id_number_hash,
        patient=patient,
        reason="no_show",
        count=2,
        starts_at=now,
        ends_at=now + dt.timedelta(days=90),
    )
    their_staff = f.staff_member("theirs-desk", "operator", h)
    event = StaffEvent.objects.create(at=now, kind="login", actor="theirs-desk", target="theirs-desk", hospital=h)
    template = ScheduleTemplate.objects.create(
        hospital=h,
        department=dep,
        doctor=doctor,
        weekday=0,
        session="am",
        start=dt.time(8, 0),
        end=dt.time(9, 0),
        valid_from=f.today(),
        location="乙方诊室",
    )
    holiday = CalendarDay.objects.create(hospital=h, date=f.today(), name="乙方院庆")
    schedule_event = ScheduleEvent.objects.create(
        schedule=clinic, at=now, kind="extra_slots_added", actor="theirs-desk"
    )
    entry = WaitlistEntry.objects.create(
        schedule=clinic,
        hospital=h,
        department=dep,
        account=patient.account,
        patient=patient,
        person_hash=patient.id_number_hash,
        mode="book",
        joined_at=now,
    )
    draw = WaitlistDraw.objects.create(schedule=clinic, at=now, seed="42", candidates=[entry.pk], chosen=entry)
    waitlist_event = WaitlistEvent.objects.create(entry=entry, kind="joined", to_status="waiting", actor="x", at=now)
    suspected = RiskDecision.objects.create(
        at=now,
        hospital=h,
        schedule=clinic,
        account=patient.account,
        asked="hold",
        reasons=["client"],
        action="refused",
        client=THEIRS,
    )
    attempt = AccessAttempt.objects.create(
        username="theirs-desk", ip_address="10.9.9.9", user_agent="x", get_data="", post_data="", failures_since_start=2
    )
    message = Message.objects.create(
        account=patient.account,
        hospital=h,
        kind="registration.booked",
        channel="sms",
        data={"hospital": THEIRS, "registration_number": registration.registration_number},
        registration=registration,
        dedup_key="theirs",
        status="failed",
        created_at=now,
    )
    wording = MessageTemplate.objects.create(
        hospital=h, kind="registration.booked", language="zh-hans", title="乙方预约成功", body="{hospital}"
    )
    senders = HospitalChannels.objects.create(hospital=h, sms_sign_name=THEIRS)
    audit = AuditEntry.objects.create(
        at=now,
        actor="theirs-desk",
        hospital_id=h.pk,
        action="registration.no_show",
        target_type="registration",
        target_id=str(registration.pk),
        target=registration.registration_number,
        reason="乙方患者未到",
    )
    return {
        Message: message,
        MessageTemplate: wording,
        HospitalChannels: senders,
        AuditEntry: audit,
        Hospital: h,
        Department: dep,
        Doctor: doctor,
        Schedule: clinic,
        RuleSet: RuleSet.objects.get(hospital=h),
        Registration: registration,
        Hold: Hold.objects.get(pk=open_hold["id"]),
        BookingEvent: BookingEvent.objects.filter(registration=registration).first(),
        BlacklistEntry: bar,
        Patient: patient,
        Account: patient.account,
        Payment: payment,
        Refund: refund,
        FailedRefund: FailedRefund.objects.get(pk=refund.pk),
        ReconciliationRun: run,
        ReconciliationDifference: difference,
        HisConnection: his_connection,
        HisCall: his_call,
        HisEvent: his_event,
        type(their_staff): their_staff,
        StaffEvent: event,
        StaffRole: StaffRole.objects.get(name="operator"),
        StaffLockout: StaffLockout.objects.get(pk=attempt.pk),
        ScheduleTemplate: template,
        CalendarDay: holiday,
        ScheduleEvent: schedule_event,
        WaitlistEntry: entry,
        WaitlistDraw: draw,
        WaitlistEvent: waitlist_event,
        RiskDecision: suspected,
        ReliefGrant: ReliefGrant.objects.create(
            hospital=h,
            schedule=clinic,
            patient=patient,
            reason="乙方急诊",
            requested_by="their-desk",
            requested_at=now,
        ),
        Rating: Rating.objects.create(
            registration=registration,
            hospital=h,
            doctor=doctor,
            account=patient.account,
            patient=patient,
            score=2,
            comment="乙方评价",
            created_at=now,
        ),
        KioskDevice: kiosks.kiosk_device_create(hospital=h, name=f"{THEIRS}自助机", by="theirs-admin")[0],
    }


def _snapshot(rows: dict[type, models.Model]) -> dict[str, Any]:
    """The other hospital's rows and how many rows of each kind there are (our own staff's
    logins are recorded as they happen, so the access log counts only the other hospital's)."""
    seen: dict[str, Any] = {}
    for model, row in rows.items():
        fresh = model._default_manager.filter(pk=row.pk).first()
        seen[model._meta.label] = model_to_dict(fresh) if fresh is not None else None
        counted = model._default_manager.all()
        if model is StaffEvent:
            counted = counted.filter(hospital=rows[Hospital])
        seen[model._meta.label + " rows"] = counted.count()
    return seen


def _url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _try_every_page(console: Client, model: type, row: models.Model, markers: list[str]) -> list[str]:
    """What went wrong for one hospital staff member on one model's pages."""
    wrong: list[str] = []
    label = model._meta.label
    listing = console.get(_url(model, "changelist"))
    if listing.status_code == 200:
        if listing.context["cl"].queryset.filter(pk=row.pk).exists():
            wrong.append(f"{label}: the list shows the other hospital's row")
        wrong += [f"{label}: the list shows {m!r}" for m in markers if m in listing.content.decode()]
    elif listing.status_code != 403:
        wrong.append(f"{label}: list answered {listing.status_code}")
    for view in ("change", "delete", "history"):
        for method in ("get", "post"):
            if view == "history" and method == "post":
                continue
            answer = getattr(console, method)(_url(model, view, row.pk), {"post": "yes"})
            if answer.status_code not in (403, 404):
                wrong.append(
                    f"{label}: {method.upper()} {view} of the other hospital's row answered {answer.status_code}"
                )
    added = console.get(_url(model, "add"))
    if added.status_code == 200:
        wrong += [f"{label}: the add form offers {m!r}" for m in markers if m in added.content.decode()]
    elif added.status_code != 403:
        wrong.append(f"{label}: add answered {added.status_code}")
    for action in [*admin.site._registry[model].actions, "delete_selected"]:
        name = action if isinstance(action, str) else action.__name__
        done = console.post(
            _url(model, "changelist"),
            {"action": name, "_selected_action": [row.pk], "apply": "yes", "reason": "x", "post": "yes"},
        )
        body = done.content.decode(errors="replace")
        wrong += [f"{label}: action {name} shows {m!r}" for m in markers if m in body]
    return wrong


@pytest.mark.django_db
def test_hospital_staff_never_see_nor_change_another_hospitals_rows_on_any_console_page():
    ours = f.hospital()
    rows = _theirs()
    registered = set(admin.site._registry)
    missing = [m._meta.label for m in registered if m not in rows]
    assert not missing, f"registered in the console, with no row of another hospital in this test: {missing}"
    markers = [THEIRS, rows[Registration].registration_number, "THEIRS0001", "乙方患者"]
    for role in HOSPITAL_ROLES:
        f.staff_member(f"our-{role}", role, ours)
    before = _snapshot(rows)
    wrong: list[str] = []
    for role in HOSPITAL_ROLES:
        console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert console.login(username=f"our-{role}", password="pw-for-tests")
        assert console.get("/console/").status_code == 200
        for model in registered:
            wrong += [f"{role}: {w}" for w in _try_every_page(console, model, rows[model], markers)]
    assert not wrong, "\n".join(wrong)
    assert _snapshot(rows) == before  # nothing changed


@pytest.mark.django_db
def test_the_platform_admin_sees_every_hospitals_rows():
    """The other side of the test above: the rows it hides are there to be found."""
    rows = _theirs()
    f.staff_member("platform", "platform_admin")
    console = Client()
    assert console.login(username="platform", password="pw-for-tests")
    for model, row in rows.items():
        listing = console.get(_url(model, "changelist"))
        assert listing.status_code == 200, model
        assert listing.context["cl"].queryset.filter(pk=row.pk).exists(), model
        assert console.get(_url(model, "change", row.pk)).status_code == 200, model


def _staff_routes() -> list[tuple[str, str, Any]]:
    from guahao.api.v1 import api

    found = []
    for bound in api._get_bound_routers():
        for path, view in bound.path_operations.items():
            for operation in view.operations:
                if any(
                    isinstance(a, StaffBearer) or getattr(a, "__name__", "") == "staff_session"
                    for a in operation.auth_callbacks
                ):
                    for method in operation.methods:
                        found.append((method, bound.prefix.rstrip("/") + path, operation.view_func))
    return found


# The required fields of the staff endpoints that change something, besides the row they reach.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/staff/schedule-templates"): {
        "weekday": 0,
        "session": "am",
        "start": "08:00",
        "end": "11:00",
        "valid_from": "2030-01-07",
    },
    ("POST", "/staff/schedule-templates/generate"): {"from": "2030-01-07", "weeks": 1},
    ("POST", "/staff/schedules/{schedule_id}/extra-slots"): {"count": 1, "reason": "加号"},
    ("POST", "/staff/schedules/{schedule_id}/suspend"): {"reason": "停诊"},
    ("POST", "/staff/registrations/{registration_id}/reschedule"): {"schedule_id": "{schedule}"},  # theirs
    ("POST", "/staff/desk/holds"): {"name": "李秀英", "id_number": f.id_number("19560312"), "phone": "13800138000"},
    ("POST", "/staff/relief"): {
        "name": "李秀英",
        "id_number": f.id_number("19560312"),
        "phone": "13800138000",
        "reason": "急诊转入",
    },
}


@pytest.mark.django_db
def test_every_staff_api_endpoint_answers_404_for_another_hospitals_rows():
    ours = f.hospital()
    rows = _theirs()
    routes = _staff_routes()
    assert routes, "the staff API has endpoints (check-in at least)"
    undeclared = [f"{m} {p}" for m, p, view in routes if not hasattr(view, "staff_route")]
    assert not undeclared, f"staff endpoints that do not declare what they reach (api.auth.staff_scoped): {undeclared}"
    users = {r: f.staff_member(f"api-{r}", r, None if r == "platform_admin" else ours) for r in HOSPITAL_ROLES}
    users["platform_admin"] = f.staff_member("api-platform", "platform_admin")
    before = _snapshot(rows)
    for role, user in users.items():
        desk = f.Api()
        desk.token = staff_token_create(user=user, label=role)
        for method, path, view in routes:
            route = view.staff_route
            row = rows[route.model]
            where, name = route.lookup.split(":")
            value = str(getattr(row, route.field))
            # A whole request (a body short of a required field is refused before any row is read).
            body = VALID_BODIES.get((method, path), {}) | ({name: value} if where == "body" else {})
            body = {k: str(rows[Schedule].pk) if v == "{schedule}" else v for k, v in body.items()}
            url = path.replace("{" + name + "}", value).removeprefix("/api/v1")
            if where == "query":  # a list: never the other hospital's rows, nor theirs when asked for
                status, listed = desk.call(method, url)
                if role != "platform_admin":
                    assert status in (200, 403), (role, method, path, listed)
                    if isinstance(listed, dict):  # figures of a hospital (the statistics): of one's own
                        assert status != 200 or listed.get(name) == str(ours.pk), (role, method, path, listed)
                        assert THEIRS not in repr(listed) and "乙方内科" not in repr(listed), (role, path)
                    else:
                        shown = [item["id"] for item in listed] if status == 200 else []
                        assert str(row.pk) not in shown, (role, method, path)
                url += f"?{name}={value}"
            status, answer = desk.call(method, url, body if method != "GET" else None)
            if role == "platform_admin":
                assert status != 404, (role, method, path, answer)  # found: refused, if at all, by a rule
            else:
                assert (status, answer["code"]) == (404, "not_found"), (role, method, path, answer)
        if role != "platform_admin":
            assert _snapshot(rows) == before


@pytest.mark.django_db
def test_the_day_the_statistics_an_order_and_its_slip_show_nothing_of_another_hospital():
    ours = f.hospital()
    rows = _theirs()
    theirs = rows[Registration]
    # Their registration is for today, so today's figures would count it if they leaked.
    Registration.objects.filter(pk=theirs.pk).update(visit_date=f.today(), status="no_show")
    for role in HOSPITAL_ROLES:
        f.staff_member(f"our-{role}", role, ours)
    before = _snapshot(rows)
    for role in HOSPITAL_ROLES:
        console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert console.login(username=f"our-{role}", password="pw-for-tests")
        day = console.get("/console/")
        assert day.status_code == 200 and THEIRS not in day.content.decode()
        assert all(fig.value == 0 for fig in day.context["figures"] if fig.key in ("booked", "no_show")), role
        stats = console.get("/console/stats/", {"from": f.today().isoformat(), "to": f.today().isoformat()})
        assert (
            stats.status_code == 200
            and THEIRS not in stats.content.decode()
            and "乙方内科" not in stats.content.decode()
        )
        assert stats.context["totals"]["booked"] == 0, role
        for chart in ("department", "doctor", "payment_method", "fill_rate", "refunds"):
            exported = console.get("/console/stats/", {"export": chart, "format": "csv"}).content.decode("utf-8-sig")
            assert "乙方" not in exported and THEIRS not in exported, (role, chart)
        assert console.get("/console/stats/", {"hospital": rows[Hospital].pk}).status_code == 404
        assert console.get("/console/stats/", {"department": rows[Department].pk}).status_code == 404
        assert console.get(f"/console/booking/registration/{theirs.pk}/slip/").status_code == 404
        for fmt in ("csv", "xlsx"):
            for model in admin.site._registry:
                opts = model._meta
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_export", args=[fmt])
                answer = console.get(url)
                if answer.status_code == 200 and fmt == "csv":
                    text = answer.content.decode("utf-8-sig")
                    assert THEIRS not in text and theirs.registration_number not in text, (role, url)
                else:
                    assert answer.status_code in (200, 403), (role, url, answer.status_code)
        their_number = idcard.decrypt(rows[Patient].id_number_encrypted)  # what their patient would tell
        found = console.post("/console/booking/registration/", {"id_number": their_number}, follow=True)
        assert found.status_code == 200 and not found.context["cl"].queryset.exists()
    assert _snapshot(rows) == before


@pytest.mark.django_db
def test_an_unknown_console_address_says_so_for_staff_not_for_patients():
    h = f.hospital()
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    f.staff_member("lost", "operator", h)
    assert client.login(username="lost", password="pw-for-tests")
    answer = client.get("/console/nowhere/at-all/")
    page = answer.content.decode()
    assert answer.status_code == 404 and "该记录属于其他医院" in page and 'href="/console/"' in page
    assert "其他账号" not in page and "返回医院列表" not in page
