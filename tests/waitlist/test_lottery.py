"""A fair release (seeds 002, 003): the first moments after a release as a recorded draw instead
of a race, and requests that look like scripts' refused or sent to the draw."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from guahao.booking.models import Hold, Registration, RiskDecision
from guahao.core import clock, outbox
from guahao.notifications.models import Message
from guahao.scheduling.models import Slot, SlotState
from guahao.waitlist import services as waitlist
from guahao.waitlist.models import WaitlistDraw, WaitlistEntry
from tests import factories as f

pytestmark = pytest.mark.django_db

TZ = "Asia/Shanghai"


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return clock.at_local(f.today(), dt.time(hh, mm, ss), TZ)


def released_at_10(**rules):
    """Tomorrow's clinic of ten online slots, released today at 10:00."""
    h = f.hospital(release_time=dt.time(10, 0), days_ahead=1, **rules)
    dep = f.department(h)
    return h, f.schedule(dep, f.doctor(dep))


def ask(client: f.Api, schedule, patient_id: str, **headers: str) -> tuple[int, dict]:
    return client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id}, **headers)


def people(n: int) -> list[tuple[f.Api, str]]:
    crowd = []
    for _ in range(n):
        client = f.Api().login()
        crowd.append((client, client.add_patient()))
    return crowd


def worker() -> None:
    while sum(outbox.deliver_all().values()):
        pass


@pytest.mark.clock("09:50")
def test_the_first_minute_after_the_release_is_a_recorded_draw_not_a_race():
    _, schedule = released_at_10(lottery_seconds=60, waitlist_places=3)
    crowd = people(15)

    with clock.travel(at(10, 0, 5)):
        answers = [ask(c, schedule, p) for c, p in crowd]
        again = ask(crowd[0][0], schedule, crowd[0][1])  # asking twice is one ticket
    assert {s for s, _ in answers} == {202}
    first = answers[0][1]
    assert (first["lottery"], first["status"], first["in_draw"], first["position"]) == (True, "waiting", True, None)
    assert first["draw_at"].startswith(f.today().isoformat() + "T10:01:00")
    assert again == (202, first)
    assert not Hold.objects.filter(schedule=schedule).exists()  # nothing was raced for
    assert Slot.objects.filter(schedule=schedule, state=SlotState.FREE).count() == 10

    with clock.travel(at(10, 1, 1)):
        late, late_pid = people(1)[0]
        assert ask(late, schedule, late_pid)[1]["code"] == "lottery.drawing"  # nobody gets a slot before the draw
        assert waitlist.lotteries_draw_due() == 10
        assert waitlist.lotteries_draw_due() == 0  # made once
        worker()

    draw = WaitlistDraw.objects.get(schedule=schedule)
    order = list(draw.candidates)
    random.Random(int(draw.seed)).shuffle(order)  # noqa: S311 - anyone can redo the draw
    assert order == draw.ranking and len(order) == 15
    entries = {e.pk: e for e in WaitlistEntry.objects.filter(schedule=schedule)}
    assert [entries[i].status for i in order] == ["booked"] * 10 + ["waiting"] * 3 + ["expired"] * 2
    assert [entries[i].end_reason for i in order[13:]] == ["lottery.not_drawn"] * 2
    waiting = sorted((e for e in entries.values() if e.status == "waiting"), key=lambda e: e.joined_at)
    assert [e.pk for e in waiting] == order[10:13]  # the waitlist in the order drawn
    assert Registration.objects.filter(schedule=schedule).count() == 10
    loser = next(c for (c, _), (_, a) in zip(crowd, answers, strict=True) if a["id"] == str(order[14]))
    told = Message.objects.filter(account_id=loser.account_id, channel="inbox").order_by("created_at", "pk")
    assert [m.kind for m in told] == ["lottery.entered", "waitlist.expired"]


@pytest.mark.clock("09:50")
def test_after_the_draw_booking_is_as_usual_and_slots_nobody_drew_go_to_whoever_asks():
    _, schedule = released_at_10(lottery_seconds=60)
    crowd = people(4)
    with clock.travel(at(10, 0, 30)):
        for c, p in crowd:
            assert ask(c, schedule, p)[0] == 202
    with clock.travel(at(10, 2)):
        assert waitlist.lotteries_draw_due() == 4
        later = people(7)
        answers = Counter(ask(c, schedule, p)[0] for c, p in later)
    assert answers == {201: 6, 409: 1}  # ten slots: four drawn, six to those who ask after


@pytest.mark.clock("10:30")
def test_many_accounts_from_one_device_are_refused_with_the_reason_recorded():
    _, schedule = released_at_10(risk_action="refuse", risk_accounts_per_client=3)
    crowd = people(5)

    answers = [ask(c, schedule, p, **{"X-Device-Id": "dev-bot-0001"}) for c, p in crowd]
    human = people(1)[0]

    assert [s for s, _ in answers] == [201, 201, 403, 403, 403]
    assert {b["code"] for _, b in answers[2:]} == {"risk.suspected"}
    assert ask(human[0], schedule, human[1], **{"X-Device-Id": "dev-human-01"})[0] == 201
    decisions = list(RiskDecision.objects.filter(schedule=schedule).order_by("pk"))
    assert [(d.reasons, d.action, d.client, d.asked) for d in decisions] == [
        (["client"], "refused", "dev-bot-0001", "hold")
    ] * 3


@pytest.mark.clock("10:30")
def test_an_account_trying_again_and_again_or_across_departments_is_refused():
    h, schedule = released_at_10(risk_action="refuse", risk_holds_10min=3, risk_departments_hour=3, max_active_holds=5)
    client, pid = people(1)[0]
    others = [f.schedule(f.department(h, name), None) for name in ("呼吸内科", "神经内科")]

    assert ask(client, schedule, pid)[0] == 201
    assert ask(client, others[0], pid)[0] == 201
    status, refused = ask(client, others[1], pid)  # the third try, the third department

    assert (status, refused["code"]) == (403, "risk.suspected")
    assert sorted(RiskDecision.objects.get().reasons) == ["departments", "holds"]


@pytest.mark.clock("10:30")
def test_a_patient_added_just_before_the_release_is_suspected():
    _, schedule = released_at_10(risk_action="refuse", risk_new_patient_minutes=60)
    with clock.travel(at(9, 40)):
        client, fresh = people(1)[0]
    with clock.travel(at(8, 0)):
        old_client, settled = people(1)[0]

    assert ask(client, schedule, fresh)[1]["code"] == "risk.suspected"
    assert ask(old_client, schedule, settled)[0] == 201
    assert RiskDecision.objects.get().reasons == ["new_patient"]


@pytest.mark.clock("10:30")
def test_a_suspected_request_is_sent_to_the_waitlist_not_to_a_slot():
    _, schedule = released_at_10(risk_action="draw", risk_accounts_per_client=2, waitlist_places=5)
    for i, (c, p) in enumerate(people(10)):
        assert ask(c, schedule, p, **{"X-Device-Id": f"phone-{i:04d}"})[0] == 201  # the clinic is full
    bots = people(3)
    answers = [ask(c, schedule, p, **{"X-Device-Id": "farm-7"}) for c, p in bots]

    assert answers[0][1]["code"] == "slot.unavailable"  # the first is not suspected yet
    assert [s for s, _ in answers[1:]] == [202, 202]
    assert {(b["status"], b["lottery"]) for _, b in answers[1:]} == {("waiting", False)}
    assert RiskDecision.objects.filter(action="draw").count() == 2


@pytest.mark.clock("10:30")
def test_joins_of_a_waitlist_are_scored_like_holds():
    _, schedule = released_at_10(risk_action="refuse", risk_accounts_per_client=3, waitlist_places=10)
    for i, (c, p) in enumerate(people(10)):
        assert ask(c, schedule, p, **{"X-Device-Id": f"phone-{i:04d}"})[0] == 201  # full
    bots = people(4)
    answers = [
        c.call("POST", "/waitlist", {"schedule_id": str(schedule.pk), "patient_id": p}, **{"X-Device-Id": "farm-9"})
        for c, p in bots
    ]
    assert [s for s, _ in answers] == [201, 201, 403, 403]
    assert set(RiskDecision.objects.filter(asked="waitlist").values_list("action", flat=True)) == {"refused"}
