"""The frame of the web app at 390×844 in Chromium, in both languages: the tabs on one line, the
day picked kept in view in the day strip, a clinic's half hours as a grid, and our own 404 page. Screenshots: ``artifacts/browser/<language>/layout-*.png``."""

from __future__ import annotations

import datetime as dt

import pytest

from tests import factories as f
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_tabs_on_one_line_the_picked_day_in_view_and_a_branded_404(chromium, live_server, language):  # noqa: F811
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    last = f.today() + dt.timedelta(days=6)
    clinic = f.schedule(dep, doctor, day=last)
    shots = ARTIFACTS / language
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"layout-{name}.png"), full_page=False)
        assert page.evaluate(AUDIT) == [], f"{name}: {page.url}"

    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    tabs = page.locator("nav.tabs a")
    boxes = [tabs.nth(i).bounding_box() for i in range(tabs.count())]
    assert len({round(b["height"]) for b in boxes}) == 1 and boxes[0]["height"] < 56  # one line each
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= 390 for b in boxes)

    page.goto(f"{live_server.url}/departments/{dep.pk}/?days=14&day={last:%Y-%m-%d}")
    page.wait_for_load_state("load")
    picked = page.locator(".strip a[aria-current=date]").bounding_box()
    assert 0 <= picked["x"] and picked["x"] + picked["width"] <= 390  # scrolled into view
    shot("picked-day")

    page.goto(f"{live_server.url}/schedules/{clinic.pk}/")
    first, second = (page.locator("label.period").nth(i).bounding_box() for i in (0, 1))
    assert first["y"] == second["y"] and second["x"] > first["x"]  # the half hours side by side
    shot("periods")

    page.goto(f"{live_server.url}/no-such-page/")
    assert page.locator("p.code").inner_text() == "404"
    shot("404")
    context.close()
