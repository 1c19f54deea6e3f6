"""However many workers run, each periodic job is queued once a tick."""

from __future__ import annotations

import datetime as dt
import secrets

from django.utils.module_loading import autodiscover_modules
from huey.contrib.djhuey import HUEY

from guahao.core.jobs import OncePerTick


def test_a_periodic_job_due_this_minute_is_queued_by_the_first_worker_only():
    autodiscover_modules("tasks")  # as the worker does
    assert isinstance(HUEY, OncePerTick)
    # A minute no other run used (the queue's store outlives a test run): jobs "every minute" or
    # "every hour at :00" are due at 10:00.
    tick = dt.datetime(secrets.choice(range(2100, 9000)), 12, 1, 10, 0, tzinfo=dt.UTC)
    due = {t.name for t in super(OncePerTick, HUEY).read_periodic(tick)}  # type: ignore[misc]
    assert due, "some periodic jobs are due at 10:00"
    first = {t.name for t in HUEY.read_periodic(tick)}
    second = {t.name for t in HUEY.read_periodic(tick)}  # another worker's scheduler, the same minute
    assert (first, second) == (due, set())
    assert {t.name for t in HUEY.read_periodic(tick + dt.timedelta(minutes=1))} >= {
        t.name
        for t in super(OncePerTick, HUEY).read_periodic(tick + dt.timedelta(minutes=1))  # type: ignore[misc]
    }
