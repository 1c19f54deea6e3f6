from __future__ import annotations

import datetime as dt
import os

import pytest
from django.conf import settings
from django.core.cache import cache

from guahao.booking import gate
from guahao.core import cache as core_cache
from guahao.core import clock
from guahao.scheduling import facts
from guahao.scheduling import selectors as scheduling_selectors
from tests.crash import crash_points, zygote  # noqa: F401 - fixtures of every test folder
from tests.processes import knobs, paysim_url, sandbox  # noqa: F401 - fixtures of every test folder

# The hour every test starts at, in Beijing: 10:00, or GUAHAO_TEST_TIME (CI runs the suite at
# other hours too; the code reads the time only through core.clock, tests/core/test_clock_reads.py).
TEST_TIME = dt.time.fromisoformat(os.environ.get("GUAHAO_TEST_TIME", "10:00"))
# The day they start on, in Beijing: today, or GUAHAO_TEST_DATE (bash scripts/weekdays runs the
# tests whose answers depend on the day of the week at each day of one week). Only the test's own
# process moves: the servers some tests start run at the machine's date.
TEST_DATE = os.environ.get("GUAHAO_TEST_DATE")


def starting_day() -> dt.date:
    return dt.date.fromisoformat(TEST_DATE) if TEST_DATE else clock.local_today("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _fresh_clock_and_cache(request):
    """Every test starts at TEST_TIME of today in Beijing (so 'tomorrow' never moves under it),
    or at the hour its scenario names (``@pytest.mark.clock("10:00")``: "it is 10:00, so the
    08:00 session is over"), with an empty cache (gate, rate limits)."""
    named = request.node.get_closest_marker("clock")
    start = dt.time.fromisoformat(named.args[0]) if named else TEST_TIME
    clock.reset()
    cache.clear()
    gate.reset()
    facts.reset()
    scheduling_selectors.reset()
    core_cache.counts_reset()
    with clock.travel(clock.at_local(starting_day(), start, "Asia/Shanghai")):
        yield
    clock.reset()
    cache.clear()
    gate.reset()
    facts.reset()
    scheduling_selectors.reset()
    core_cache.counts_reset()


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    """Tests log in many accounts from one address; the rate-limit tests turn them back on."""
    settings.RATELIMIT_ENABLED = False


@pytest.fixture(autouse=True)
def _staff_log_in_with_a_password(settings):
    """Test clients log in staff with ``Client.login`` (no request, so no lockout counting) and
    without a second factor; the staff access tests turn both back on."""
    settings.STAFF_OTP = "optional"
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _events_delivered_by_hand(settings):
    """Tests hand events to their subscribers themselves (``outbox.deliver_all``), as the worker would."""
    settings.OUTBOX_KICK = False


@pytest.fixture
def ratelimits(settings):
    settings.RATELIMIT_ENABLED = True


@pytest.fixture
def api():
    from tests.factories import Api

    return Api()


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete():
    """A transactional test empties the database afterwards (Django's flush). PostgreSQL's
    TRUNCATE of every table costs a few hundred milliseconds each time; the tables of a test hold
    a few rows, which DELETE removes in a few milliseconds (every foreign key is deferrable, so
    the order does not matter). Sequences are not reset either way."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    truncate = connection.ops.sql_flush

    def delete(style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
        if reset_sequences or not tables:
            return truncate(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        quote = connection.ops.quote_name
        return ["SET CONSTRAINTS ALL DEFERRED", *(f"DELETE FROM {quote(table)}" for table in tables)]  # noqa: S608

    connection.ops.sql_flush = delete
    yield
    connection.ops.sql_flush = truncate


@pytest.fixture(params=["in-process", "redis"] if settings.REDIS_URL else ["in-process"])
def which_gate(request, settings):
    """Run the test on each gate this suite can reach (Redis only in the at-scale run)."""
    if request.param == "in-process":
        settings.REDIS_URL = ""
    gate.reset()
    yield request.param
    gate.reset()
