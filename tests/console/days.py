"""Two past clinic days of one hospital with outcomes known in advance, made through the services
at the hours they happen (booked the day before, checked in, cancelled, marked no-show after
the session), for the statistics, the console's orders and the browser run.

Visit day 1 (three days ago), 内科, 王建华, 10 numbers:
  r1 65 on the day (born on it), visited, paid ¥51.00 by WeChat Pay
  r2 12 (13 tomorrow), no-show
  r3 36, cancelled by the patient the day before, paid ¥51.00 by WeChat Pay, refunded
Visit day 2 (two days ago), 外科, general clinic, 2 numbers (sold out):
  r4 46, visited, paid ¥10.00 by Alipay
  r5 8, no-show
And one registration of another hospital on day 1, never counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from guahao.accounts.models import Patient
from guahao.booking import services as booking
from guahao.booking.models import Registration
from guahao.catalog.models import Department, Doctor, Hospital
from guahao.core import clock
from guahao.payments.models import Payment, Refund
from guahao.scheduling.models import Schedule
from tests import factories as f

TZ = "Asia/Shanghai"


def _born(day: dt.date, years: int, later_days: int = 0) -> str:
    """A birth date ``years`` before ``day`` (plus ``later_days``: not yet that old)."""
    try:
        born = day.replace(year=day.year - years)
    except ValueError:  # 29 February
        born = day.replace(year=day.year - years, day=28)
    return (born + dt.timedelta(days=later_days)).strftime("%Y%m%d")


@dataclass
class Days:
    hospital: Hospital
    other: Hospital
    internal: Department
    surgery: Department
    doctor: Doctor
    day1: dt.date
    day2: dt.date
    clinic1: Schedule
    clinic2: Schedule
    r: dict[str, Registration]
    numbers: dict[str, str]  # the patients' full ID numbers (for the search)
    phones: dict[str, str]  # their accounts' phones


def _book(clinic: Schedule, number: str, name: str) -> tuple[Registration, str]:
    account = f.account()
    patient = f.patient(account, number=number, name=name)
    hold = booking.hold_create(account=account, patient=patient, schedule=clinic)
    return booking.hold_confirm(hold=hold), account.phone


def _paid(r: Registration, method: str, fen: int, paid_at: dt.datetime) -> Payment:
    return f.paid(r, fen=fen, number=f"T{r.registration_number}", method=method, at=paid_at)


def make_days(names: dict[str, str] | None = None) -> Days:
    names = names or {"r1": "赵一", "r2": "钱二", "r3": "孙三", "r4": "李四", "r5": "周五"}
    today = clock.local_today(TZ)
    day1, day2 = today - dt.timedelta(days=3), today - dt.timedelta(days=2)
    h = f.hospital()
    Hospital.objects.filter(pk=h.pk).update(name="仁和测试医院")
    h.refresh_from_db()
    other = f.hospital()
    internal = f.department(h, "内科")
    surgery = f.department(h, "外科")
    doctor = f.doctor(internal, "王建华")
    numbers = {
        "r1": f.id_number(_born(day1, 65)),
        "r2": f.id_number(_born(day1, 13, later_days=1)),
        "r3": f.id_number(_born(day1, 36)),
        "r4": f.id_number(_born(day2, 46)),
        "r5": f.id_number(_born(day2, 8)),
    }
    r: dict[str, Registration] = {}
    phones: dict[str, str] = {}
    with clock.travel(clock.at_local(day1 - dt.timedelta(days=1), dt.time(10, 0), TZ)):
        clinic1 = f.schedule(internal, doctor, day=day1)
        clinic2 = f.schedule(surgery, None, day=day2, slots_per_period=1)
        for key in ("r1", "r2", "r3"):
            r[key], phones[key] = _book(clinic1, numbers[key], names[key])
        _paid(r["r1"], "wechat", 5100, clock.now())
        paid3 = _paid(r["r3"], "wechat", 5100, clock.now())
        other_clinic = f.schedule(f.department(other, "乙方内科"), None, day=day1)
        _book(other_clinic, f.id_number(), "乙方患者")
        patient_actor = booking.Actor.patient(r["r3"].account)
        booking.registration_cancel(registration=r["r3"], actor=patient_actor)
        Refund.objects.create(
            payment=paid3,
            out_refund_no=f"R{r['r3'].registration_number}",
            amount_fen=5100,
            reason="cancelled",
            status="succeeded",
            created_at=clock.now(),
            finished_at=clock.now(),
        )
    with clock.travel(clock.at_local(day2 - dt.timedelta(days=1), dt.time(10, 0), TZ)):
        for key in ("r4", "r5"):
            r[key], phones[key] = _book(clinic2, numbers[key], names[key])
        _paid(r["r4"], "alipay", 1000, clock.now())
    desk = booking.SYSTEM
    with clock.travel(clock.at_local(day1, dt.time(8, 10), TZ)):
        booking.registration_check_in(registration=r["r1"], actor=desk)
        booking.registration_mark_visited(registration=r["r1"], actor=desk)
    with clock.travel(clock.at_local(day1, dt.time(12, 0), TZ)):
        booking.registrations_mark_no_show()
    with clock.travel(clock.at_local(day2, dt.time(8, 10), TZ)):
        booking.registration_check_in(registration=r["r4"], actor=desk)
        booking.registration_mark_visited(registration=r["r4"], actor=desk)
    with clock.travel(clock.at_local(day2, dt.time(12, 0), TZ)):
        booking.registrations_mark_no_show()
    for key in r:
        r[key].refresh_from_db()
    return Days(h, other, internal, surgery, doctor, day1, day2, clinic1, clinic2, r, numbers, phones)


def patient_of(days: Days, key: str) -> Patient:
    return days.r[key].patient


def counts(booked: int, cancelled: int, no_show: int, came: int) -> dict[str, Any]:
    kept = booked - cancelled
    return {
        "booked": booked,
        "cancelled": cancelled,
        "no_show": no_show,
        "came": came,
        "no_show_rate": round(no_show / kept, 4) if kept else 0.0,
        "cancel_rate": round(cancelled / booked, 4) if booked else 0.0,
    }
