"""The statistics, number by number, against registrations made for the purpose (tests/console/
days.py): what the console's charts and the staff API show."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from guahao.booking import stats
from guahao.booking.models import Hold
from guahao.payments import stats as money_stats
from guahao.scheduling.models import RuleSet
from guahao.scheduling.rules import release_at, rules_for, rules_for_schedule, rules_table
from tests import factories as f
from tests.console.days import counts, make_days

pytestmark = pytest.mark.django_db


@pytest.fixture
def days():
    return make_days()


def _filter(days, **kw) -> stats.StatsFilter:
    return stats.StatsFilter(
        date_from=kw.pop("date_from", days.day1 - dt.timedelta(days=1)),
        date_to=kw.pop("date_to", days.day2),
        hospital_ids=frozenset({days.hospital.pk}),
        **kw,
    )


def test_totals_days_departments_and_doctors_count_each_registration_once(days):
    f = _filter(days)
    assert stats.totals(f) == counts(5, 1, 2, 2) | {"relief": 0}
    by_day = stats.by_day(f)
    assert [row["key"] for row in by_day] == [
        (days.day1 - dt.timedelta(days=1)).isoformat(),
        days.day1.isoformat(),
        days.day2.isoformat(),
    ]
    assert by_day[0] == {"key": by_day[0]["key"], **counts(0, 0, 0, 0)}
    assert by_day[1] == {"key": days.day1.isoformat(), **counts(3, 1, 1, 1)}
    assert by_day[2] == {"key": days.day2.isoformat(), **counts(2, 0, 1, 1)}
    assert stats.by_department(f) == [
        {"key": "内科", "id": days.internal.pk, **counts(3, 1, 1, 1)},
        {"key": "外科", "id": days.surgery.pk, **counts(2, 0, 1, 1)},
    ]
    doctors = sorted(stats.by_doctor(f), key=lambda row: row["id"] or 0)
    assert doctors == [
        {"key": None, "id": None, **counts(2, 0, 1, 1)},  # the general clinic
        {"key": "王建华", "id": days.doctor.pk, **counts(3, 1, 1, 1)},
    ]


def test_weekdays_and_age_bands_count_by_the_visit_day(days):
    f = _filter(days)
    expected = {d: counts(0, 0, 0, 0) for d in range(1, 8)}
    expected[days.day1.isoweekday()] = counts(3, 1, 1, 1)
    expected[days.day2.isoweekday()] = counts(2, 0, 1, 1)
    assert stats.by_weekday(f) == [{"key": d, **expected[d]} for d in range(1, 8)]
    # 65 on the day itself; 12 the day before turning 13; 36; 46; 8.
    assert stats.by_age(f) == [
        {"key": "0-12", **counts(2, 0, 2, 0)},
        {"key": "13-17", **counts(0, 0, 0, 0)},
        {"key": "18-39", **counts(1, 1, 0, 0)},
        {"key": "40-64", **counts(1, 0, 0, 1)},
        {"key": "65+", **counts(1, 0, 0, 1)},
    ]


def test_a_department_filter_and_another_hospital_narrow_the_numbers(days):
    assert stats.totals(_filter(days, department_id=days.internal.pk)) == counts(3, 1, 1, 1) | {"relief": 0}
    other = stats.StatsFilter(days.day1, days.day2, frozenset({days.other.pk}))
    assert stats.totals(other) == counts(1, 0, 1, 0) | {"relief": 0}
    everyone = stats.StatsFilter(days.day1, days.day2, None)
    assert stats.totals(everyone)["booked"] == 6
    assert stats.totals(_filter(days, date_from=days.day2))["booked"] == 2


def test_fill_rates_and_how_fast_a_release_sold_out(days):
    fill = stats.fill_rates(_filter(days))
    assert (fill["capacity"], fill["taken"], fill["fill_rate"]) == (12, 4, 0.3333)
    assert [(c["id"], c["capacity"], c["taken"], c["fill_rate"]) for c in fill["clinics"]] == [
        (days.clinic1.pk, 10, 2, 0.2),  # r3's number went back when it was cancelled
        (days.clinic2.pk, 2, 2, 1.0),
    ]
    sold = stats.sell_outs(_filter(days))
    assert [s["id"] for s in sold] == [days.clinic2.pk]  # the only clinic with no online number left
    last = Hold.objects.filter(schedule=days.clinic2, status="confirmed").order_by("created_at").last()
    opened = release_at(days.clinic2, rules_for_schedule(days.clinic2)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert sold[0]["seconds"] == int((last.created_at - opened).total_seconds())
    assert sold[0]["released_at"] == opened.isoformat() and sold[0]["online"] == 2


def test_payment_methods_and_refund_amounts(days):
    f = _filter(days)
    assert money_stats.by_payment_method(f) == [
        {"key": "alipay", "booked": 1, "cancelled": 0, "no_show": 0, "paid_fen": 1000},
        {"key": "none", "booked": 2, "cancelled": 0, "no_show": 2, "paid_fen": 0},
        {"key": "wechat", "booked": 2, "cancelled": 1, "no_show": 0, "paid_fen": 10200},
    ]
    refunds = money_stats.refunds(f, "Asia/Shanghai")
    asked = (days.day1 - dt.timedelta(days=1)).isoformat()
    assert refunds["total"] == {"count": 1, "refunded_fen": 5100, "pending_fen": 0, "failed_fen": 0}
    assert [(d["key"], d["refunded_fen"]) for d in refunds["by_day"]] == [
        (asked, 5100),
        (days.day1.isoformat(), 0),
        (days.day2.isoformat(), 0),
    ]
    assert refunds["by_reason"] == [
        {"key": "cancelled", "count": 1, "refunded_fen": 5100, "pending_fen": 0, "failed_fen": 0}
    ]


def test_the_rules_read_once_for_a_range_are_those_of_each_clinic():
    h = f.hospital(days_ahead=7)
    parent = f.department(h, "内科")
    child = f.department(h, "心内科", parent=parent)
    doc = f.doctor(child)
    RuleSet.objects.create(hospital=h, department=parent, days_ahead=14, release_time=dt.time(8, 0))
    RuleSet.objects.create(hospital=h, department=child, hold_minutes=10)
    RuleSet.objects.create(hospital=h, doctor=doc, release_time=dt.time(15, 0))
    table = rules_table(h)
    for department, doctor_id in ((parent, None), (child, None), (child, doc.pk)):
        assert table(department.pk, doctor_id) == rules_for(hospital=h, department=department, doctor_id=doctor_id)
    assert (table(child.pk, doc.pk).days_ahead, table(child.pk, doc.pk).release_time) == (14, dt.time(15, 0))
