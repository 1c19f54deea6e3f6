"""Events between the apps: a lower app tells the apps above it what happened without importing them.

A change writes its event (``event_emit``) in its own transaction: no event of a change undone,
no change without its event. The apps above subscribe a handler to topics (``subscribe``, in
their ``AppConfig.ready``). The worker hands each event to each subscriber once:

- the handler runs in a transaction that also records the delivery (one row per event and
  consumer, kept unique by the database), so a crash undoes both and the event comes again,
  and a second worker meets the row and leaves the event alone;
- a handler that fails is undone, and the event tried again with back-off (the failure is
  recorded in a transaction of its own); after ``ATTENTION_AFTER`` tries it is listed for staff;
- after a commit that wrote events the worker is asked to deliver in a moment (``kick``, at most
  once a second), and a periodic sweep catches whatever that missed (a worker that was down).

Handlers must be safe to run again after a crash outside the database (a message sent, then the
process killed before the commit): what they write in the database happens once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, Q

from guahao.core import clock
from guahao.core.models import DeliveryStatus, OutboxCursor, OutboxDelivery, OutboxEvent

log = logging.getLogger(__name__)

BACKOFF_SECONDS = [5, 15, 60, 300, 900, 3600]
ATTENTION_AFTER = 5
# An event id is taken when its transaction writes it, not when it commits: a smaller id may
# become visible after a larger one. The cursor never passes events younger than this.
SETTLED_AFTER = dt.timedelta(minutes=10)
KICK_KEY = "outbox:kick"
KICK_SECONDS = 1

Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Subscriber:
    consumer: str
    topics: frozenset[str]
    handler: Handler


_subscribers: dict[str, Subscriber] = {}


def subscribe(*, consumer: str, topics: Iterable[str], handler: Handler) -> None:
    """Hand every event of ``topics`` to ``handler`` once (at start-up; the name is kept in the
    database with what was delivered, so it must not change)."""
    _subscribers[consumer] = Subscriber(consumer, frozenset(topics), handler)


def subscribers() -> list[Subscriber]:
    return list(_subscribers.values())


def event_emit(topic: str, **data: Any) -> OutboxEvent:
    """Record that something happened. Call inside the transaction of the change itself."""
    event = OutboxEvent.objects.create(topic=topic, data=data, created_at=clock.now())
    transaction.on_commit(kick)
    return event


_quiet_until = -1.0  # monotonic: this process need not ask before then


def kick() -> None:
    """Ask the worker to deliver in a moment. At most once a second: the job is queued to run
    half a second after the key that says "asked" is gone, so it sees every event committed
    while the key lived (the events of a crowd share one job). A process that asked, or found
    the key, does not ask the cache again for a while that ends before that job runs."""
    global _quiet_until
    if not settings.OUTBOX_KICK:
        return
    now = time.monotonic()
    if now < _quiet_until:
        return
    try:
        if cache.add(KICK_KEY, 1, timeout=KICK_SECONDS):
            from guahao.core.tasks import deliver_events

            deliver_events.schedule(delay=KICK_SECONDS + 0.5)
            _quiet_until = now + KICK_SECONDS
        else:
            _quiet_until = now + 0.25  # another's job runs at least half a second later still
    except Exception:  # noqa: BLE001 - the periodic sweep delivers what a failed kick would have
        log.warning("could not ask the worker to deliver events", exc_info=True)


# --- delivery ------------------------------------------------------------------------------------

_CLAIM = """
INSERT INTO {table} (event_id, consumer, status, attempts, next_at, last_error, done_at)
VALUES (%s, %s, %s, 1, NULL, '', %s)
ON CONFLICT (event_id, consumer) DO UPDATE
SET status = excluded.status, attempts = {table}.attempts + 1, next_at = NULL, last_error = '',
    done_at = excluded.done_at
WHERE {table}.status = %s AND {table}.next_at <= %s
RETURNING id
"""

_FAILED = """
INSERT INTO {table} (event_id, consumer, status, attempts, next_at, last_error, done_at)
VALUES (%s, %s, %s, 1, %s, %s, NULL)
ON CONFLICT (event_id, consumer) DO UPDATE
SET attempts = {table}.attempts + 1, next_at = %s, last_error = excluded.last_error
WHERE {table}.status = %s
"""


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])


def _claim(event_id: int, consumer: str, now: dt.datetime) -> bool:
    """Inside the handler's transaction: record the delivery as done; False when another
    worker did (or is doing) it, or a failed try is not due again yet."""
    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    sql = _CLAIM.format(table=OutboxDelivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id, consumer, DeliveryStatus.DONE, at, DeliveryStatus.FAILING, at])
        return cursor.fetchone() is not None


def _record_failure(event_id: int, consumer: str, error: str, now: dt.datetime) -> None:
    attempts = (
        OutboxDelivery.objects.filter(event_id=event_id, consumer=consumer).values_list("attempts", flat=True).first()
        or 0
    )
    at = connection.ops.adapt_datetimefield_value(now + _backoff(attempts + 1))
    sql = _FAILED.format(table=OutboxDelivery._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event_id, consumer, DeliveryStatus.FAILING, at, error[:300], at, DeliveryStatus.FAILING])


def deliver_one(subscriber: Subscriber, event: OutboxEvent) -> bool:
    """Hand one event to one subscriber, once. True when it was handled now."""
    now = clock.now()
    try:
        with transaction.atomic():
            if not _claim(event.pk, subscriber.consumer, now):
                return False
            subscriber.handler(event)
    except Exception as exc:  # noqa: BLE001 - recorded and tried again; the worker goes on
        log.exception("event %s (%s) failed in %s", event.pk, event.topic, subscriber.consumer)
        _record_failure(event.pk, subscriber.consumer, f"{type(exc).__name__}: {exc}", now)
        return False
    return True


def _waiting(subscriber: Subscriber, low: int, now: dt.datetime) -> Any:
    handled = OutboxDelivery.objects.filter(event=OuterRef("pk"), consumer=subscriber.consumer).filter(
        Q(status=DeliveryStatus.DONE) | Q(next_at__gt=now)
    )
    return OutboxEvent.objects.filter(topic__in=subscriber.topics, pk__gt=low).exclude(Exists(handled)).order_by("pk")


def deliver(subscriber: Subscriber, *, limit: int = 500) -> int:
    """Hand the subscriber every event it has not had yet (oldest first); how many were handled."""
    cursor, _ = OutboxCursor.objects.get_or_create(consumer=subscriber.consumer)
    now = clock.now()
    handled = 0
    for event in _waiting(subscriber, cursor.low_id, now)[:limit]:
        handled += deliver_one(subscriber, event)
    _advance(subscriber, cursor)
    return handled


def _advance(subscriber: Subscriber, cursor: OutboxCursor) -> None:
    """Move the consumer's cursor past every event it is done with and that is old enough that
    no smaller id can still appear."""
    now = clock.now()
    pending = OutboxDelivery.objects.filter(
        event=OuterRef("pk"), consumer=subscriber.consumer, status=DeliveryStatus.DONE
    )
    first_open = (
        OutboxEvent.objects.filter(topic__in=subscriber.topics, pk__gt=cursor.low_id)
        .exclude(Exists(pending))
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    settled = OutboxEvent.objects.filter(pk__gt=cursor.low_id, created_at__lte=now - SETTLED_AFTER).aggregate(
        top=Max("pk")
    )["top"]
    if settled is None:
        return
    low = settled if first_open is None else min(settled, first_open - 1)
    if low > cursor.low_id:
        OutboxCursor.objects.filter(pk=cursor.pk, low_id__lt=low).update(low_id=low)


def deliver_all(*, limit: int = 500) -> dict[str, int]:
    """The worker's job: every subscriber, every event it has not had yet."""
    return {s.consumer: deliver(s, limit=limit) for s in subscribers()}


def failing() -> Any:
    """Deliveries staff should look at: still failing after several tries."""
    return OutboxDelivery.objects.filter(status=DeliveryStatus.FAILING, attempts__gte=ATTENTION_AFTER)


def delivery_retry(*, delivery: OutboxDelivery) -> bool:
    """Staff try a failing delivery again now; True when it went through."""
    OutboxDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILING).update(next_at=clock.now())
    subscriber = _subscribers.get(delivery.consumer)
    if subscriber is None:
        return False
    return deliver_one(subscriber, delivery.event)
