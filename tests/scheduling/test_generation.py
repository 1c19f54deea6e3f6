"""Weekly templates give clinics for the weeks staff choose: previewed, then published once."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from guahao.catalog.models import Title
from guahao.core import clock
from guahao.core.problems import Problem
from guahao.scheduling import errors
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import CalendarDay, Pool, Schedule, ScheduleEvent, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db


def next_weekday(weekday: int) -> dt.date:
    """The first such weekday after today (never today, so its hours are all ahead)."""
    day = f.today() + dt.timedelta(days=1)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def template(dep, doctor=None, **fields):
    values = {
        "department": dep,
        "doctor": doctor,
        "weekday": 0,
        "session": "am",
        "start": dt.time(8, 0),
        "end": dt.time(10, 0),
        "period_minutes": 30,
        "slots_per_period": 4,
        "valid_from": f.today(),
        "location": "门诊二楼 203",
    }
    return scheduling.template_create(hospital=dep.hospital, **(values | fields))


def generate(h, *, weeks=2, dry_run=False, start=None, **options):
    """The weeks from tomorrow: they hold the next such weekday and the ones after it whatever
    today is (from today, on a Monday, two weeks hold only one Monday still ahead)."""
    start = start or f.today() + dt.timedelta(days=1)
    return scheduling.schedules_generate(
        hospital=h, start=start, days=weeks * 7, actor="desk", dry_run=dry_run, **options
    )


def test_preview_creates_nothing_and_publish_creates_what_it_showed_once():
    h = f.hospital(platform_share_percent=75)
    dep = f.department(h)
    doctor = f.doctor(dep)
    t = template(dep, doctor, weekday=0)
    monday = next_weekday(0)

    preview = generate(h, dry_run=True)
    assert [(p.date, p.outcome) for p in preview.created] == [
        (monday, "create"),
        (monday + dt.timedelta(days=7), "create"),
    ]
    assert Schedule.objects.count() == 0

    published = generate(h)
    made = Schedule.objects.order_by("date")
    assert [(s.date, s.template_id, s.location) for s in made] == [
        (monday, t.pk, "门诊二楼 203"),
        (monday + dt.timedelta(days=7), t.pk, "门诊二楼 203"),
    ]
    assert [p.schedule_id for p in published.created] == [s.pk for s in made]
    first = made[0]
    assert (first.registration_fee_fen, first.consultation_fee_fen) == (100, 5000)  # the chief's fee
    local = lambda when: when.astimezone(ZoneInfo(h.timezone)).strftime("%H:%M")  # noqa: E731
    assert (local(first.starts_at), local(first.ends_at)) == ("08:00", "10:00")
    # four periods of four numbers; three of each four online (75 %), the first of each period
    assert first.periods.count() == 4
    pools = list(Slot.objects.filter(schedule=first).order_by("number").values_list("pool", flat=True))
    assert pools == [Pool.PLATFORM, Pool.PLATFORM, Pool.PLATFORM, Pool.ONSITE] * 4
    assert ScheduleEvent.objects.filter(kind="generated", actor="desk").count() == 2

    again = generate(h)
    assert again.created == []
    assert [p.outcome for p in again.skipped] == ["exists", "exists"]
    assert Schedule.objects.count() == 2


def test_the_templates_share_overrides_the_rules_and_the_fee_title_the_doctors():
    h = f.hospital(platform_share_percent=75)
    dep = f.department(h)
    template(dep, f.doctor(dep), platform_share_percent=50, fee_title=Title.GENERAL, slots_per_period=2)
    generate(h, weeks=1)
    s = Schedule.objects.get()
    assert (s.registration_fee_fen, s.consultation_fee_fen) == (0, 1000)
    assert Slot.objects.filter(schedule=s, pool=Pool.PLATFORM).count() == 4  # one of each two
    assert Slot.objects.filter(schedule=s, pool=Pool.ONSITE).count() == 4


def test_holidays_closures_and_validity_dates_skip_days():
    h = f.hospital()
    dep = f.department(h)
    other = f.department(h, "呼吸内科")
    monday = next_weekday(0)
    template(dep, f.doctor(dep), weekday=0, valid_until=monday + dt.timedelta(days=14))
    template(other, f.doctor(other, "李明"), weekday=0)
    CalendarDay.objects.create(hospital=h, date=monday, name="元旦")
    CalendarDay.objects.create(
        hospital=h, department=other, date=monday + dt.timedelta(days=7), kind="closure", name="装修"
    )

    result = generate(h, weeks=4)

    made = sorted((s.department.name, s.date) for s in Schedule.objects.select_related("department"))
    assert made == [
        ("呼吸内科", monday + dt.timedelta(days=14)),
        ("呼吸内科", monday + dt.timedelta(days=21)),
        ("心血管内科", monday + dt.timedelta(days=7)),
        ("心血管内科", monday + dt.timedelta(days=14)),
    ]
    closed = sorted((p.template.department.name, p.date, p.detail) for p in result.skipped)
    assert closed == [
        ("呼吸内科", monday, "元旦"),
        ("呼吸内科", monday + dt.timedelta(days=7), "装修"),
        ("心血管内科", monday, "元旦"),
    ]


def test_a_doctor_in_two_places_at_once_clashes_and_is_not_created():
    h = f.hospital()
    dep = f.department(h)
    ward = f.department(h, "特需门诊")
    doctor = f.doctor(dep)
    template(dep, doctor, weekday=1, start=dt.time(8, 0), end=dt.time(11, 0))
    template(ward, doctor, weekday=1, session="am", start=dt.time(10, 0), end=dt.time(12, 0))
    template(dep, doctor, weekday=1, session="pm", start=dt.time(10, 30), end=dt.time(15, 0))  # overlaps AM
    tuesday = next_weekday(1)
    # and one clinic already made by hand on the Tuesday after
    later = tuesday + dt.timedelta(days=7)
    f.schedule(ward, doctor, day=later, start=dt.time(9, 0), end=dt.time(9, 30))

    preview = generate(h, weeks=2, dry_run=True)
    created = [(p.date, p.template.department.name, p.template.session) for p in preview.created]
    assert created == [(tuesday, "心血管内科", "am"), (later, "心血管内科", "pm")]
    clashing = sorted((p.date, p.template.department.name, p.template.session) for p in preview.clashes)
    assert clashing == [
        (tuesday, "心血管内科", "pm"),  # with the morning it runs into
        (tuesday, "特需门诊", "am"),  # the same doctor in another department
        (later, "心血管内科", "am"),  # with the clinic made by hand at 09:00
    ]
    # the existing clinic of the same doctor, department and session exists (and differs)
    assert [(p.date, p.outcome, sorted(p.differences)) for p in preview.skipped] == [
        (later, "differs", ["capacity", "location", "time"])
    ]

    generate(h, weeks=2)
    assert Schedule.objects.count() == 3  # the two to create, and the one made by hand


def test_generation_holds_the_wall_clock_in_a_zone_without_daylight_saving_all_year():
    """Asia/Shanghai has no DST: 08:00 is 00:00 UTC in January as in July."""
    h = f.hospital()
    dep = f.department(h)
    template(dep, f.doctor(dep), weekday=0, valid_from=dt.date(2027, 1, 1))
    for month in (1, 7):
        first = dt.date(2027, month, 1)
        with clock.travel(clock.at_local(first, dt.time(9, 0), h.timezone)):
            generate(h, weeks=1, start=first)
    starts = sorted(Schedule.objects.values_list("starts_at", flat=True))
    assert [(s.month, s.hour, s.minute) for s in starts] == [(1, 0, 0), (7, 0, 0)]


@pytest.mark.clock("10:00")  # the morning clinic is over, the afternoon's ahead
def test_days_already_past_are_never_generated():
    h = f.hospital()
    dep = f.department(h)
    today = f.today().weekday()
    template(dep, f.doctor(dep), weekday=today, valid_from=f.today() - dt.timedelta(days=30))  # 08:00-10:00
    template(dep, f.doctor(dep, "李明"), weekday=today, session="pm", start=dt.time(14, 0), end=dt.time(16, 0))
    generate(h, weeks=3, start=f.today() - dt.timedelta(days=14))  # at 10:00: the morning is over
    made = list(Schedule.objects.values_list("date", "session"))
    assert made == [(f.today(), "pm")]


def test_a_template_with_bad_values_is_refused_naming_the_field_and_nothing_is_saved():
    h = f.hospital()
    dep = f.department(h)
    elsewhere = f.doctor(f.department(f.hospital(), "外院科室"))
    for fields, field in [
        ({"end": dt.time(7, 0)}, "end"),
        ({"doctor": elsewhere}, "doctor_id"),
        ({"weekday": 7}, "weekday"),
        ({"platform_share_percent": 120}, "platform_share_percent"),
        ({"valid_until": f.today() - dt.timedelta(days=1)}, "valid_until"),
    ]:
        with pytest.raises(Problem) as refused:
            template(dep, **fields)
        assert (refused.value.code, refused.value.extra["field"]) == (errors.TEMPLATE_INVALID.code, field)
    assert not dep.schedule_templates.exists()


@pytest.mark.clock("10:00")  # today's afternoon clinic is still ahead
def test_the_nightly_run_generates_up_to_the_day_entering_the_release_window():
    h = f.hospital(days_ahead=7)
    dep = f.department(h)
    for weekday in range(7):
        template(dep, weekday=weekday, session="pm", start=dt.time(14, 0), end=dt.time(16, 0))  # a general clinic
    scheduling.schedules_generate_due(hospital=h)
    days = sorted(Schedule.objects.values_list("date", flat=True))
    assert days == [f.today() + dt.timedelta(days=i) for i in range(8)]
    with clock.travel(clock.now() + dt.timedelta(days=1)):
        scheduling.schedules_generate_due(hospital=h)
    assert Schedule.objects.count() == 9
