"""A desk's day in Chromium at 1366×900, as hospital staff meet it: the day's figures, an order
found by the patient's ID number, its timeline read, a wrong no-show undone with a reason, and
the statistics page with its charts drawn. Screenshots go to ``artifacts/browser/console-day/``."""

from __future__ import annotations

import pytest

from guahao.booking.models import Registration
from guahao.core.models import AuditEntry
from tests import factories as f
from tests.console.days import make_days
from tests.web.test_browser import ARTIFACTS, chromium, console_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_find_an_order_by_id_number_undo_its_no_show_and_read_the_charts(chromium, live_server):  # noqa: F811
    days = make_days()
    f.staff_member("desk", "operator", days.hospital, password="a-long-pass-phrase-9")
    shots = ARTIFACTS / "console-day"
    shots.mkdir(parents=True, exist_ok=True)
    context, page = console_page(chromium, live_server.url, "desk", password="a-long-pass-phrase-9", width=1366)
    assert page.locator("#dashboard").count() == 1
    assert page.locator("#figure-booked").count() == 1 and page.locator("#figure-clinics").count() == 1
    page.screenshot(path=str(shots / "01-today.png"), full_page=True)

    page.goto(f"{live_server.url}/console/booking/registration/")
    number = days.numbers["r2"]
    page.fill("#id_number", number)
    page.click("#find-id-number button")
    page.wait_for_load_state()
    assert "person=found" in page.url and number not in page.url
    listed = page.content()
    assert days.r["r2"].registration_number in listed and days.r["r1"].registration_number not in listed
    assert number not in listed and number[:6] + "********" + number[-4:] in listed
    page.screenshot(path=str(shots / "02-found-by-id-number.png"), full_page=True)

    page.click(f"text={days.r['r2'].registration_number}")
    page.wait_for_load_state()
    timeline = page.locator("#timeline").inner_text()
    for what in ("锁号", "预约成功", "已标记爽约"):
        assert what in timeline, what
    assert page.locator("#order-status").inner_text() == "爽约"
    page.screenshot(path=str(shots / "03-timeline.png"), full_page=True)

    page.fill("#reason-undo_no_show", "患者已就诊，窗口签到漏记")
    page.click("#do-undo_no_show")
    page.wait_for_load_state()
    assert "已撤销爽约: 1" in page.content()
    page.screenshot(path=str(shots / "04-no-show-undone.png"), full_page=True)
    assert Registration.objects.get(pk=days.r["r2"].pk).status == "visited"
    entry = AuditEntry.objects.get(action="registration.no_show_undone")
    assert (entry.actor, entry.reason) == ("desk", "患者已就诊，窗口签到漏记")

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/console/stats/?from={days.day1.isoformat()}&to={days.day2.isoformat()}")
    page.wait_for_function("document.querySelectorAll('.stats-chart[data-drawn=yes]').length >= 9")
    charts = page.locator(".stats-chart[data-drawn=yes]")
    assert charts.count() == page.locator(".stats-chart").count() >= 9
    assert page.locator("#chart-department canvas").count() == 1
    assert page.locator("[data-total=booked]").inner_text() == "5"
    assert page.locator("[data-total=no_show]").inner_text() == "1"  # one no-show undone
    assert errors == []  # the console's own scripts leave the charts alone
    assert "申请日" in page.locator("#chart-card-refunds").inner_text()  # refunds count by the money's day
    page.screenshot(path=str(shots / "05-statistics.png"), full_page=True)

    page.goto(f"{live_server.url}/console/core/auditentry/")
    assert "患者已就诊，窗口签到漏记" in page.content() and "撤销爽约" in page.content()
    page.screenshot(path=str(shots / "06-audit-log.png"), full_page=True)
    context.close()
