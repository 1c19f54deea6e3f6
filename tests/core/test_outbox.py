"""Events between the apps: written with the change, handed to each subscriber once, whatever
the worker does (runs twice, runs in parallel, fails, is killed mid-way)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from guahao.core import clock, outbox
from guahao.core.models import DeliveryStatus, OutboxDelivery, OutboxEvent
from tests.booking.test_concurrency import race

WITNESS = "test.witness"


@pytest.fixture
def subscribed():
    """Two test consumers that leave a witness event for every event they handle."""
    saved = dict(outbox._subscribers)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def handler(name: str):
        def handle(event: OutboxEvent) -> None:
            OutboxEvent.objects.create(topic=WITNESS, data={"of": event.pk, "by": name}, created_at=clock.now())
            seen[name].append(event.pk)

        return handle

    outbox._subscribers.clear()
    outbox.subscribe(consumer="test-a", topics=["test.thing"], handler=handler("a"))
    outbox.subscribe(consumer="test-b", topics=["test.thing", "test.other"], handler=handler("b"))
    yield seen
    outbox._subscribers.clear()
    outbox._subscribers.update(saved)


def witnesses(by: str) -> list[int]:
    return sorted(e.data["of"] for e in OutboxEvent.objects.filter(topic=WITNESS) if e.data["by"] == by)


def emit(topic: str = "test.thing", **data) -> OutboxEvent:
    with transaction.atomic():
        return outbox.event_emit(topic, **data)


@pytest.mark.django_db
def test_an_event_of_a_change_undone_is_never_delivered(subscribed):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.event_emit("test.thing", n=1)
        raise RuntimeError("the change fails after its event was written")

    assert outbox.deliver_all() == {"test-a": 0, "test-b": 0}
    assert witnesses("a") == witnesses("b") == []


@pytest.mark.django_db
def test_each_subscriber_gets_each_of_its_events_once_however_often_the_worker_runs(subscribed):
    one, other, two = emit(n=1), emit("test.other", n=2), emit(n=3)

    assert outbox.deliver_all() == {"test-a": 2, "test-b": 3}
    assert outbox.deliver_all() == {"test-a": 0, "test-b": 0}
    assert witnesses("a") == [one.pk, two.pk]
    assert witnesses("b") == [one.pk, other.pk, two.pk]
    assert OutboxDelivery.objects.filter(status=DeliveryStatus.DONE).count() == 5


@pytest.mark.django_db
def test_a_failing_handler_is_undone_and_tried_again_with_back_off(subscribed):
    tries = []

    def flaky(event: OutboxEvent) -> None:
        OutboxEvent.objects.create(topic=WITNESS, data={"of": event.pk, "by": "flaky"}, created_at=clock.now())
        tries.append(clock.now())
        if len(tries) < 3:
            raise ConnectionError("the channel is down")

    outbox._subscribers.clear()
    outbox.subscribe(consumer="test-flaky", topics=["test.thing"], handler=flaky)
    event = emit(n=1)

    assert outbox.deliver_all() == {"test-flaky": 0}
    delivery = OutboxDelivery.objects.get(event=event, consumer="test-flaky")
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILING, 1)
    assert "ConnectionError: the channel is down" in delivery.last_error
    assert witnesses("flaky") == []  # what the failed try wrote was undone with it

    assert outbox.deliver_all() == {"test-flaky": 0} and len(tries) == 1  # not due again yet
    with clock.travel(clock.now() + dt.timedelta(seconds=6)):
        assert outbox.deliver_all() == {"test-flaky": 0}
    assert OutboxDelivery.objects.get(pk=delivery.pk).attempts == 2
    with clock.travel(clock.now() + dt.timedelta(seconds=30)):
        assert outbox.deliver_all() == {"test-flaky": 1}
        assert outbox.deliver_all() == {"test-flaky": 0}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.DONE, 3, "")
    assert witnesses("flaky") == [event.pk]


@pytest.mark.django_db
def test_a_delivery_still_failing_is_shown_to_staff_and_can_be_sent_again(subscribed):
    broken = {"yes": True}

    def handler(event: OutboxEvent) -> None:
        if broken["yes"]:
            raise ValueError("template missing")

    outbox._subscribers.clear()
    outbox.subscribe(consumer="test-broken", topics=["test.thing"], handler=handler)
    emit(n=1)
    at = clock.now()
    for hours in range(outbox.ATTENTION_AFTER):
        with clock.travel(at + dt.timedelta(hours=hours + 1)):
            outbox.deliver_all()
    assert list(outbox.failing().values_list("attempts", flat=True)) == [outbox.ATTENTION_AFTER]

    broken["yes"] = False
    assert outbox.delivery_retry(delivery=outbox.failing().get()) is True
    assert not outbox.failing().exists()


@pytest.mark.django_db(transaction=True)
def test_workers_running_at_once_hand_each_event_over_once(subscribed):
    events = [emit(n=i) for i in range(12)]

    results = race([outbox.deliver_all for _ in range(4)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["test-a"] for r in results) == 12 and sum(r["test-b"] for r in results) == 12
    assert witnesses("a") == witnesses("b") == [e.pk for e in events]


@pytest.mark.django_db
def test_the_cursor_moves_past_what_is_done_and_old_but_never_past_what_is_not(subscribed):
    from guahao.core.models import OutboxCursor

    first = emit(n=1)
    outbox.deliver_all()
    assert OutboxCursor.objects.get(consumer="test-a").low_id == 0  # too young to be passed yet
    with clock.travel(clock.now() + outbox.SETTLED_AFTER + dt.timedelta(minutes=1)):
        outbox._subscribers["test-a"] = outbox.Subscriber("test-a", frozenset(["test.thing"]), _raise)
        second = emit(n=2)
        outbox.deliver_all()
        # The first is done and old: passed. The second failed: the cursor stays before it.
        assert first.pk <= OutboxCursor.objects.get(consumer="test-a").low_id < second.pk


def _raise(event: OutboxEvent) -> None:
    raise RuntimeError("down")


def child_worker() -> None:
    """A worker of its own whose handler of test-a leaves its witness, then is killed."""
    outbox._subscribers.clear()
    outbox.subscribe(consumer="test-a", topics=["test.thing"], handler=_handle_in_child)
    outbox.deliver_all()


def _handle_in_child(event: OutboxEvent) -> None:
    OutboxEvent.objects.create(topic=WITNESS, data={"of": event.pk, "by": "child"}, created_at=clock.now())


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_handling_an_event_leaves_it_to_the_next_one(subscribed, crash_points):
    event = emit(n=1)
    here = "tests.core.test_outbox"
    with crash_points.job(f"{here}:child_worker", f"{here}:_handle_in_child", when="after"):
        pass  # killed while handling the event, its witness written but not committed

    assert outbox.deliver_all()["test-a"] == 1
    assert witnesses("a") == [event.pk] and witnesses("child") == []
