"""Lighthouse-style checks in Chromium on a throttled mobile network: each main patient page's
first visit (empty cache) transfers at most 100 KB and paints its first content within 1 s, and
the hold page's countdown moves nothing on the page (cumulative layout shift 0).

The network is Lighthouse's mobile profile (what its docs call "Fast 3G" / slow 4G): 150 ms round
trip, 1.6 Mbit/s down, 750 kbit/s up, set through the DevTools protocol
(``Network.emulateNetworkConditions``) with the browser cache off, so every page is a first visit.
Transferred bytes are the protocol's ``encodedDataLength`` of every response the page loads
(headers included); first contentful paint and layout shifts come from the page's own
PerformanceObserver. The server is warmed first (Django's first render of a template is not what
a patient meets). Screenshots: ``artifacts/browser/performance/``."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from guahao.scheduling.models import Session
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)

MOBILE_3G = {
    "offline": False,
    "latency": 150,  # ms, round trip
    "downloadThroughput": 1.6 * 1024 * 1024 / 8,  # bytes/s
    "uploadThroughput": 750 * 1024 / 8,
}
BUDGET_BYTES = 100 * 1024
BUDGET_FCP_MS = 1000

# Collected from the page's start: paints and layout shifts (not those right after input).
OBSERVE = """
window.__shifts = 0;
window.__fcp = null;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shifts += e.value;
}).observe({ type: "layout-shift", buffered: true });
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.name === "first-contentful-paint") window.__fcp = e.startTime;
}).observe({ type: "paint", buffered: true });
"""


def _throttled(chromium, cookies: list | None = None):  # type: ignore[no-untyped-def]  # noqa: F811
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    if cookies:
        context.add_cookies(cookies)
    context.add_init_script(OBSERVE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", MOBILE_3G)
    loaded: list[float] = []
    cdp.on("Network.loadingFinished", lambda e: loaded.append(e["encodedDataLength"]))
    return context, page, loaded


def _visit(page, loaded: list[float], url: str) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    loaded.clear()
    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.__fcp !== null")  # a function: the CSP forbids eval
    page.wait_for_timeout(200)  # the last loadingFinished events of the page
    return int(sum(loaded)), float(page.evaluate("() => window.__fcp"))


def test_each_main_page_first_visit_is_light_and_paints_within_a_second_on_3g(chromium, live_server):  # noqa: F811
    h = f.hospital()
    h.notice = "请携带身份证原件就诊。" * 20
    h.save()
    dep = f.department(h, "心血管内科", parent=f.department(h, "内科"))
    doctor = f.doctor(dep)
    clinic = f.schedule(dep, doctor)
    for d in range(2, 14):
        f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=d))
    phone = f.phone()
    app = f.Api().login(phone)
    _, hold = app.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": app.add_patient()})
    _, booked = app.call("POST", f"/holds/{hold['id']}/confirm", {})
    base = live_server.url
    pages = {
        "home": "/",
        "hospital": f"/hospitals/{h.pk}/",
        "search": f"/hospitals/{h.pk}/?q=xxg",
        "department": f"/departments/{dep.pk}/",
        "doctor": f"/doctors/{doctor.pk}/",
        "clinic": f"/schedules/{clinic.pk}/",
        "login": "/login/",
        "registrations": "/registrations/",
        "registration": f"/registrations/{booked['id']}/",
        "patients": "/patients/",
        "messages": "/messages/",
    }

    # log in (unthrottled) and warm every page once
    warm = chromium.new_context()
    w = warm.new_page()
    w.goto(f"{base}/login/")
    w.fill("input[name=phone]", phone)
    w.click("button[name=step][value=phone]")
    w.fill("#f-code", re.search(r"\d{6}", w.locator(".notice").inner_text()).group(0))
    w.click("button[name=step][value=code]")
    w.wait_for_load_state()
    for path in pages.values():
        w.goto(base + path)
    cookies = warm.cookies()
    warm.close()

    shots = ARTIFACTS / "performance"
    shots.mkdir(parents=True, exist_ok=True)
    measured = {}
    context, page, loaded = _throttled(chromium, cookies)
    for name, path in pages.items():
        measured[name] = _visit(page, loaded, base + path)
    page.screenshot(path=str(shots / "messages-3g.png"))
    context.close()

    print("first visits on 3G (bytes, first contentful paint ms):", measured)
    heavy = {n: b for n, (b, _) in measured.items() if b > BUDGET_BYTES}
    slow = {n: round(ms) for n, (_, ms) in measured.items() if ms > BUDGET_FCP_MS}
    assert heavy == {} and slow == {}, measured
    assert all(b > 5_000 for b, _ in measured.values()), measured  # the CSS and page were counted


def test_the_hold_countdown_shifts_nothing(chromium, live_server):  # noqa: F811
    dep = f.department(f.hospital(payment_required=True))
    clinic = f.schedule(dep, f.doctor(dep), day=f.today(), session=Session.PM, start=dt.time(14), end=dt.time(15))
    phone = f.phone()
    app = f.Api().login(phone)
    _, hold = app.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": app.add_patient()})
    for language in ("zh-hans", "en"):
        context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
        context.add_init_script(OBSERVE)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/login/?next=/holds/{hold['id']}/")
        if language == "en":
            page.get_by_role("button", name="English").click()
        page.fill("input[name=phone]", phone)
        page.click("button[name=step][value=phone]")
        page.fill("#f-code", re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0))
        page.click("button[name=step][value=code]")
        page.wait_for_url(re.compile(rf"/holds/{hold['id']}/"))
        first = page.locator("[data-countdown]").inner_text()
        page.wait_for_function(
            "t => document.querySelector('[data-countdown]').textContent !== t", arg=first, timeout=3_000
        )
        page.wait_for_timeout(1_200)  # another tick
        assert re.fullmatch(r"1[45]:\d\d", first)
        assert page.evaluate("() => window.__shifts") == 0, language
        context.close()
