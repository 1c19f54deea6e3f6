"""Checking one patient's limits reads that patient's rows, not the release's.

On PostgreSQL the hold function's counts are planned once per connection, often before the hold
tables have statistics (a new database, a release's first seconds); they must go by the indexes
that begin with the account or the person whatever the planner guesses, or every hold of a
release reads every live hold made before it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from guahao.booking import locks, services
from guahao.core import clock
from guahao.scheduling.rules import rules_for_schedule
from tests import factories as f

pytestmark = pytest.mark.django_db


def _rows_read(plan: dict[str, Any], tables: set[str]) -> int:
    """The rows the plan's scans of ``tables`` read: those kept and those filtered away."""
    read = 0
    if plan.get("Relation Name") in tables:
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", []):
        read += _rows_read(child, tables)
    return read


def test_a_patients_limits_are_counted_from_their_own_rows_while_a_release_holds_hundreds():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner (SQLite counts under the database's write lock, by the same indexes)")
    h = f.hospital()
    dep = f.department(h)
    sched = f.schedule(dep, f.doctor(dep), start=dt.time(8, 0), end=dt.time(12, 0), slots_per_period=30)
    rules = rules_for_schedule(sched)
    for _ in range(150):  # the release's first holds, in the same department and hospital that day
        crowd = f.account()
        services.hold_create(account=crowd, patient=f.patient(crowd, relation="self"), schedule=sched, rules=rules)
    me = f.account()
    mine = f.patient(me, relation="self")
    terms = services._terms(
        account_id=me.pk, patient_id=mine.pk, schedule=sched, period=None, rules=rules, now=clock.now()
    )

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + locks._counts_sql(), locks._params(terms))
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute(locks._counts_sql(), locks._params(terms))
        counts = cursor.fetchone()

    assert counts[:4] == (0, 0, 0, None)  # nothing of mine yet
    assert _rows_read(plan, {"booking_hold", "booking_registration", "booking_blacklistentry"}) == 0
