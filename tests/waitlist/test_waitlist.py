"""The waitlist (候补, seed 002) as patients meet it through the API: joining a full clinic,
the slot given back offered in turn, and every way an entry ends."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from guahao.booking import gate
from guahao.booking.models import BlacklistEntry, BlacklistReason, Registration
from guahao.core import clock, outbox
from guahao.notifications import services as notifications
from guahao.notifications.models import Message
from guahao.scheduling.models import RuleSet, Slot, SlotState
from guahao.waitlist import services as waitlist
from guahao.waitlist.models import WaitlistDraw, WaitlistEntry
from tests import factories as f

# The clinics are tomorrow's and their waitlists close at 18:00 today: every scenario here starts
# at 10:00 (those about the deadline travel to it).
pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]


def full_clinic(places: int = 5, **rules):
    """A clinic of ten online slots, every one held by another patient, with a waitlist."""
    h = f.hospital(waitlist_places=places, **rules)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    colleague = f.schedule(dep, f.doctor(dep, name="赵立新"))
    holders = []
    for _ in range(10):
        client = f.Api().login()
        status, hold = client.call(
            "POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()}
        )
        assert status == 201, hold
        holders.append((client, hold))
    return h, schedule, colleague, holders


def patient() -> tuple[f.Api, str]:
    client = f.Api().login()
    return client, client.add_patient()


def join(client: f.Api, schedule, patient_id: str, **extra) -> tuple[int, dict]:
    return client.call("POST", "/waitlist", {"schedule_id": str(schedule.pk), "patient_id": patient_id} | extra)


def entry(client: f.Api, entry_id: str) -> dict:
    return next(e for e in client.call("GET", "/waitlist")[1] if e["id"] == entry_id)


def worker() -> None:
    """The worker hands every event to its subscribers (until nothing is left)."""
    while sum(outbox.deliver_all().values()):
        pass


def test_a_full_clinic_takes_patients_in_the_order_they_join():
    _, schedule, _, _ = full_clinic()
    first, second = patient(), patient()

    status, one = join(*first[:1], schedule, first[1])
    assert status == 201, one
    status, two = join(*second[:1], schedule, second[1])

    assert (one["status"], one["position"], one["in_draw"], one["mode"]) == ("waiting", 1, None, "book")
    assert (two["status"], two["position"]) == ("waiting", 2)
    assert one["closes_at"].startswith(f.today().isoformat() + "T18:00:00+08:00")  # 18:00 the day before
    worker()
    inbox = Message.objects.filter(account_id=first[0].account_id, channel="inbox")
    assert [m.kind for m in inbox] == ["waitlist.joined"]


def test_each_family_member_put_on_the_waitlist_is_named_in_the_message_that_says_so():
    _, schedule, _, _ = full_clinic()
    client = f.Api().login()
    for name, relation in (("张伟", "self"), ("张小明", "child")):
        assert join(client, schedule, client.add_patient(relation=relation, name=name))[0] == 201
    worker()
    texts = sorted(
        notifications.message_text(m, "zh-hans")[1]
        for m in Message.objects.filter(account_id=client.account_id, channel="inbox", kind="waitlist.joined")
    )
    assert [t.split(" ")[0] for t in texts] == ["张伟", "张小明"], texts
    assert all("已加入" in t and "{patient}" not in t for t in texts)


def test_a_clinic_with_free_slots_or_no_waitlist_or_a_full_queue_refuses_and_changes_nothing():
    h, schedule, colleague, _ = full_clinic(places=1)
    client, pid = patient()
    assert join(client, colleague, pid)[1]["code"] == "waitlist.not_full"  # hold one instead

    assert join(client, schedule, pid)[0] == 201
    assert join(client, schedule, pid)[1]["code"] == "waitlist.already"
    other, other_pid = patient()
    status, body = join(other, schedule, other_pid)
    assert (status, body["code"]) == (409, "waitlist.full")
    assert any(a["schedule_id"] == str(colleague.pk) for a in body["alternatives"])  # other doctors

    RuleSet.objects.filter(hospital=h, department__isnull=True, doctor__isnull=True).update(waitlist_places=0)
    from guahao.scheduling import facts

    facts.facts_changed()
    assert join(other, schedule, other_pid)[1]["code"] == "waitlist.off"
    assert WaitlistEntry.objects.filter(schedule=schedule).count() == 1
    assert schedule.__class__.objects.get(pk=schedule.pk).waitlist_active == 1


def test_a_slot_given_back_is_kept_for_the_waitlist_and_booked_for_the_first_in_line():
    _, schedule, _, holders = full_clinic()
    (first, first_pid), (second, second_pid) = patient(), patient()
    one = join(first, schedule, first_pid)[1]
    two = join(second, schedule, second_pid)[1]
    client, hold = holders[3]

    assert client.call("DELETE", f"/holds/{hold['id']}")[0] == 200

    # Kept for the waitlist: not free to the crowd, which is still told the clinic is full.
    slot = Slot.objects.get(schedule=schedule, number=hold["slot_number"])
    assert slot.state == SlotState.RESERVED
    crowd, crowd_pid = patient()
    assert crowd.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": crowd_pid})[1]["code"] == (
        "slot.unavailable"
    )
    worker()

    booked = entry(first, one["id"])
    assert booked["status"] == "booked" and booked["registration_id"]
    registration = Registration.objects.get(pk=booked["registration_id"])
    assert (registration.slot_number, registration.status) == (hold["slot_number"], "booked")
    assert entry(second, two["id"])["position"] == 1  # next in line now
    assert Slot.objects.get(pk=slot.pk).state == SlotState.BOOKED


def test_with_nobody_left_waiting_the_kept_slots_go_to_anyone():
    _, schedule, _, holders = full_clinic()
    client, pid = patient()
    mine = join(client, schedule, pid)[1]
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    assert client.call("DELETE", f"/waitlist/{mine['id']}")[1]["status"] == "cancelled"
    status, again = client.call("DELETE", f"/waitlist/{mine['id']}")  # once is enough
    # The problem's status is the answer's (API.md); the entry's own is named apart.
    assert (status, again["code"], again["status"], again["entry_status"]) == (
        409,
        "waitlist.not_active",
        409,
        "cancelled",
    )
    worker()

    assert Slot.objects.get(schedule=schedule, number=hold["slot_number"]).state == SlotState.FREE
    assert gate.free(schedule.pk) == 1
    crowd, crowd_pid = patient()
    assert crowd.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": crowd_pid})[0] == 201


def test_one_freed_slot_makes_one_offer_however_often_it_is_announced():
    _, schedule, _, holders = full_clinic()
    waiting = [patient() for _ in range(3)]
    for client, pid in waiting:
        join(client, schedule, pid)
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    # The same news three times over (a HIS pushing twice, a sync, a sweep).
    for _ in range(3):
        with outbox_transaction():
            outbox.event_emit("slot.freed", schedule_id=schedule.pk, why="his")
    worker()
    waitlist.offers_make(schedule_id=schedule.pk)

    statuses = sorted(e.status for e in WaitlistEntry.objects.filter(schedule=schedule))
    assert statuses == ["booked", "waiting", "waiting"]
    assert Registration.objects.filter(schedule=schedule).count() == 1


def outbox_transaction():
    from django.db import transaction

    return transaction.atomic()


def test_a_random_order_draws_among_those_waiting_and_the_draw_can_be_shown_fair():
    _, schedule, _, holders = full_clinic(waitlist_order="random")
    waiting = [patient() for _ in range(4)]
    entries = [join(c, schedule, p)[1] for c, p in waiting]
    assert {(e["position"], e["in_draw"]) for e in entries} == {(None, True)}

    for holder, hold in holders[:2]:
        holder.call("DELETE", f"/holds/{hold['id']}")
    worker()

    draws = list(WaitlistDraw.objects.filter(schedule=schedule).order_by("at", "pk"))
    assert len(draws) == 2
    for draw in draws:
        # Anyone can redo the draw from what was recorded.
        assert random.Random(int(draw.seed)).choice(draw.candidates) == draw.chosen_id  # noqa: S311
        assert draw.chosen.status == "booked"
    assert len(draws[0].candidates) == 4 and len(draws[1].candidates) == 3
    assert draws[0].chosen_id not in draws[1].candidates


def test_a_patient_barred_since_joining_is_passed_over_with_the_reason_and_the_next_gets_the_slot():
    h, schedule, _, holders = full_clinic()
    (barred, barred_pid), (next_one, next_pid) = patient(), patient()
    first = join(barred, schedule, barred_pid)[1]
    second = join(next_one, schedule, next_pid)[1]
    who = WaitlistEntry.objects.get(pk=first["id"]).patient
    BlacklistEntry.objects.create(
        hospital=h,
        person_hash=who.id_number_hash,
        patient=who,
        reason=BlacklistReason.MANUAL,
        starts_at=clock.now(),
        ends_at=clock.now() + dt.timedelta(days=30),
    )
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    worker()

    assert (entry(barred, first["id"])["status"], entry(barred, first["id"])["reason"]) == (
        "cancelled",
        "rule.blacklisted",
    )
    assert entry(next_one, second["id"])["status"] == "booked"
    told = Message.objects.filter(account_id=barred.account_id, kind="waitlist.cancelled", channel="inbox").get()
    assert told.data["why"] == "rule.blacklisted"
    barred.language = "en"
    text = next(m for m in barred.call("GET", "/messages")[1] if m["kind"] == "waitlist.cancelled")
    assert "the patient is barred from online booking" in text["body"]


def test_entries_still_waiting_expire_at_18_00_the_day_before_and_the_kept_slots_are_freed():
    _, schedule, _, holders = full_clinic()
    client, pid = patient()
    mine = join(client, schedule, pid)[1]
    with clock.travel(clock.at_local(f.today(), dt.time(17, 59), "Asia/Shanghai")):
        assert waitlist.entries_expire_due() == 0
    with clock.travel(clock.at_local(f.today(), dt.time(18, 0), "Asia/Shanghai")):
        assert waitlist.entries_expire_due() == 1
        late, late_pid = patient()
        status, body = join(late, schedule, late_pid)
        assert (status, body["code"]) == (409, "waitlist.closed")

    ended = entry(client, mine["id"])
    assert (ended["status"], ended["reason"]) == ("expired", "waitlist.deadline")
    worker()
    assert Message.objects.filter(account_id=client.account_id, kind="waitlist.expired", channel="inbox").count() == 1
    told = next(m for m in client.call("GET", "/messages")[1] if m["kind"] == "waitlist.expired")
    assert told["body"].endswith("未能挂号。") and "退回" not in told["body"]  # nothing was paid in advance
    client.language = "en"
    told = next(m for m in client.call("GET", "/messages")[1] if m["kind"] == "waitlist.expired")
    assert told["body"].endswith("ended without a slot for you (the waitlist closed before a slot came free).")
    assert schedule.__class__.objects.get(pk=schedule.pk).waitlist_active == 0


@pytest.mark.clock("10:00")
def test_an_offer_to_confirm_and_pay_lapses_and_passes_to_the_next_patient():
    _, schedule, _, holders = full_clinic(payment_required=True, waitlist_confirm_minutes=60)
    (first, first_pid), (second, second_pid) = patient(), patient()
    one = join(first, schedule, first_pid)[1]
    two = join(second, schedule, second_pid)[1]
    assert one["mode"] == "pay_after_hold"
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    worker()

    offered = entry(first, one["id"])
    assert offered["status"] == "offered" and offered["hold_id"]
    assert offered["expires_at"].startswith(f.today().isoformat() + "T11:00:")  # an hour to confirm
    the_hold = first.call("GET", f"/holds/{offered['hold_id']}")[1]
    assert (the_hold["status"], the_hold["payment_required"]) == ("held", True)
    assert Message.objects.filter(account_id=first.account_id, kind="waitlist.offered", channel="inbox").count() == 1

    clock.advance(dt.timedelta(minutes=61))
    from guahao.booking import services as booking

    booking.holds_expire()
    worker()

    assert (entry(first, one["id"])["status"], entry(first, one["id"])["reason"]) == (
        "expired",
        "waitlist.offer_lapsed",
    )
    assert entry(second, two["id"])["status"] == "offered"


@pytest.mark.clock("10:00")
def test_an_offer_is_never_held_past_the_start_of_the_visit_it_offers():
    _, schedule, _, holders = full_clinic(payment_required=True, waitlist_confirm_minutes=1440)  # a day to confirm
    client, pid = patient()
    mine = join(client, schedule, pid)[1]
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")  # the 08:00 period's slot, tomorrow
    worker()

    offered = entry(client, mine["id"])
    held = client.call("GET", f"/holds/{offered['hold_id']}")[1]
    tomorrow = (f.today() + dt.timedelta(days=1)).isoformat()
    assert held["period"]["starts_at"].startswith(f"{tomorrow}T08:00")
    assert offered["expires_at"] == held["expires_at"] and held["expires_at"].startswith(f"{tomorrow}T08:00:00")
    told = next(m for m in client.call("GET", "/messages")[1] if m["kind"] == "waitlist.offered")
    assert f"{tomorrow} 08:00" in told["body"], told["body"]  # the message says the same


def test_a_suspended_clinic_ends_its_waitlist():
    _, schedule, _, _ = full_clinic()
    client, pid = patient()
    mine = join(client, schedule, pid)[1]
    from guahao.his import services as his

    his.schedule_suspend(
        schedule=schedule, reason="医生外出会诊", actor=__import__("guahao.booking.services").booking.services.SYSTEM
    )
    worker()
    ended = entry(client, mine["id"])
    assert (ended["status"], ended["reason"]) == (
        "cancelled",
        "schedule.suspended",
    )  # not "expired": ended by the hospital
    told = next(m for m in client.call("GET", "/messages")[1] if m["kind"] == "waitlist.cancelled")
    assert "的候补已取消（该门诊已停诊）。" in told["body"]


def test_a_patient_turned_away_from_a_full_clinic_is_offered_its_waitlist_and_other_doctors():
    _, schedule, colleague, _ = full_clinic()
    client, pid = patient()

    status, refused = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": pid})

    assert (status, refused["code"]) == (409, "slot.unavailable")
    assert refused["waitlist"]["schedule_id"] == str(schedule.pk)
    assert refused["waitlist"]["closes_at"].startswith(f.today().isoformat() + "T18:00:00+08:00")
    assert any(a["schedule_id"] == str(colleague.pk) for a in refused["alternatives"])
    assert join(client, schedule, pid)[0] == 201  # where it points, the patient can join


def test_why_a_clinic_cannot_be_waited_for_is_what_joining_would_answer():
    """``join_refusal`` (what a clinic's page shows in place of the 候补 button) names the same
    rule as the API's refusal, for every way a waitlist is not open, and None where it is."""
    from guahao.scheduling.models import Schedule

    def both(schedule) -> tuple[str | None, str]:
        """What the page says, and what joining answers."""
        schedule = Schedule.objects.select_related("hospital", "department", "doctor").get(pk=schedule.pk)
        refused = waitlist.join_refusal(schedule)
        client, pid = patient()
        return (refused.code if refused else None), join(client, schedule, pid)[1].get("code", "joined")

    h, schedule, colleague, _ = full_clinic(places=1)
    assert both(schedule) == (None, "joined") and waitlist.waitlist_open_for(schedule) is True
    assert both(schedule) == ("waitlist.full", "waitlist.full")  # its one place is taken
    full = waitlist.join_refusal(Schedule.objects.get(pk=schedule.pk))
    assert any(a["schedule_id"] == str(colleague.pk) for a in full.extra["alternatives"])  # other doctors
    assert both(colleague) == ("waitlist.not_full", "waitlist.not_full")

    _, other, _, _ = full_clinic()
    later = f.schedule(f.department(h), day=f.today() + dt.timedelta(days=30))  # beyond the release window
    assert both(later) == ("schedule.not_released", "schedule.not_released")
    with clock.travel(clock.at_local(f.today(), dt.time(18, 0), "Asia/Shanghai")):
        refused = waitlist.join_refusal(Schedule.objects.get(pk=other.pk))
        assert refused.extra["closed_at"] == f"{f.today().isoformat()}T18:00:00+08:00"
        assert both(other) == ("waitlist.closed", "waitlist.closed")
    Schedule.objects.filter(pk=other.pk).update(status="suspended")
    assert both(other) == ("schedule.suspended", "schedule.suspended")

    RuleSet.objects.filter(hospital=h).update(waitlist_places=0)
    from guahao.scheduling import facts

    facts.facts_changed()
    assert both(schedule) == ("waitlist.off", "waitlist.off")
    assert WaitlistEntry.objects.filter(status="waiting").count() == 1  # only the one that joined


def client_account(client: f.Api):
    from guahao.accounts.models import Account

    return Account.objects.get(pk=client.account_id)


def patient_of(pid: str):
    from guahao.accounts.models import Patient

    return Patient.objects.get(pk=pid)


def test_an_entry_as_its_patient_reads_it():
    _, schedule, _, holders = full_clinic(payment_required=True, waitlist_payment="prepay")
    client, pid = patient()
    account = client_account(client)
    status, body = join(client, schedule, pid)
    assert (status, body["code"], body["field"]) == (422, "request.invalid", "payment_method")  # how to pay?
    WaitlistEntry.objects.create(  # one who joined earlier and paid
        schedule=schedule,
        hospital=schedule.hospital,
        department=schedule.department,
        account=account,
        patient=patient_of(pid),
        person_hash="someone-else",
        mode="prepay",
        joined_at=clock.now() - dt.timedelta(minutes=5),
        paid_at=clock.now(),
        status="cancelled",
        end_reason="waitlist.removed",
        note="重复候补",
    )
    from django.utils import translation

    [shown] = waitlist.entries_shown(account)
    with translation.override("zh-hans"):
        assert waitlist.reason_worded(shown.entry) == "医院已将其移除：重复候补"
    with translation.override("en"):
        assert waitlist.reason_worded(shown.entry) == "the hospital removed it: 重复候补"
    assert shown.closes_at == clock.at_local(f.today(), dt.time(18, 0), "Asia/Shanghai")
    assert (shown.standing.position, shown.offer_live, shown.awaiting_prepayment) == (None, False, False)
    WaitlistEntry.objects.filter(pk=shown.entry.pk).update(end_reason="rule.something_new", note="")
    assert waitlist.reason_worded(WaitlistEntry.objects.get(pk=shown.entry.pk)) == "rule.something_new"


def test_leaving_releases_the_slot_offered_even_when_the_entry_was_read_before_the_offer():
    """Staff remove (or a patient leaves) an entry read before the worker offered it a slot: the
    offer's hold ends with it and the slot goes to the next patient, not held payable for hours."""
    _, schedule, _, holders = full_clinic(payment_required=True)
    (first, first_pid), (second, second_pid) = patient(), patient()
    mine = join(first, schedule, first_pid)[1]
    theirs = join(second, schedule, second_pid)[1]
    read_before = WaitlistEntry.objects.get(pk=mine["id"])  # the console's list, say
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    worker()
    offered = WaitlistEntry.objects.get(pk=mine["id"])
    assert offered.status == "offered"

    waitlist.entry_leave(entry=read_before, actor="desk-li", reason="waitlist.removed", note="重复候补")
    worker()

    from guahao.booking.models import Hold

    assert Hold.objects.get(pk=offered.hold_id).status == "released"
    assert entry(first, mine["id"])["status"] == "cancelled"
    assert entry(second, theirs["id"])["status"] == "offered"  # the slot went on to the next patient


def test_a_slot_kept_for_the_waitlist_that_another_channel_took_is_not_offered():
    """Seed 002: another platform's waitlist may take a slot given back. The HIS says number N
    was taken elsewhere before the worker offered it here: it is not booked a second time."""
    from guahao.scheduling import services as scheduling

    _, schedule, _, holders = full_clinic()
    client, pid = patient()
    mine = join(client, schedule, pid)[1]
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    number = hold["slot_number"]
    assert Slot.objects.get(schedule=schedule, number=number).state == SlotState.RESERVED

    scheduling.slots_mirror(
        schedule=schedule,
        free_numbers=[],
        taken_numbers=[number],
        known_numbers=list(schedule.slots.values_list("number", flat=True)),
    )
    worker()

    assert Slot.objects.get(schedule=schedule, number=number).state == SlotState.ELSEWHERE
    assert entry(client, mine["id"])["status"] == "waiting"
    assert not Registration.objects.filter(schedule=schedule).exists()


def test_a_slot_given_back_after_the_waitlist_closed_goes_to_anyone_not_to_those_still_listed():
    _, schedule, _, holders = full_clinic()
    client, pid = patient()
    mine = join(client, schedule, pid)[1]
    holder, hold = holders[0]
    with clock.travel(clock.at_local(f.today(), dt.time(18, 0, 30), "Asia/Shanghai")):
        holder.call("DELETE", f"/holds/{hold['id']}")  # before the periodic expiry came round
        worker()
        ended = entry(client, mine["id"])
        assert (ended["status"], ended["reason"]) == ("expired", "waitlist.deadline")
        assert Slot.objects.get(schedule=schedule, number=hold["slot_number"]).state == SlotState.FREE


def test_the_conversion_statistics_count_each_entry_of_the_clinics_in_range_exactly():
    from guahao.booking.stats import StatsFilter
    from guahao.waitlist import stats

    h, schedule, _, holders = full_clinic()
    entries = [join(c, schedule, p)[1] for c, p in (patient() for _ in range(4))]
    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    worker()  # the first is booked
    waitlist.entry_leave(entry=WaitlistEntry.objects.get(pk=entries[1]["id"]), actor="patient")
    _, other, _, _ = full_clinic()  # another hospital's waitlist is not counted
    stranger, stranger_pid = patient()
    assert join(stranger, other, stranger_pid)[0] == 201
    day = schedule.date

    got = stats.conversion(StatsFilter(date_from=day, date_to=day, hospital_ids=frozenset({h.pk})))

    assert got["total"] == {"joined": 4, "booked": 1, "expired": 0, "cancelled": 1, "waiting": 2, "rate": 0.25}
    assert got["by_day"] == [
        {"day": day.isoformat(), "joined": 4, "booked": 1, "expired": 0, "cancelled": 1, "waiting": 2, "rate": 0.25}
    ]


def test_extra_slots_added_to_a_full_clinic_go_to_those_waiting_first():
    from guahao.booking.services import Actor
    from guahao.his import services as his

    _, schedule, _, _ = full_clinic()
    (first, first_pid), (second, second_pid) = patient(), patient()
    one = join(first, schedule, first_pid)[1]
    two = join(second, schedule, second_pid)[1]

    added = his.schedule_extra_slots_add(schedule=schedule, count=1, reason="加号", actor=Actor("staff", "desk-wang"))
    # Kept for the waitlist, not raced for by whoever presses "book" first.
    assert [s.state for s in Slot.objects.filter(pk__in=[s.pk for s in added])] == [SlotState.RESERVED]
    crowd, crowd_pid = patient()
    refused = crowd.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": crowd_pid})[1]
    assert refused["code"] == "slot.unavailable"
    worker()

    booked = entry(first, one["id"])
    assert booked["status"] == "booked"
    assert Registration.objects.get(pk=booked["registration_id"]).slot_number == added[0].number
    assert entry(second, two["id"])["status"] == "waiting"  # one extra slot, one patient served
