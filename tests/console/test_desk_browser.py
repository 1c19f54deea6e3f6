"""A window booking in Chromium at 1366×900, as a window clerk meets it: the ID number typed as a
card reader types it, a mistyped number refused by name with the fields kept, the slot held with the number
masked, the fee taken in cash, the slip printed, and the till showing the money. Screenshots go
to ``artifacts/browser/console-desk/``."""

from __future__ import annotations

import pytest

from guahao.booking.models import Registration
from guahao.core.models import AuditEntry
from guahao.payments.models import Payment
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, chromium, console_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_window_clerk_books_a_walk_in_takes_cash_prints_the_slip_and_sees_the_till(chromium, live_server):  # noqa: F811
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=50)
    f.staff_member("clerk", "window_clerk", h, password="a-long-pass-phrase-9")
    number, name, mobile = f.id_number("19560312"), "李秀英", f.phone()
    mistyped = number[:-1] + ("0" if number[-1] != "0" else "1")  # the check digit no longer fits
    shots = ARTIFACTS / "console-desk"
    shots.mkdir(parents=True, exist_ok=True)
    context, page = console_page(chromium, live_server.url, "clerk", password="a-long-pass-phrase-9", width=1366)

    page.goto(f"{live_server.url}/console/desk/")
    page.click("#d-id")
    page.keyboard.type(mistyped, delay=5)  # a reader types like a keyboard, fast
    page.fill("#d-name", name)
    page.fill("#d-phone", mobile)
    page.select_option("#d-clinic", str(clinic.pk))
    page.click("#do-hold")
    page.wait_for_load_state()
    assert page.locator("#problem").count() == 1 and page.locator("#d-id[aria-invalid=true]").count() == 1
    assert (page.locator("#d-name").input_value(), page.locator("#d-phone").input_value()) == (name, mobile)
    page.screenshot(path=str(shots / "01-mistyped-number.png"), full_page=True)

    page.fill("#d-id", number)
    page.click("#do-hold")
    page.wait_for_load_state()
    held = page.locator("#desk-hold").inner_text()
    assert name in held and number[:6] + "********" + number[-4:] in held and number not in held
    assert "¥51.00" in held
    page.screenshot(path=str(shots / "02-held.png"), full_page=True)

    page.click("#do-cash")
    page.wait_for_load_state()
    registration = Registration.objects.get()
    assert page.locator("#order-number").inner_text() == registration.registration_number
    assert page.locator("#order-status").inner_text() == "预约成功"
    assert registration.channel == "window"
    page.screenshot(path=str(shots / "03-booked.png"), full_page=True)

    with context.expect_page() as opened:
        page.click("#print-slip")
    slip = opened.value
    slip.wait_for_load_state()
    assert slip.locator("#slip-number").inner_text() == registration.registration_number
    assert number not in slip.content()
    slip.screenshot(path=str(shots / "04-slip.png"), full_page=True)

    page.goto(f"{live_server.url}/console/till/")
    assert page.locator("#till-collected").inner_text() == "¥51.00"
    assert page.locator("#till-balance").inner_text() == "¥51.00"
    page.screenshot(path=str(shots / "05-till.png"), full_page=True)
    context.close()

    payment = Payment.objects.get(registration=registration)
    assert (payment.provider, payment.method, payment.collected_by) == ("window", "cash", "clerk")
    assert {"hold.created", "payment.collected"} <= set(
        AuditEntry.objects.filter(actor="clerk").values_list("action", flat=True)
    )
