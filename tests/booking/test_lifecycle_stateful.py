"""Holds, confirms, releases, cancels, expiries, check-ins and no-shows in random order.

After every step the invariants a hospital relies on are checked against the database:
capacity, one slot one owner, the limits, and that every recorded transition is a legal one.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count, Q
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from guahao.booking import services
from guahao.booking.models import ACTIVE_REGISTRATION, BookingEvent, Hold, HoldStatus, Registration
from guahao.core import clock
from guahao.core.problems import Problem
from guahao.scheduling.models import CancelPolicy, Slot, SlotState
from tests import factories as f
from tests.depth import examples

MAX_HOLDS = 2
PER_ACCOUNT_DAY = 2

LEGAL = {
    ("hold.created", "", "held"),
    ("hold.released", "held", "released"),
    ("hold.expired", "held", "expired"),
    ("hold.confirmed", "held", "confirmed"),
    ("registration.booked", "", "booked"),
    ("registration.cancelled", "booked", "cancelled"),
    ("registration.checked_in", "booked", "checked_in"),
    ("registration.visited", "checked_in", "visited"),
    ("registration.no_show", "booked", "no_show"),
}
# What each refusal may be, so an unexpected error fails the test instead of passing as "refused".
EXPECTED = {
    "slot.unavailable",
    "rule.active_holds",
    "rule.one_per_department_per_day",
    "rule.per_account_per_day",
    "rule.blacklisted",
    "schedule.ended",
    "hold.expired",
    "hold.not_active",
    "rule.cancel_cutoff",
    "registration.state",
    "checkin.wrong_day",
}


class Lifecycle(RuleBasedStateMachine):
    @initialize()
    def hospital(self) -> None:
        # 07:00 on a visit day: today's sessions are ahead, tomorrow's are released.
        self.travel = clock.travel(clock.at_local(f.today() + dt.timedelta(days=1), dt.time(7, 0), f.TZ))
        self.travel.__enter__()
        self.h = f.hospital(
            max_active_holds=MAX_HOLDS,
            max_per_account_hospital_day=PER_ACCOUNT_DAY,
            hold_minutes=5,
            cancel_policy=CancelPolicy.HOURS_BEFORE,
            cancel_hours_before=0,
        )
        deps = [f.department(self.h, "心内科"), f.department(self.h, "消化科")]
        day = f.today()
        self.schedules = [
            f.schedule(deps[0], None, day=day, start=dt.time(8, 0), end=dt.time(9, 0), slots_per_period=2),
            f.schedule(deps[1], None, day=day, start=dt.time(8, 0), end=dt.time(8, 30), slots_per_period=2),
            f.schedule(deps[0], None, day=day + dt.timedelta(days=1), end=dt.time(8, 30), slots_per_period=3),
        ]
        self.accounts = [f.account() for _ in range(3)]
        shared = f.id_number()  # one person added by two accounts (e.g. two children of a parent)
        self.patients = [
            f.patient(self.accounts[0], number=shared, relation="parent"),
            f.patient(self.accounts[0]),
            f.patient(self.accounts[1], number=shared, relation="parent"),
            f.patient(self.accounts[2]),
        ]

    def teardown(self) -> None:
        if hasattr(self, "travel"):
            self.travel.__exit__(None, None, None)

    def _attempt(self, action) -> None:  # type: ignore[no-untyped-def]
        try:
            action()
        except Problem as problem:
            assert problem.code in EXPECTED, problem.code

    def _holds(self):  # type: ignore[no-untyped-def]
        return Hold.objects.filter(hospital=self.h)

    def _registrations(self):  # type: ignore[no-untyped-def]
        return Registration.objects.filter(hospital=self.h)

    @rule(p=st.integers(0, 3), s=st.integers(0, 2))
    def hold(self, p: int, s: int) -> None:
        patient = self.patients[p]
        self._attempt(
            lambda: services.hold_create(account=patient.account, patient=patient, schedule=self.schedules[s])
        )

    @rule(i=st.integers(0, 50))
    def confirm(self, i: int) -> None:
        holds = list(self._holds().order_by("pk"))
        if holds:
            self._attempt(lambda: services.hold_confirm(hold=holds[i % len(holds)]))

    @rule(i=st.integers(0, 50))
    def release(self, i: int) -> None:
        holds = list(self._holds().order_by("pk"))
        if holds:
            hold = holds[i % len(holds)]
            self._attempt(lambda: services.hold_release(hold=hold, actor=services.Actor.patient(hold.account)))

    @rule(i=st.integers(0, 50))
    def cancel(self, i: int) -> None:
        regs = list(self._registrations().order_by("pk"))
        if regs:
            reg = regs[i % len(regs)]
            self._attempt(
                lambda: services.registration_cancel(registration=reg, actor=services.Actor.patient(reg.account))
            )

    @rule(i=st.integers(0, 50))
    def check_in(self, i: int) -> None:
        regs = list(self._registrations().order_by("pk"))
        if regs:
            reg = regs[i % len(regs)]
            self._attempt(lambda: services.registration_check_in(registration=reg, actor=services.SYSTEM))

    @rule(i=st.integers(0, 50))
    def visit(self, i: int) -> None:
        regs = list(self._registrations().order_by("pk"))
        if regs:
            reg = regs[i % len(regs)]
            self._attempt(lambda: services.registration_mark_visited(registration=reg, actor=services.SYSTEM))

    @rule(minutes=st.sampled_from([1, 3, 6, 30]))
    def time_passes(self, minutes: int) -> None:
        clock.advance(dt.timedelta(minutes=minutes))

    @rule()
    def sweep(self) -> None:
        services.holds_expire()
        services.registrations_mark_no_show()

    @invariant()
    def one_slot_one_owner(self) -> None:
        if not hasattr(self, "h"):
            return
        for slot in Slot.objects.filter(schedule__hospital=self.h):
            holds = Hold.objects.filter(slot=slot, status=HoldStatus.HELD).count()
            regs = Registration.objects.filter(slot=slot, status__in=ACTIVE_REGISTRATION).count()
            expected = {SlotState.FREE: (0, 0), SlotState.HELD: (1, 0), SlotState.BOOKED: (0, 1)}[slot.state]  # type: ignore[index]
            assert (holds, regs) == expected, (slot.number, slot.state, holds, regs)

    @invariant()
    def limits_hold(self) -> None:
        if not hasattr(self, "h"):
            return
        now = clock.now()
        live = self._holds().filter(status=HoldStatus.HELD, expires_at__gt=now)
        active = self._registrations().filter(status__in=ACTIVE_REGISTRATION)
        for row in live.values("account").annotate(n=Count("pk")):
            assert row["n"] <= MAX_HOLDS
        taken: dict[tuple, int] = {}
        for qs in (live, active):
            for row in qs.values("person_hash", "department", "visit_date").annotate(n=Count("pk")):
                key = (row["person_hash"], row["department"], row["visit_date"])
                taken[key] = taken.get(key, 0) + row["n"]
        assert all(n <= 1 for n in taken.values()), taken
        per_account: dict[tuple, int] = {}
        for qs in (live, active):
            for row in qs.values("account", "visit_date").annotate(n=Count("pk")):
                key = (row["account"], row["visit_date"])
                per_account[key] = per_account.get(key, 0) + row["n"]
        assert all(n <= PER_ACCOUNT_DAY for n in per_account.values()), per_account

    @invariant()
    def transitions_are_legal(self) -> None:
        if not hasattr(self, "h"):
            return
        events = BookingEvent.objects.filter(Q(hold__hospital=self.h) | Q(registration__hospital=self.h))
        for kind, src, dst in events.values_list("kind", "from_status", "to_status"):
            assert (kind, src, dst) in LEGAL, (kind, src, dst)
        for hold in self._holds().filter(status=HoldStatus.CONFIRMED):
            assert hold.ended_at is not None and hold.ended_at < hold.expires_at  # never after expiry
            assert Registration.objects.filter(hold=hold).count() == 1
        assert not Registration.objects.filter(hospital=self.h).exclude(hold__status=HoldStatus.CONFIRMED).exists()


@pytest.mark.django_db
def test_booking_lifecycle_keeps_its_invariants():
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=examples(25),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
