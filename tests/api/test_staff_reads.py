"""The staff API's reads for hospitals that build their own screens: registrations found as the
console finds them, one order's timeline, and the statistics' numbers (the same as the console's,
checked against rows made for the purpose)."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts.services import staff_token_create
from guahao.core import clock
from tests import factories as f
from tests.console.days import TZ, counts, make_days

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    days = make_days()
    api = f.Api()
    api.token = staff_token_create(user=f.staff_member("screen", "viewer", days.hospital), label="screen")
    return days, api


def test_registrations_are_found_by_id_number_phone_and_status_masked(desk):
    days, api = desk
    status, found = api.call("GET", f"/staff/registrations?q={days.numbers['r2']}")
    assert status == 200 and [r["registration_number"] for r in found] == [days.r["r2"].registration_number]
    row = found[0]
    number = days.numbers["r2"]
    assert row["id_number_masked"] == number[:6] + "********" + number[-4:] and number not in repr(found)
    assert (row["status"], row["patient_name"], row["department"], row["slot_number"]) == ("no_show", "钱二", "内科", 2)
    assert row["starts_at"].endswith("+08:00") and row["starts_at"][11:16] == "08:00"
    _, by_phone = api.call("GET", f"/staff/registrations?q={days.phones['r4']}")
    assert [r["payment_method"] for r in by_phone] == ["alipay"]
    # As the number is written down or read out: dashes, spaces, +86 (a "+" in an address is a space).
    bare = days.phones["r4"]
    for written in (f"{bare[:3]}-{bare[3:7]}-{bare[7:]}", f"+86 {bare[:3]} {bare[3:7]} {bare[7:]}", f"(0086){bare}"):
        _, found = api.call("POST", "/staff/registrations/search", {"q": written})
        assert [r["payment_method"] for r in found] == ["alipay"], written
    _, found = api.call("GET", f"/staff/registrations?q=%2B86{bare}")
    assert [r["payment_method"] for r in found] == ["alipay"]
    _, found = api.call("GET", f"/staff/registrations?q=+86{bare}")
    assert [r["payment_method"] for r in found] == ["alipay"]
    # A NUL listed every order on SQLite (its LIKE stops at it): refused, naming the field.
    status, refused = api.call("POST", "/staff/registrations/search", {"q": "\u0000"})
    assert (status, refused["field"]) == (422, "q") and "控制字符" in refused["detail"], refused
    _, no_shows = api.call("GET", f"/staff/registrations?status=no_show&from={days.day2.isoformat()}")
    assert [r["registration_number"] for r in no_shows] == [days.r["r5"].registration_number]
    assert api.call("GET", "/staff/registrations?limit=501")[0] == 422


def test_an_id_number_is_searched_for_in_the_body_and_found_as_by_the_address(desk):
    days, api = desk
    number = days.numbers["r2"]
    status, found = api.call("POST", "/staff/registrations/search", {"q": number})
    assert status == 200 and [r["registration_number"] for r in found] == [days.r["r2"].registration_number]
    assert found == api.call("GET", f"/staff/registrations?q={number}")[1]
    assert number not in repr(found) and found[0]["id_number_masked"] == number[:6] + "********" + number[-4:]
    _, no_shows = api.call("POST", "/staff/registrations/search", {"status": "no_show", "from": days.day2.isoformat()})
    assert [r["registration_number"] for r in no_shows] == [days.r["r5"].registration_number]
    status, refused = api.call("POST", "/staff/registrations/search", {"limit": 501})
    assert status == 422 and refused["field"] == "limit"
    assert api.call("POST", "/staff/registrations/search", {"status": "lost"})[1]["field"] == "status"


def test_payments_are_listed_by_the_days_paid_on_the_hospitals_clock_with_what_went_back(desk):
    days, api = desk
    # Paid at 00:30 in Beijing: the day before in UTC, the hospital's day1 on its statement.
    at = clock.at_local(days.day1, dt.time(0, 30), TZ)
    f.paid(account=days.r["r1"].account, hospital=days.hospital, fen=2000, number="TNIGHT", at=at)
    status, listed = api.call("GET", "/staff/payments")
    assert status == 200, listed
    by_number = {p["out_trade_no"]: p for p in listed}
    number = {k: f"T{days.r[k].registration_number}" for k in ("r1", "r3", "r4")}
    assert set(by_number) == {*number.values(), "TNIGHT"}  # the other hospital's are not listed
    refunded = by_number[number["r3"]]
    assert (refunded["status"], refunded["amount_fen"], refunded["refunded_fen"]) == ("paid", 5100, 5100)
    assert [(r["status"], r["reason"]) for r in refunded["refunds"]] == [("succeeded", "cancelled")]
    night = by_number["TNIGHT"]
    assert night["registration_number"] is None and night["online"] is True
    assert night["paid_at"].endswith("+08:00") and night["paid_at"][:16] == f"{days.day1}T00:30"
    _, paid_day1 = api.call("GET", f"/staff/payments?from={days.day1}&to={days.day1}")
    assert sorted(p["out_trade_no"] for p in paid_day1) == sorted([number["r4"], "TNIGHT"])
    the_day_before = (days.day1 - dt.timedelta(days=1)).isoformat()
    _, paid_before = api.call("GET", f"/staff/payments?from={the_day_before}&to={the_day_before}")
    assert sorted(p["out_trade_no"] for p in paid_before) == sorted([number["r1"], number["r3"]])
    _, by_alipay = api.call("GET", "/staff/payments?method=alipay")
    assert [p["out_trade_no"] for p in by_alipay] == [number["r4"]]
    status, refused = api.call("GET", f"/staff/payments?from={days.day2}&to={days.day1}")
    assert status == 422 and refused["field"] == "from"


def test_one_order_answers_its_timeline(desk):
    days, api = desk
    status, order = api.call("GET", f"/staff/registrations/{days.r['r1'].pk}")
    assert status == 200
    assert [e["kind"] for e in order["timeline"]] == [
        "hold.created",
        "hold.confirmed",
        "registration.booked",
        "registration.checked_in",
        "registration.visited",
    ]


def test_the_statistics_answer_the_consoles_numbers(desk):
    days, api = desk
    frm = (days.day1 - dt.timedelta(days=1)).isoformat()
    status, numbers = api.call("GET", f"/staff/stats?from={frm}&to={days.day2.isoformat()}")
    assert status == 200, numbers
    assert numbers["hospital_id"] == str(days.hospital.pk) and numbers["from"] == frm
    assert numbers["totals"] == counts(5, 1, 2, 2) | {"relief": 0}
    assert [(d["key"], d["booked"], d["no_show"]) for d in numbers["by_department"]] == [("内科", 3, 1), ("外科", 2, 1)]
    assert [a["booked"] for a in numbers["by_age"]] == [2, 0, 1, 1, 1]
    assert [(m["key"], m["paid_fen"]) for m in numbers["by_payment_method"]] == [
        ("alipay", 1000),
        ("none", 0),
        ("wechat", 10200),
    ]
    assert (numbers["fill_rate"]["capacity"], numbers["fill_rate"]["taken"]) == (12, 4)
    assert [s["id"] for s in numbers["sell_outs"]] == [str(days.clinic2.pk)]  # ids are strings, as API.md says
    assert {d["id"] for d in numbers["by_department"]} == {str(days.internal.pk), str(days.surgery.pk)}
    assert all(isinstance(c["id"], str) for c in numbers["fill_rate"]["clinics"])
    assert all(d["id"] is None or isinstance(d["id"], str) for d in numbers["by_doctor"])
    assert numbers["refunds"]["total"]["refunded_fen"] == 5100
    _, internal = api.call(
        "GET", f"/staff/stats?from={frm}&to={days.day2.isoformat()}&department_id={days.internal.pk}"
    )
    assert internal["totals"] == counts(3, 1, 1, 1) | {"relief": 0}
    status, problem = api.call("GET", f"/staff/stats?from={days.day2.isoformat()}&to={frm}")
    assert (status, problem["field"]) == (422, "from")


def test_the_reads_are_in_the_openapi_document():
    paths = f.Api().call("GET", "/openapi.json")[1]["paths"]
    for path in ("/api/v1/staff/registrations", "/api/v1/staff/registrations/{registration_id}", "/api/v1/staff/stats"):
        assert "get" in paths[path], path
