"""Staff access in Chromium, as a new hospital admin meets it: enrol the authenticator app from
the QR page's key, log in again with a code, see only their own hospital's registrations, and
a login locked after wrong passwords. Screenshots go to ``artifacts/browser/console/``."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp

from guahao.booking.models import Registration
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


def _code(secret: str, later: int = 0) -> str:
    key = base64.b32decode(secret.replace(" ", ""))
    return f"{totp(key, drift=later):06d}"


def _booked(h) -> Registration:  # type: ignore[no-untyped-def]
    patient = f.Api().login()
    clinic = f.schedule(f.department(h))
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    _, registration = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    return Registration.objects.get(pk=registration["id"])


def test_enrol_log_in_with_a_code_see_only_ones_hospital_and_be_locked_out(chromium, live_server, settings):  # noqa: F811
    settings.STAFF_OTP = "required"
    settings.AXES_ENABLED = True
    ours, theirs = f.hospital(), f.hospital()
    mine, other = _booked(ours), _booked(theirs)
    f.staff_member("renhe", "hospital_admin", ours, password="a-long-pass-phrase-9")
    shots = ARTIFACTS / "console"
    shots.mkdir(parents=True, exist_ok=True)

    def log_in(page, password: str = "a-long-pass-phrase-9"):  # type: ignore[no-untyped-def]
        page.goto(f"{live_server.url}/console/login/")
        page.fill("input[name=username]", "renhe")
        page.fill("input[name=password]", password)
        page.click("#login-form [type=submit]")
        page.wait_for_load_state()

    first = chromium.new_context(locale="zh-CN")
    page = first.new_page()
    page.set_default_timeout(15_000)
    log_in(page)
    assert "/console/otp/enrol/" in page.url
    assert page.locator("#otp-qr svg").count() == 1
    secret = page.locator("#otp-secret").inner_text()
    page.screenshot(path=str(shots / "01-enrol.png"), full_page=True)
    page.fill("#otp_token", _code(secret))
    page.click("#otp-form [type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/console/"
    first.close()

    again = chromium.new_context(locale="zh-CN")
    page = again.new_page()
    page.set_default_timeout(15_000)
    log_in(page)
    assert "/console/otp/" in page.url and "enrol" not in page.url
    page.screenshot(path=str(shots / "02-code.png"), full_page=True)
    page.fill("#otp_token", _code(secret, later=1))
    page.click("#otp-form [type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/console/"
    page.goto(f"{live_server.url}/console/booking/registration/")
    listed = page.content()
    page.screenshot(path=str(shots / "03-registrations.png"), full_page=True)
    assert mine.registration_number in listed and other.registration_number not in listed
    theirs_page = page.goto(f"{live_server.url}/console/booking/registration/{other.pk}/change/")
    assert theirs_page is not None and theirs_page.status == 404
    again.close()

    locked = chromium.new_context(locale="en-US")
    page = locked.new_page()
    page.set_default_timeout(15_000)
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(page, password=f"wrong-{n}")
    log_in(page)  # the right password, too late
    page.screenshot(path=str(shots / "04-locked.png"), full_page=True)
    assert page.locator("#locked-out").count() == 1 and "/console/otp/" not in page.url
    locked.close()
