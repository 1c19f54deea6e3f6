"""The hospital's self-service kiosk as its plain pages see it: a device token opens it (never a
staff login), the patient reads their ID card, registers if new, books from the onsite pool,
checks in and cancels under their own rules; the patient is forgotten when idle; ID numbers only
ever show masked. The console registers and revokes the devices."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from guahao.accounts import idcard, kiosks
from guahao.accounts.models import Consent, KioskDevice
from guahao.booking.models import Hold, Registration
from guahao.core import clock
from guahao.core.models import AuditEntry
from guahao.web import kiosk as kiosk_views
from tests import factories as f

# The hall's afternoon clinic is still ahead, and online cancellation still open: it is 10:00.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]


@pytest.fixture
def hall():
    """A hospital with nothing to pay, a cardiology clinic this afternoon and one tomorrow (half
    of each for the window and kiosks), and a registered kiosk."""
    h = f.hospital(payment_required=False)
    dep = f.department(h)
    doc = f.doctor(dep)
    today = f.schedule(
        dep, doc, day=f.today(), session="pm", start=dt.time(14), end=dt.time(15), platform_share_percent=50
    )
    tomorrow = f.schedule(dep, doc, platform_share_percent=50)
    device, token = kiosks.kiosk_device_create(hospital=h, name="门诊大厅 1号机", by="admin")
    return {"hospital": h, "department": dep, "today": today, "tomorrow": tomorrow, "device": device, "token": token}


def opened(token: str, language: str = "") -> Client:
    kiosk = Client(HTTP_ACCEPT_LANGUAGE="en")
    if language:
        kiosk.post("/i18n/setlang/", {"language": language, "next": "/kiosk/"})
    response = kiosk.get(f"/kiosk/setup?token={token}")
    assert response.status_code == 302 and response["Location"] == "/kiosk/"
    return kiosk


def page(response) -> str:
    assert response.status_code == 200, response.content.decode()[:1500]
    return response.content.decode()


def test_only_a_registered_device_opens_the_kiosk(hall):
    stranger = Client()
    assert stranger.get("/kiosk/")["Location"] == "/kiosk/setup"
    assert stranger.get("/kiosk/menu")["Location"] == "/kiosk/setup"
    refused = stranger.post("/kiosk/setup", {"token": "kd_not-a-token"})
    assert refused.status_code == 403 and kiosk_views.COOKIE not in refused.cookies
    f.staff_member("clerk", "window_clerk", hall["hospital"])
    assert stranger.login(username="clerk", password="pw-for-tests")
    assert stranger.get("/kiosk/")["Location"] == "/kiosk/setup"  # a staff login is not a kiosk

    kiosk = Client()
    assert kiosk.post("/kiosk/setup", {"token": hall["token"]})["Location"] == "/kiosk/"
    start = page(kiosk.get("/kiosk/"))
    assert 'id="k-id"' in start and "门诊大厅 1号机" in start and hall["hospital"].name in start
    kiosks.kiosk_device_revoke(device=hall["device"], by="admin")
    assert kiosk.get("/kiosk/")["Location"] == "/kiosk/setup"


def test_a_new_patient_registers_books_today_checks_in_and_the_slip_shows_masked_ids(hall):
    kiosk = opened(hall["token"])
    number = f.id_number("19560312")
    masked = number[:6] + "********" + number[-4:]
    form = page(kiosk.post("/kiosk/identify", {"id_number": number.lower()}))
    assert 'id="register-form"' in form and masked in form and number not in form

    refused = kiosk.post("/kiosk/register", {"name": "李秀英", "phone": f.phone()})
    assert refused.status_code == 422 and 'data-code="patient.consent_required"' in refused.content.decode()
    phone = f.phone()
    menu = kiosk.post("/kiosk/register", {"name": "李秀英", "phone": phone, "consent": "2026-12"}, follow=True)
    html = page(menu)
    assert 'id="no-registrations"' in html and masked in html and number not in html
    assert Consent.objects.get(patient__name="李秀英").channel == "kiosk"

    assert f'id="department-{hall["department"].pk}"' in page(kiosk.get("/kiosk/book"))
    clinics = page(kiosk.get(f"/kiosk/book/{hall['department'].pk}"))
    assert f'id="hold-{hall["today"].pk}"' in clinics and "5 places left" not in clinics  # Chinese by default
    held = kiosk.post(f"/kiosk/book/clinic/{hall['today'].pk}")
    hold = Hold.objects.get()
    assert held["Location"] == f"/kiosk/holds/{hold.pk}" and (hold.channel, hold.slot.pool) == ("kiosk", "onsite")
    assert 'id="confirm"' in page(kiosk.get(held["Location"]))
    booked = kiosk.post(f"/kiosk/holds/{hold.pk}/pay", follow=True)
    registration = Registration.objects.get()
    slip = page(booked)
    assert registration.registration_number in slip and masked in slip and number not in slip
    assert 'id="print"' in slip and 'id="check-in"' in slip

    checked = page(kiosk.post(f"/kiosk/registrations/{registration.pk}/check-in", follow=True))
    registration.refresh_from_db()
    assert registration.status == "checked_in" and 'id="checked-in"' in checked and 'id="check-in"' not in checked
    actor = f"kiosk#{hall['device'].pk} 门诊大厅 1号机"
    assert set(AuditEntry.objects.filter(actor=actor).values_list("action", flat=True)) == {
        "patient.added_at_kiosk",
        "hold.created",
        "registration.booked",
        "registration.checked_in",
    }
    assert not AuditEntry.objects.filter(target__contains=number).exists()
    assert not AuditEntry.objects.filter(after__icontains=number[6:14]).exists()


def test_a_known_patient_is_held_to_the_app_s_rules_and_cancels_under_their_own_cutoff(hall):
    acc = f.account()
    number = idcard.decrypt(f.patient(acc, relation="self").id_number_encrypted)
    kiosk = opened(hall["token"], "en")
    menu = kiosk.post("/kiosk/identify", {"id_number": number})
    assert menu["Location"] == "/kiosk/menu"
    assert "Book a clinic" in page(kiosk.get("/kiosk/menu"))

    kiosk.post(f"/kiosk/book/clinic/{hall['today'].pk}")
    kiosk.post(f"/kiosk/holds/{Hold.objects.get().pk}/pay")
    today = Registration.objects.get()
    kiosk.post(f"/kiosk/book/clinic/{hall['tomorrow'].pk}")
    later = Hold.objects.latest("pk")
    kiosk.post(f"/kiosk/holds/{later.pk}/pay")
    later_reg = Registration.objects.get(hold=later)
    assert later_reg.account_id == acc.pk and later_reg.channel == "kiosk"
    another = f.schedule(hall["department"], f.doctor(hall["department"], "李明"), platform_share_percent=50)
    again = kiosk.post(f"/kiosk/book/clinic/{another.pk}")
    assert again.status_code == 409 and 'data-code="rule.one_per_department_per_day"' in again.content.decode()
    assert Hold.objects.count() == 2

    too_late = kiosk.post(f"/kiosk/registrations/{today.pk}/cancel")
    assert too_late.status_code == 409 and 'data-code="rule.cancel_cutoff"' in too_late.content.decode()
    today.refresh_from_db()
    assert today.status == "booked"
    done = kiosk.post(f"/kiosk/registrations/{later_reg.pk}/cancel")
    assert done["Location"] == f"/kiosk/menu?cancelled={later_reg.registration_number}"
    later_reg.refresh_from_db()
    assert (later_reg.status, later_reg.cancelled_by) == ("cancelled", "patient")

    other = f.hospital(payment_required=False)
    elsewhere = f.schedule(f.department(other), platform_share_percent=50)
    assert kiosk.post(f"/kiosk/book/clinic/{elsewhere.pk}").status_code == 404


def test_the_patient_is_forgotten_after_a_while_idle_and_on_finish(hall):
    acc = f.account()
    number = idcard.decrypt(f.patient(acc, relation="self").id_number_encrypted)
    kiosk = opened(hall["token"])
    kiosk.post("/kiosk/identify", {"id_number": number})
    assert 'data-finish-url="/kiosk/"' in page(kiosk.get("/kiosk/menu"))
    clock.advance(dt.timedelta(seconds=kiosk_views.IDLE_SECONDS + 1))
    assert kiosk.get("/kiosk/menu")["Location"] == "/kiosk/"

    kiosk.post("/kiosk/identify", {"id_number": number})
    assert kiosk.post("/kiosk/finish")["Location"] == "/kiosk/"
    assert kiosk.get("/kiosk/menu")["Location"] == "/kiosk/"


def test_a_hospital_admin_adds_a_kiosk_sees_its_token_once_and_revokes_it():
    h = f.hospital()
    f.staff_member("boss", "hospital_admin", h)
    console = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert console.login(username="boss", password="pw-for-tests")
    added = page(console.post("/console/accounts/kioskdevice/add/", {"hospital": h.pk, "name": "Hall 1, kiosk 3"}))
    token = added.split('id="kiosk-token" class="text-lg select-all">')[1].split("<")[0]
    device = KioskDevice.objects.get()
    assert kiosks.kiosk_for_token(token) == device and device.hospital == h and device.created_by == "boss"
    listing = page(console.get("/console/accounts/kioskdevice/"))
    assert "Hall 1, kiosk 3" in listing and token not in listing
    assert AuditEntry.objects.filter(actor="boss", action="kiosk.created").count() == 1

    other = f.hospital()
    f.staff_member("boss2", "hospital_admin", other)
    elsewhere = Client()
    assert elsewhere.login(username="boss2", password="pw-for-tests")
    assert "Hall 1, kiosk 3" not in page(elsewhere.get("/console/accounts/kioskdevice/"))
    assert elsewhere.get(f"/console/accounts/kioskdevice/{device.pk}/change/").status_code == 404
    f.staff_member("clerk", "window_clerk", h)
    clerk = Client()
    assert clerk.login(username="clerk", password="pw-for-tests")
    assert clerk.get("/console/accounts/kioskdevice/add/").status_code == 403

    console.post("/console/accounts/kioskdevice/", {"action": "revoke", "_selected_action": [device.pk]}, follow=True)
    device.refresh_from_db()
    assert device.revoked_by == "boss" and kiosks.kiosk_for_token(token) is None


def test_a_kiosk_trying_many_id_numbers_is_stopped_for_a_minute(hall, ratelimits):
    kiosk = opened(hall["token"])
    for _ in range(kiosk_views.READS_PER_MINUTE):
        assert kiosk.post("/kiosk/identify", {"id_number": f.id_number()}).status_code == 200
    stopped = kiosk.post("/kiosk/identify", {"id_number": f.id_number()})
    assert stopped.status_code == 429 and 'id="k-id"' in stopped.content.decode()
    clock.advance(dt.timedelta(seconds=61))
    assert kiosk.post("/kiosk/identify", {"id_number": f.id_number()}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_qr_payment_books_the_hold_and_the_waiting_code_keeps_the_patient_five_minutes_at_most(sandbox):
    from guahao.payments.models import Payment
    from tests.processes import post

    h = f.hospital(payment_required=True)
    clinic = f.schedule(f.department(h), platform_share_percent=50)
    _device, token = kiosks.kiosk_device_create(hospital=h, name="Hall 2", by="admin")
    number = idcard.decrypt(f.patient(f.account(), relation="self").id_number_encrypted)
    kiosk = opened(token)
    kiosk.post("/kiosk/identify", {"id_number": number})
    kiosk.post(f"/kiosk/book/clinic/{clinic.pk}")
    hold = Hold.objects.get()
    assert kiosk.post(f"/kiosk/holds/{hold.pk}/pay", {"method": "alipay"})["Location"] == f"/kiosk/holds/{hold.pk}/qr"
    waiting = page(kiosk.get(f"/kiosk/holds/{hold.pk}/qr"))
    pay_url = waiting.split('data-pay-url="')[1].split('"')[0]
    assert 'http-equiv="refresh"' in waiting and 'data-idle-seconds="300"' in waiting
    clock.advance(dt.timedelta(seconds=120))  # longer than a page's idle time: the code still waits
    left = page(kiosk.get(f"/kiosk/holds/{hold.pk}/qr")).split('data-idle-seconds="')[1].split('"')[0]
    assert 170 < int(left) <= 180  # the reloads themselves are no touch

    assert post(f"{pay_url}/pay") == 200  # scanned and paid on the patient's phone
    registration_url = kiosk.get(f"/kiosk/holds/{hold.pk}/qr")["Location"]
    registration = Registration.objects.get()
    assert registration_url == f"/kiosk/registrations/{registration.pk}"
    assert registration.registration_number in page(kiosk.get(registration_url))
    payment = Payment.objects.get(registration=registration)
    assert (payment.status, payment.method, payment.provider) == ("paid", "alipay", "sandbox")

    kiosk.post(f"/kiosk/registrations/{registration.pk}/cancel")
    registration.refresh_from_db()
    assert registration.status in ("refunding", "refunded") and payment.refunds.count() == 1

    kiosk.post(f"/kiosk/book/clinic/{clinic.pk}")
    again = Hold.objects.latest("pk")
    kiosk.post(f"/kiosk/holds/{again.pk}/pay")
    clock.advance(dt.timedelta(seconds=kiosk_views.PAY_IDLE_SECONDS + 1))  # walked away from the code
    assert kiosk.get(f"/kiosk/holds/{again.pk}/qr")["Location"] == "/kiosk/"


def test_the_language_switch_keeps_the_kiosk_on_its_screen_in_the_other_language(hall):
    kiosk = opened(hall["token"])
    number = f.id_number("19800101")
    form = page(kiosk.post("/kiosk/identify", {"id_number": number}, HTTP_REFERER="http://testserver/kiosk/"))
    switch = re.search(r'name="next" value="([^"]+)"', form).group(1)
    assert switch == "/kiosk/register"  # the form's own page, not its POST-only action
    english = page(kiosk.post("/i18n/setlang/", {"language": "en", "next": switch}, follow=True))
    assert 'id="register-form"' in english and number[:6] + "********" + number[-4:] in english
    assert "Test Hospital" in english and "测试医院" not in english  # the hospital's English name

    phone = f.phone()
    kiosk.post("/kiosk/register", {"name": "李秀英", "phone": phone, "consent": "2026-12"})
    clinics = f"/kiosk/book/{hall['department'].pk}"
    kiosk.post(f"/kiosk/book/clinic/{hall['today'].pk}")  # held: a second hold of the same person is refused
    refused = kiosk.post(f"/kiosk/book/clinic/{hall['tomorrow'].pk}", HTTP_REFERER=f"http://testserver{clinics}")
    assert refused.status_code >= 400
    assert re.search(r'name="next" value="([^"]+)"', refused.content.decode()).group(1) == clinics

    # An action's address opened as a page: the kiosk's own screen, never the patients' app.
    opened_by_hand = kiosk.get(f"/kiosk/book/clinic/{hall['tomorrow'].pk}")
    assert opened_by_hand.status_code == 302 and opened_by_hand["Location"] == "/kiosk/menu"


def test_an_empty_id_number_is_asked_for(hall):
    kiosk = opened(hall["token"])
    refused = kiosk.post("/kiosk/identify", {"id_number": " "}).content.decode()
    assert "请填写证件号码" in refused and "0 位" not in refused


def test_departments_are_grouped_in_the_hospitals_order_and_a_refusal_reads_its_heading_once(hall):
    from guahao.catalog.models import Department

    h = hall["hospital"]
    surgery = f.department(h, name="外科")
    internal = Department.objects.get(pk=hall["department"].pk)
    medicine = f.department(h, name="内科")
    Department.objects.filter(pk=internal.pk).update(parent=medicine, level=2)
    Department.objects.filter(pk=surgery.pk).update(sort=9)  # the hospital puts surgery last
    joints = f.department(h, name="骨科", parent=surgery)
    f.schedule(joints, f.doctor(joints, name="李强"), platform_share_percent=50)
    kiosk = opened(hall["token"])
    kiosk.post("/kiosk/identify", {"id_number": f.id_number("19800101")})
    kiosk.post("/kiosk/register", {"name": "李秀英", "phone": f.phone(), "consent": "2026-12"})

    listed = page(kiosk.get("/kiosk/book"))
    headings = re.findall(r'<h2 class="group">([^<]+)</h2>', listed)
    assert headings == ["内科", "外科"]  # each group under its parent, as the hospital orders them
    assert (
        listed.index(f'id="department-{internal.pk}"')
        < listed.index("外科")
        < listed.index(f'id="department-{joints.pk}"')
    )
    kiosk.post(f"/kiosk/book/clinic/{hall['today'].pk}")
    refused = kiosk.post(f"/kiosk/book/clinic/{hall['tomorrow'].pk}").content.decode()
    box = re.search(r'<div class="problem".*?</div>', refused, re.S).group(0)
    title = re.search(r"<strong>(.*?)</strong>", box).group(1)
    assert box.count(title) == 1 and "<p>" not in box, box


def test_a_registration_the_his_refused_is_not_checked_in_at_the_kiosk(hall):
    """号源冲突: the HIS gave its number to someone at the window; the kiosk sends the patient
    there instead of checking them in to a number that is not theirs."""
    from guahao.his.models import CallKind, CallStatus, HisCall

    kiosk = opened(hall["token"])
    kiosk.post("/kiosk/identify", {"id_number": f.id_number("19560312")})
    kiosk.post("/kiosk/register", {"name": "李秀英", "phone": f.phone(), "consent": "2026-12"})
    kiosk.post(f"/kiosk/book/clinic/{hall['today'].pk}")
    kiosk.post(f"/kiosk/holds/{Hold.objects.get().pk}/pay")
    registration = Registration.objects.get()
    HisCall.objects.create(
        hospital=hall["hospital"],
        kind=CallKind.REGISTER,
        ref=registration.registration_number,
        registration=registration,
        status=CallStatus.FAILED,
        last_error="SLOT_TAKEN: slot 1 is booked",
        next_at=clock.now(),
        created_at=clock.now(),
    )
    slip = page(kiosk.get(f"/kiosk/registrations/{registration.pk}"))
    assert 'id="his-refused"' in slip and "请到挂号窗口办理" in slip
    assert 'id="check-in"' not in slip and 'class="qr"' not in slip
    refused = kiosk.post(f"/kiosk/registrations/{registration.pk}/check-in")
    assert refused.status_code == 409 and 'data-code="his.registration_refused"' in refused.content.decode()
    registration.refresh_from_db()
    assert registration.status == "booked"
