"""The self-service kiosk in a portrait 1080×1920 Chromium: the device's token opens it, a card
reader types the ID number (fast keystrokes and Enter), a new patient registers, books this
afternoon's clinic, pays by scanning the QR code (the payment sandbox), the slip is shown and
printed, the patient checks in, books tomorrow too and cancels that booking; then English, and
the next patient walks away: the kiosk goes back to its start screen by itself.

Screenshots of every step go to ``artifacts/browser/kiosk/``. Every page is audited as shown: the
phone app's audit (contrast, labels, language) and the kiosk's own needs: body type of at least
24 px and touch targets of at least 64 px.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from guahao.accounts import kiosks
from guahao.booking.models import Registration
from tests import factories as f
from tests.processes import post
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium  # noqa: F401 - the module's browser

pytestmark = pytest.mark.django_db(transaction=True)

# What a kiosk needs besides: large type and large touch targets, read on the page as rendered.
KIOSK_AUDIT = """() => {
  const problems = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " +
    JSON.stringify((el.innerText || el.value || "").trim().slice(0, 30));
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el) || el.closest("svg")) continue;
    const s = getComputedStyle(el);
    if ([...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()) && parseFloat(s.fontSize) < 24)
      problems.push(`type ${s.fontSize}: ${name(el)}`);
    if (el.matches("button, input:not([type=hidden]), a.btn")) {
      const target = el.matches("input[type=checkbox]") ? el.closest("label") || el : el;
      const r = target.getBoundingClientRect();
      if (r.width < 64 || r.height < 64) problems.push(`target ${Math.round(r.width)}x${Math.round(r.height)}: ${name(el)}`);
    }
  }
  return problems;
}"""


def test_a_kiosk_registers_books_takes_a_qr_payment_prints_checks_in_and_cancels(chromium, live_server, sandbox):  # noqa: F811
    h = f.hospital(payment_required=True)
    dep = f.department(h, name="心血管内科")
    doc = f.doctor(dep, "王建华")
    pm = f.schedule(
        dep, doc, day=f.today(), session="pm", start=dt.time(14), end=dt.time(15), platform_share_percent=50
    )
    tomorrow = f.schedule(dep, doc, platform_share_percent=50)
    device, token = kiosks.kiosk_device_create(hospital=h, name="门诊大厅 1号机", by="admin")
    shots = ARTIFACTS / "kiosk"
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1080, "height": 1920}, locale="zh-CN", has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    step = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{next(step):02d}-{name}.png"), full_page=True)
        if page.url.startswith(live_server.url):
            assert page.evaluate(AUDIT) == [], f"{name}: {page.url}"
            assert page.evaluate(KIOSK_AUDIT) == [], f"{name}: {page.url}"

    page.goto(f"{live_server.url}/kiosk/")
    assert page.url.endswith("/kiosk/setup")
    page.locator("#k-token").fill(token)
    shot("setup")
    page.locator("#setup-go").click()
    page.wait_for_url(re.compile(r"/kiosk/$"))
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    shot("start")

    number = f.id_number("19560312")
    masked = number[:6] + "********" + number[-4:]
    page.wait_for_function("document.activeElement && document.activeElement.id === 'k-id'")
    page.keyboard.type(number, delay=4)  # the card reader: the digits and Enter, faster than a hand
    page.keyboard.press("Enter")
    page.locator("#register-form").wait_for()
    assert page.locator("#reg-id").inner_text() == masked
    page.locator("#k-name").fill("李秀英")
    page.locator("#k-phone").fill(f.phone())
    page.locator("label[for=k-consent]").click()
    shot("register")
    page.locator("#register-go").click()
    page.wait_for_url(re.compile(r"/kiosk/menu$"))
    assert masked in page.locator("#kiosk-patient").inner_text()
    shot("menu")

    def book(schedule_id: int, name: str) -> Registration:
        page.locator("#to-menu").click()
        page.locator("#book").click()
        page.locator(f"#department-{dep.pk}").click()
        page.locator(f"#clinic-{schedule_id}").wait_for()
        shot(f"clinics-{name}")
        page.locator(f"#hold-{schedule_id}").click()
        page.locator("#hold").wait_for()
        assert page.locator("#hold-fee").inner_text() == "¥51.00"
        shot(f"hold-{name}")
        page.locator("#pay-wechat").click()
        qr = page.locator("#pay-qr")
        qr.wait_for()
        shot(f"qr-{name}")
        pay_url = qr.get_attribute("data-pay-url")
        assert post(f"{pay_url}/pay") == 200  # the patient's phone scanned the code and paid
        page.wait_for_url(re.compile(r"/kiosk/registrations/\d+$"), timeout=20_000)  # the page asks by itself
        return Registration.objects.get(schedule_id=schedule_id)

    today = book(pm.pk, "today")
    assert (today.channel, today.status) == ("kiosk", "booked")
    assert page.locator("#slip-number").inner_text() == today.registration_number
    assert number not in page.content()
    shot("slip")
    page.evaluate("window.print = () => { window.printed = true; }")  # the kiosk's printer
    page.locator("#print").click()
    assert page.evaluate("window.printed") is True
    page.emulate_media(media="print")
    page.screenshot(path=str(shots / f"{next(step):02d}-slip-printed.png"), full_page=True)
    page.emulate_media(media="screen")

    page.locator("#check-in").click()
    page.locator("#checked-in").wait_for()
    today.refresh_from_db()
    assert today.status == "checked_in"
    shot("checked-in")

    later = book(tomorrow.pk, "tomorrow")
    page.locator("#to-menu").click()
    page.locator(f"#cancel-{later.pk}").click()
    shot("cancel")
    page.locator("#cancel-yes").click()
    page.locator("#cancelled").wait_for()
    later.refresh_from_db()
    assert later.status in ("refunding", "refunded") and later.cancelled_by == "patient"
    shot("cancelled")

    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "My registrations at this hospital" in page.locator("main").inner_text()
    shot("menu-en")
    page.locator("#finish").click()
    page.wait_for_url(re.compile(r"/kiosk/$"))
    assert "Welcome" in page.locator("h1").inner_text() and masked not in page.content()
    shot("start-en")

    page.clock.install()  # the next patient walks away from the kiosk without pressing Finish
    page.keyboard.type(number, delay=4)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/kiosk/menu$"))
    page.clock.fast_forward(91_000)
    page.wait_for_url(re.compile(r"/kiosk/$"))
    assert masked not in page.content()
    assert refused == []
    context.close()
