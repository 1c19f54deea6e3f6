"""Resolving the rules in force for a schedule: doctor over department tree over hospital."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from guahao.catalog.models import Department, Hospital
from guahao.core import clock
from guahao.scheduling.models import (
    CancelPolicy,
    LateCancelCounts,
    MedicalRecordMode,
    PoolReturn,
    RiskAction,
    RuleSet,
    Schedule,
    WaitlistOrder,
    WaitlistPayment,
)


@dataclasses.dataclass(frozen=True)
class Rules:
    release_time: dt.time = dt.time(7, 0)
    days_ahead: int = 7
    platform_share_percent: int = 60
    phone_share_percent: int = 0  # none: the phone desk books the platform pool
    pool_return_time: dt.time | None = None  # none: the pools stay as generated
    pool_return: str = PoolReturn.TO_ONSITE
    hold_minutes: int = 15
    max_active_holds: int = 1
    max_per_patient_department_day: int = 1
    max_per_account_hospital_day: int = 2
    cancel_policy: str = CancelPolicy.DAY_BEFORE
    cancel_hours_before: int = 0
    blacklist_cancellations: int = 3
    blacklist_cancellation_days: int = 30
    blacklist_no_shows: int = 2
    blacklist_no_show_days: int = 90
    blacklist_days: int = 90
    late_cancel_counts_as: str = LateCancelCounts.CANCELLATION
    medical_record_mode: str = MedicalRecordMode.AT_VISIT
    payment_required: bool = False
    waitlist_places: int = 0  # no waitlist
    waitlist_order: str = WaitlistOrder.FIFO
    waitlist_payment: str = WaitlistPayment.PAY_AFTER_HOLD
    waitlist_deadline_time: dt.time = dt.time(18, 0)
    waitlist_confirm_minutes: int = 120
    lottery_seconds: int = 0  # no lottery: the race
    risk_action: str = RiskAction.OFF
    risk_holds_10min: int = 10
    risk_departments_hour: int = 3
    risk_accounts_per_client: int = 5
    risk_new_patient_minutes: int = 0  # not checked


DEFAULTS = Rules()
FIELDS = [f.name for f in dataclasses.fields(Rules)]


def _merge(rules: Rules, rule_set: RuleSet | None) -> Rules:
    if rule_set is None:
        return rules
    changes = {name: getattr(rule_set, name) for name in FIELDS if getattr(rule_set, name) is not None}
    return dataclasses.replace(rules, **changes)


def rules_for(*, hospital: Hospital, department: Department | None = None, doctor_id: int | None = None) -> Rules:
    chain: list[int] = []
    node = department
    while node is not None:
        chain.append(node.id)
        node = node.parent
    sets = {(rs.department_id, rs.doctor_id): rs for rs in RuleSet.objects.filter(hospital=hospital)}
    rules = _merge(DEFAULTS, sets.get((None, None)))
    for dep_id in reversed(chain):  # root first, the leaf last, so the nearest wins
        rules = _merge(rules, sets.get((dep_id, None)))
    if doctor_id is not None:
        rules = _merge(rules, sets.get((None, doctor_id)))
    return rules


def rules_for_schedule(schedule: Schedule) -> Rules:
    return rules_for(hospital=schedule.hospital, department=schedule.department, doctor_id=schedule.doctor_id)


def release_at(schedule: Schedule, rules: Rules) -> dt.datetime:
    """When a schedule's slots become bookable: ``days_ahead`` days before, at the release time."""
    day = schedule.date - dt.timedelta(days=rules.days_ahead)
    return clock.at_local(day, rules.release_time, schedule.hospital.timezone)


def cancel_deadline(schedule: Schedule, rules: Rules) -> dt.datetime:
    """The last moment a registration for this schedule may be cancelled online."""
    if rules.cancel_policy == CancelPolicy.HOURS_BEFORE:
        return schedule.starts_at - dt.timedelta(hours=rules.cancel_hours_before)
    return clock.at_local(schedule.date, dt.time(0, 0), schedule.hospital.timezone)


def lottery_window(schedule: Schedule, rules: Rules) -> tuple[dt.datetime, dt.datetime] | None:
    """A lottery release: from the release, for ``lottery_seconds``, requests enter a draw."""
    if rules.lottery_seconds <= 0:
        return None
    opens = release_at(schedule, rules)
    return opens, opens + dt.timedelta(seconds=rules.lottery_seconds)


def waitlist_deadline(schedule: Schedule, rules: Rules) -> dt.datetime:
    """Until when patients may wait for a clinic: the rules' time the day before (18:00 by
    default), and never past the clinic's start."""
    closes = clock.at_local(
        schedule.date - dt.timedelta(days=1), rules.waitlist_deadline_time, schedule.hospital.timezone
    )
    return min(closes, schedule.starts_at)


def pool_return_at(schedule: Schedule, rules: Rules) -> dt.datetime | None:
    """When the free slots of one pool go to the other: the rules' time, the day before."""
    if rules.pool_return_time is None:
        return None
    day = schedule.date - dt.timedelta(days=1)
    return clock.at_local(day, rules.pool_return_time, schedule.hospital.timezone)


def rules_table(hospital: Hospital) -> Callable[[int, int | None], Rules]:
    """The rules of many clinics of one hospital (statistics over a range): its rule sets and
    its department tree read once, then resolved as ``rules_for`` does, per department and
    doctor."""
    sets = {(rs.department_id, rs.doctor_id): rs for rs in RuleSet.objects.filter(hospital=hospital)}
    parents = dict(Department.objects.filter(hospital=hospital).values_list("pk", "parent_id"))
    base = _merge(DEFAULTS, sets.get((None, None)))
    known: dict[tuple[int, int | None], Rules] = {}

    def rules(department_id: int, doctor_id: int | None) -> Rules:
        key = (department_id, doctor_id)
        if key not in known:
            chain: list[int] = []
            node: int | None = department_id
            while node is not None:
                chain.append(node)
                node = parents.get(node)
            found = base
            for dep_id in reversed(chain):  # root first, the leaf last, so the nearest wins
                found = _merge(found, sets.get((dep_id, None)))
            if doctor_id is not None:
                found = _merge(found, sets.get((None, doctor_id)))
            known[key] = found
        return known[key]

    return rules
