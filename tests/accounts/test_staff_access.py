"""Staff access as a hospital would check it: no way to a wider role or another hospital, a
second factor, lockout after wrong passwords, idle sessions ending, and all of it in the log."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from guahao.accounts.models import StaffEvent, StaffProfile
from guahao.booking.models import Registration
from guahao.catalog.models import Hospital
from guahao.core import clock
from tests import factories as f

pytestmark = pytest.mark.django_db
User = get_user_model()


def code(device, later: int = 0) -> str:
    """The code the authenticator app shows now (or ``later`` steps on)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=later):06d}"


def booked_at(h: Hospital) -> Registration:
    patient = f.Api().login()
    clinic = f.schedule(f.department(h))
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    _, registration = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    return Registration.objects.get(pk=registration["id"])


def logged_in(username: str) -> Client:
    console = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert console.login(username=username, password="pw-for-tests")
    return console


def test_a_hospital_admin_cannot_make_themselves_platform_staff_nor_open_another_hospital():
    ours, theirs = f.hospital(), f.hospital()
    registration = booked_at(theirs)
    me = f.staff_member("renhe", "hospital_admin", ours)
    console = logged_in("renhe")
    assert console.get(f"/console/booking/registration/{registration.pk}/change/").status_code == 404
    page = console.get(f"/console/auth/user/{me.pk}/change/")
    assert page.status_code == 200 and 'name="role"' not in page.content.decode()  # own role: not a field
    console.post(
        f"/console/auth/user/{me.pk}/change/",
        {"username": "renhe", "role": "platform_admin", "hospital": "", "new_password": ""},
    )
    profile = StaffProfile.objects.get(user=me)
    assert (profile.role, profile.hospital_id) == ("hospital_admin", ours.pk)  # nothing changed
    assert console.get(f"/console/booking/registration/{registration.pk}/change/").status_code == 404  # still

    added = console.post(
        "/console/auth/user/add/",
        {"username": "sneaky", "role": "platform_admin", "hospital": "", "new_password": "a-long-pass-phrase-9"},
    )
    assert added.status_code == 200 and "Select a valid choice" in added.content.decode()
    other = console.post(
        "/console/auth/user/add/",
        {"username": "sneaky", "role": "operator", "hospital": str(theirs.pk), "new_password": "a-long-pass-phrase-9"},
    )
    assert other.status_code == 200 and not User.objects.filter(username="sneaky").exists()


def test_a_hospital_admin_adds_staff_of_their_own_hospital_and_every_change_is_logged():
    ours = f.hospital()
    f.staff_member("renhe", "hospital_admin", ours)
    console = logged_in("renhe")
    done = console.post(
        "/console/auth/user/add/",
        {"username": "desk1", "role": "operator", "hospital": str(ours.pk), "new_password": "a-long-pass-phrase-9"},
    )
    assert done.status_code == 302, done.content.decode()[:2000]
    desk = User.objects.get(username="desk1")
    assert desk.is_staff and not desk.is_superuser
    assert (desk.staff_profile.role, desk.staff_profile.hospital_id) == ("operator", ours.pk)
    assert desk.has_perm("booking.change_registration") and not desk.has_perm("payments.change_refund")
    console.post(
        f"/console/auth/user/{desk.pk}/change/",
        {"username": "desk1", "is_active": "on", "role": "finance", "hospital": str(ours.pk), "new_password": ""},
    )
    desk = User.objects.get(username="desk1")
    assert desk.staff_profile.role == "finance" and desk.has_perm("payments.change_refund")
    log = list(StaffEvent.objects.filter(target="desk1").order_by("at", "id").values_list("kind", "actor", "detail"))
    assert [(k, a) for k, a, _ in log] == [
        ("role_changed", "renhe"),
        ("staff_created", "renhe"),
        ("role_changed", "renhe"),
    ]
    assert log[-1][2]["before_role"] == "operator" and log[-1][2]["role"] == "finance"


def test_only_the_platform_admin_adds_hospitals():
    f.staff_member("renhe", "hospital_admin", f.hospital())
    before = Hospital.objects.count()
    console = logged_in("renhe")
    assert console.get("/console/catalog/hospital/add/").status_code == 403
    console.post("/console/catalog/hospital/add/", {"code": "new", "name": "新医院", "timezone": "Asia/Shanghai"})
    assert Hospital.objects.count() == before
    f.staff_member("platform", "platform_admin")
    assert logged_in("platform").get("/console/catalog/hospital/add/").status_code == 200


def test_finance_reads_its_hospitals_payments_and_refunds():
    f.staff_member("cashier", "finance", f.hospital())
    console = logged_in("cashier")
    for url in ("/console/payments/payment/", "/console/payments/refund/", "/console/payments/failedrefund/"):
        assert console.get(url).status_code == 200, url
    assert console.get("/console/payments/reconciliationdifference/").status_code == 200
    assert console.get("/console/auth/user/").status_code == 403  # staff are the hospital admin's


def test_login_lands_on_the_console():
    f.staff_member("renhe", "viewer", f.hospital())
    answer = Client().post("/console/login/", {"username": "renhe", "password": "pw-for-tests"})
    assert answer.status_code == 302 and answer["Location"] == "/console/"


def test_wrong_passwords_lock_the_login_until_a_platform_admin_lifts_it(settings):
    settings.AXES_ENABLED = True
    f.staff_member("renhe", "viewer", f.hospital())
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    answers = [
        browser.post("/console/login/", {"username": "renhe", "password": f"wrong-{n}"}).status_code for n in range(7)
    ]
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[-1] == 429
    right = browser.post("/console/login/", {"username": "renhe", "password": "pw-for-tests"})
    assert right.status_code == 429 and "locked" in right.content.decode()  # even the right password
    assert browser.get("/console/").status_code == 302  # not logged in
    kinds = list(StaffEvent.objects.filter(target="renhe").values_list("kind", flat=True))
    assert kinds.count("login_failed") >= settings.AXES_FAILURE_LIMIT and "locked_out" in kinds

    f.staff_member("platform", "platform_admin")
    platform = Client(HTTP_ACCEPT_LANGUAGE="en")
    platform.force_login(User.objects.get(username="platform"))
    locks = platform.get("/console/accounts/stafflockout/")
    assert locks.status_code == 200 and "renhe" in locks.content.decode()
    from axes.models import AccessAttempt

    ids = list(AccessAttempt.objects.filter(username="renhe").values_list("pk", flat=True))
    platform.post("/console/accounts/stafflockout/", {"action": "lift", "_selected_action": ids})
    assert StaffEvent.objects.filter(kind="lock_lifted", target="renhe", actor="platform").exists()
    again = browser.post("/console/login/", {"username": "renhe", "password": "pw-for-tests"})
    assert again.status_code == 302 and browser.get("/console/").status_code == 200


def test_hospital_staff_cannot_see_or_lift_lockouts(settings):
    f.staff_member("renhe", "hospital_admin", f.hospital())
    assert logged_in("renhe").get("/console/accounts/stafflockout/").status_code == 403


def test_the_second_factor_is_enrolled_at_the_first_login_and_asked_at_every_login(settings):
    settings.STAFF_OTP = "required"
    f.staff_member("renhe", "operator", f.hospital())
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    answer = browser.post("/console/login/", {"username": "renhe", "password": "pw-for-tests"}, follow=True)
    assert answer.redirect_chain[-1][0].startswith("/console/otp/enrol/")
    assert "<svg" in answer.content.decode()  # the QR code to scan
    assert browser.get("/console/").status_code == 302  # a password alone opens nothing
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username="renhe")
    wrong = browser.post("/console/otp/enrol/", {"otp_token": "000000" if code(device) != "000000" else "111111"})
    assert "wrong" in wrong.content.decode() and not TOTPDevice.objects.get(pk=device.pk).confirmed
    time.sleep(1.1)  # after a wrong code django-otp takes the next one only a second later (then 2, 4, …)
    browser.post("/console/otp/enrol/", {"otp_token": code(device)})
    assert browser.get("/console/").status_code == 200

    later = Client(HTTP_ACCEPT_LANGUAGE="en")
    answer = later.post("/console/login/", {"username": "renhe", "password": "pw-for-tests"}, follow=True)
    assert answer.redirect_chain[-1][0].startswith("/console/otp/")
    assert later.get("/console/").status_code == 302
    later.post("/console/otp/", {"otp_token": code(device, later=1)})
    assert later.get("/console/").status_code == 200
    kinds = list(StaffEvent.objects.filter(target="renhe").values_list("kind", flat=True))
    assert {"otp_enrolled", "otp_failed", "login"} <= set(kinds)


def test_an_enrolled_staff_member_is_asked_for_the_code_even_where_it_is_optional():
    f.staff_member("renhe", "operator", f.hospital())
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=User.objects.get(username="renhe"), name="app", confirmed=True)
    browser = Client()
    browser.post("/console/login/", {"username": "renhe", "password": "pw-for-tests"})
    assert browser.get("/console/").status_code == 302


def test_a_staff_session_ends_after_the_idle_time(settings):
    settings.STAFF_IDLE_MINUTES = 30
    f.staff_member("renhe", "viewer", f.hospital())
    console = logged_in("renhe")
    assert console.get("/console/").status_code == 200
    clock.advance(dt.timedelta(minutes=29))
    assert console.get("/console/").status_code == 200  # still working
    clock.advance(dt.timedelta(minutes=31))
    assert console.get("/console/").status_code == 302  # idle too long: log in again


def test_one_users_wrong_passwords_lock_that_user_not_the_colleagues_behind_the_same_address(settings):
    settings.AXES_ENABLED = True
    settings.STAFF_LOCKOUT_ADDRESS_FAILURES = 8
    h = f.hospital()
    for name in ("clumsy", "colleague", "third"):
        f.staff_member(name, "viewer", h)
    office = Client()  # one address for all of them, as behind a hospital's NAT
    for n in range(settings.AXES_FAILURE_LIMIT):
        office.post("/console/login/", {"username": "clumsy", "password": f"wrong-{n}"})
    assert office.post("/console/login/", {"username": "clumsy", "password": "pw-for-tests"}).status_code == 429
    colleague = Client()
    assert colleague.post("/console/login/", {"username": "colleague", "password": "pw-for-tests"}).status_code == 302
    guesser = Client()  # many user names tried from one address: the address is locked
    for n in range(settings.STAFF_LOCKOUT_ADDRESS_FAILURES):
        guesser.post("/console/login/", {"username": f"guess{n}", "password": "x"})
    assert guesser.post("/console/login/", {"username": "third", "password": "pw-for-tests"}).status_code == 429


def test_a_hospital_admin_saves_their_own_name_and_password_but_their_role_stays(settings):
    ours = f.hospital()
    me = f.staff_member("renhe", "hospital_admin", ours)
    console = logged_in("renhe")
    saved = console.post(
        f"/console/auth/user/{me.pk}/change/",
        {"username": "renhe", "first_name": "芳", "last_name": "王", "email": "", "role": "viewer", "new_password": ""},
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    me.refresh_from_db()
    assert (me.first_name, me.last_name, me.staff_profile.role) == ("芳", "王", "hospital_admin")


def test_after_a_wrong_code_the_page_says_how_long_to_wait(settings):
    settings.STAFF_OTP = "required"
    f.staff_member("renhe", "operator", f.hospital())
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.post("/console/login/", {"username": "renhe", "password": "pw-for-tests"})
    browser.get("/console/otp/enrol/")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username="renhe")
    browser.post("/console/otp/enrol/", {"otp_token": "000000" if code(device) != "000000" else "111111"})
    waiting = browser.post("/console/otp/enrol/", {"otp_token": code(device)}).content.decode()
    assert "wait 1 seconds" in waiting
    time.sleep(1.1)
    browser.post("/console/otp/enrol/", {"otp_token": code(device)})
    assert browser.get("/console/").status_code == 200
    kinds = list(StaffEvent.objects.filter(target="renhe").order_by("at", "id").values_list("kind", flat=True))
    assert kinds[-3:] == ["otp_failed", "otp_enrolled", "otp_passed"]


def test_a_hospital_admin_cannot_take_another_admins_account_nor_make_an_admin():
    ours = f.hospital()
    f.staff_member("renhe", "hospital_admin", ours)
    peer = f.staff_member("renhe2", "hospital_admin", ours)
    console = logged_in("renhe")
    page = console.get(f"/console/auth/user/{peer.pk}/change/")
    assert page.status_code == 200 and 'name="new_password"' not in page.content.decode()  # read-only
    taken = console.post(
        f"/console/auth/user/{peer.pk}/change/",
        {
            "username": "renhe2",
            "is_active": "on",
            "role": "hospital_admin",
            "hospital": str(ours.pk),
            "new_password": "taken-over-pass-9",
        },
    )
    assert taken.status_code == 403
    assert not Client().login(username="renhe2", password="taken-over-pass-9")
    assert logged_in("renhe2")  # its own password still opens it
    # Nor its second factor reset (the other half of a takeover), nor it made inactive.
    device = TOTPDevice.objects.create(user=peer, name="phone", confirmed=True)
    console.post("/console/auth/user/", {"action": "reset_second_factor", "_selected_action": [peer.pk]})
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    assert User.objects.get(pk=peer.pk).is_active

    # A second admin of one's own making is refused: the admin roles are the platform's to give.
    made = console.post(
        "/console/auth/user/add/",
        {
            "username": "puppet",
            "role": "hospital_admin",
            "hospital": str(ours.pk),
            "new_password": "a-long-pass-phrase-9",
        },
    )
    assert made.status_code == 200 and not User.objects.filter(username="puppet").exists()
    desk = console.post(
        "/console/auth/user/add/",
        {"username": "desk1", "role": "operator", "hospital": str(ours.pk), "new_password": "a-long-pass-phrase-9"},
    )
    assert desk.status_code == 302  # staff below the admins are the hospital admin's
    promoted = console.post(
        f"/console/auth/user/{User.objects.get(username='desk1').pk}/change/",
        {
            "username": "desk1",
            "is_active": "on",
            "role": "hospital_admin",
            "hospital": str(ours.pk),
            "new_password": "",
        },
    )
    assert promoted.status_code == 200 and User.objects.get(username="desk1").staff_profile.role == "operator"

    # The platform admin may do all of it.
    f.staff_member("platform", "platform_admin")
    done = logged_in("platform").post(
        f"/console/auth/user/{peer.pk}/change/",
        {
            "username": "renhe2",
            "is_active": "on",
            "role": "hospital_admin",
            "hospital": str(ours.pk),
            "new_password": "a-new-pass-phrase-9",
        },
    )
    assert done.status_code == 302 and Client().login(username="renhe2", password="a-new-pass-phrase-9")


@pytest.mark.parametrize(
    ("password", "says"),
    [("1", "too short"), ("1234567890123", "entirely numeric"), ("password123", "too common")],
)
def test_a_weak_staff_password_is_refused_naming_why(password, says):
    ours = f.hospital()
    f.staff_member("renhe", "hospital_admin", ours)
    page = logged_in("renhe").post(
        "/console/auth/user/add/",
        {"username": "desk1", "role": "operator", "hospital": str(ours.pk), "new_password": password},
    )
    assert page.status_code == 200 and says in page.content.decode()
    assert not User.objects.filter(username="desk1").exists()


def test_a_hospital_admin_keeps_their_hospitals_notice_but_not_its_clock_code_or_name():
    ours = f.hospital()
    f.staff_member("renhe", "hospital_admin", ours)
    console = logged_in("renhe")
    page = console.get(f"/console/catalog/hospital/{ours.pk}/change/").content.decode()
    assert 'name="notice"' in page and 'name="timezone"' not in page and 'name="code"' not in page
