"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guahao.core import cache, idempotency, outbox, ratelimit


@db_periodic_task(crontab(minute="15", hour="*/6"))
def forget_idempotency_keys() -> int:
    return idempotency.forget_old()


@db_periodic_task(crontab(minute="40"))
def forget_rate_counts() -> int:
    return ratelimit.forget_old()


@db_periodic_task(crontab(minute="45"))
def forget_cache_changes() -> int:
    return cache.feed_forget_old()


@db_task()
def deliver_events() -> dict[str, int]:
    """Asked for after a commit that wrote events (``outbox.kick``)."""
    return outbox.deliver_all()


@db_periodic_task(crontab(minute="*"))
def sweep_events() -> dict[str, int]:
    """Whatever a kick missed (the worker was down, a handler failed and is due again)."""
    return outbox.deliver_all()
