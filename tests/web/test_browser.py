"""The whole journey in a phone-sized Chromium, in both languages: log in, add a patient, find the
clinic, hold a slot, pay at the sandbox cashier, get the registration, cancel it and see the refund.

Screenshots of every step go to ``artifacts/browser/<language>/``. Every page of ours on the way is
audited as it is shown: text contrast at WCAG AA, tap targets of at least 44 px, every form field
labelled, the page's language declared, the main tabs in view, and no sideways scrolling even with
the text twice as large.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from guahao.accounts import phones
from guahao.booking.models import Registration
from guahao.core import outbox
from guahao.payments.models import RefundStatus
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"

LABELS = {
    "zh-hans": {
        "search": "名称、拼音首字母或擅长",
        "login_to_book": "登录后预约",
        "send_code": "获取验证码",
        "log_in": "登录",
        "add_patient": "添加就诊人",
        "add": "添加",
        "real_name": "真实姓名",
        "id_number": "证件号码",
        "phone": "手机号",
        "relation": "与您的关系",
        "hold": "预约此号",
        "notice": "我已阅读预约须知",
        "notice_error": "请阅读预约须知",
        "pay": "支付 ¥51.00",
        "booked": "预约成功",
        "self_pay": "自费",
        "told": ["预约成功", "挂号已取消"],
        "cancel": "取消挂号",
        "cancel_rule": "可在线取消至",
        "yes_cancel": "确定取消",
        "cancelled": "挂号已取消",
        "refunded": "已退款",
    },
    "en": {
        "search": "Name, pinyin initials or specialty",
        "login_to_book": "Log in to book",
        "send_code": "Send me a code",
        "log_in": "Log in",
        "add_patient": "Add a family member",
        "add": "Add",
        "real_name": "Real name",
        "id_number": "ID document number",
        "phone": "Mobile phone",
        "relation": "Relation to you",
        "hold": "Hold this slot",
        "notice": "I have read the booking notice",
        "notice_error": "Please read the booking notice",
        "pay": "Pay ¥51.00",
        "booked": "Booked",
        "self_pay": "Self-pay",
        "told": ["Registration booked", "Registration cancelled"],
        "cancel": "Cancel this registration",
        "cancel_rule": "Online cancellation is open until",
        "yes_cancel": "Yes, cancel it",
        "cancelled": "The registration is cancelled.",
        "refunded": "Refunded",
    },
}


# What an older patient on a small phone needs of every page, checked in the page as rendered.
AUDIT = """() => {
  const problems = [];
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " +
    JSON.stringify((el.innerText || el.value || "").trim().slice(0, 30));
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (document.documentElement.scrollWidth > innerWidth) problems.push("the page scrolls sideways");
  for (const a of document.querySelectorAll("nav.tabs a")) {
    const r = a.getBoundingClientRect();
    if (r.left < 0 || r.right > innerWidth) problems.push(`tab out of view: ${name(a)}`);
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el) || el.closest("svg")) continue;
    const s = getComputedStyle(el);
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (text) {
      const [a, b] = [lum(rgb(s.color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
      const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      if (ratio < need) problems.push(`contrast ${ratio.toFixed(2)} < ${need}: ${name(el)}`);
    }
    const control = el.matches("button, select, textarea, summary, input:not([type=hidden])");
    const blockLink = el.matches("a") && s.display !== "inline";
    if (control || blockLink) {
      const target = el.matches("input[type=checkbox], input[type=radio]") ? el.closest("label") || el : el;
      const r = target.getBoundingClientRect();
      if (r.width < 44 || r.height < 44) problems.push(`target ${Math.round(r.width)}x${Math.round(r.height)}: ${name(el)}`);
    }
    if (el.matches("input:not([type=hidden]):not([type=submit]), select, textarea")) {
      const labelled = el.labels && el.labels.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
      if (!labelled) problems.push(`no label: ${name(el)}`);
    }
  }
  // Text set twice as large (an older patient's phone setting) still fits the phone's width.
  const root = document.documentElement, size = root.style.fontSize;
  root.style.fontSize = "225%";
  if (root.scrollWidth > innerWidth) {
    const wide = [...document.body.querySelectorAll("*")].filter((e) => e.getBoundingClientRect().right > innerWidth + 1);
    problems.push(`at twice the text size the page scrolls sideways: ${wide.slice(-3).map(name).join(", ")}`);
  }
  root.style.fontSize = size;
  return problems;
}"""


def console_page(  # type: ignore[no-untyped-def]
    chromium, server: str, username: str, *, password: str = "pw-for-tests", locale: str = "zh-CN", width: int = 1280
):
    """A staff member logged in to the console on a desk's screen (``width``×900): the context and its page."""
    context = chromium.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server}/console/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form [type=submit]")
    page.wait_for_load_state()
    return context, page


def phone_page(chromium, language: str, prefix: str = "", *, ours: str | None = None):  # type: ignore[no-untyped-def]
    """A page on a 390×844 phone, and ``shot(name)``: a numbered full-page screenshot under
    ``artifacts/browser/<language>/<prefix>NN-<name>.png`` and the audit of the page shown, when it
    is ours (``ours``: our server's address; a provider's cashier is not audited)."""
    shots = ARTIFACTS / language
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    step = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{prefix}{next(step):02d}-{name}.png"), full_page=True)
        if ours is None or page.url.startswith(ours):
            assert page.evaluate(AUDIT) == [], f"{name}: {page.url}"

    return context, page, shot


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own database reads
    # (through the ORM, synchronously) are still plain blocking calls.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            yield browser
            browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_login_to_a_paid_registration_and_its_cancellation(chromium, live_server, sandbox, language):
    text = LABELS[language]
    h = f.hospital(payment_required=True)
    h.notice, h.notice_en = "请携带身份证原件就诊。", "Bring your ID card to the visit."
    h.save()
    dep = f.department(h, name="心血管内科", parent=f.department(h, name="内科"))
    f.schedule(dep, f.doctor(dep, "王建华"))
    context, page, shot = phone_page(chromium, language, ours=live_server.url)
    # What the Content-Security-Policy refused on the way: Chromium reports each in the console.
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == ("en" if language == "en" else "zh-Hans")
    shot("hospitals")

    page.get_by_role("link", name=re.compile(h.name_en if language == "en" else h.name)).click()
    page.wait_for_load_state()  # htmx (deferred) listens from here on
    page.get_by_placeholder(text["search"]).fill("xxg")  # pinyin initials, answered by htmx as one types
    result = page.locator("#results a", has_text="Cardiology" if language == "en" else "心血管内科")
    result.wait_for()
    shot("search")
    result.click()

    page.locator(".strip a.available").first.click()
    page.locator("a.card.doctor").first.wait_for()
    shot("availability")
    page.locator("a.card.doctor").first.click()
    shot("schedule")

    page.get_by_role("link", name=text["login_to_book"]).click()
    phone = f.phone()
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    code = re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0)
    page.locator("#f-code").fill(code)
    shot("login")
    page.get_by_role("button", name=text["log_in"], exact=True).click()

    page.get_by_role("link", name=text["add_patient"]).click()
    page.get_by_label(text["real_name"]).fill("张伟")
    page.get_by_label(text["id_number"]).fill(f.id_number("19800101"))
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_label(text["relation"]).select_option("self")
    page.locator("#consent input[type=checkbox]").check()  # the separate consent, its text beside it
    shot("patient")
    page.get_by_role("button", name=text["add"], exact=True).click()

    page.get_by_role("button", name=text["hold"]).click()  # the notice not ticked yet
    assert text["notice_error"] in page.locator("#problem").inner_text()
    shot("notice-refused")
    page.get_by_label(text["notice"]).check()
    page.get_by_role("button", name=text["hold"]).click()
    countdown = page.locator("[data-countdown]")
    page.wait_for_function("el => /^1[45]:\\d\\d$/.test(el.textContent)", arg=countdown.element_handle())
    shot("hold")

    page.get_by_role("button", name=text["pay"]).click()
    page.wait_for_url(re.compile(r"/pay/"))
    shot("cashier")
    page.get_by_role("button", name=re.compile("支付 Pay")).click()
    page.wait_for_url(re.compile(r"/registrations/\d+/$"))
    assert text["booked"] in page.locator("#status").inner_text()
    assert page.locator("figure.qr svg").is_visible()
    assert page.locator("#settlement").inner_text() == text["self_pay"]
    registration = Registration.objects.get(phones.matching(phone, "account__phone_hash"))
    assert page.locator("#registration-number").inner_text() == registration.registration_number
    shot("registration")

    page.get_by_role("link", name=text["cancel"]).click()
    assert text["cancel_rule"] in page.locator("main").inner_text()
    shot("cancel-rule")
    page.get_by_role("button", name=text["yes_cancel"]).click()
    assert text["cancelled"] in page.locator("main").inner_text()
    for _ in range(50):  # the sandbox refunds in a moment and notifies
        if text["refunded"] in page.locator("#refund").inner_text():
            break
        page.wait_for_timeout(200)
        page.reload()
    shot("cancelled")
    registration.refresh_from_db()
    assert registration.status == "refunded"
    assert registration.payment.refunds.get().status == RefundStatus.SUCCEEDED
    outbox.deliver_all()  # the worker tells the patient
    for tab in ("registrations", "patients", "messages"):  # the other tabs pass the same audit
        page.goto(f"{live_server.url}/{tab}/")
        shot(tab)
    told = page.locator("main").inner_text()
    assert all(title in told for title in text["told"]), told
    assert refused == []  # every script and style of ours is a file the policy names: nothing inline
    context.close()
