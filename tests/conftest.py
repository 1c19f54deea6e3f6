from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from guahao.booking import gate
from guahao.core import clock
from tests.processes import knobs, paysim_url, sandbox  # noqa: F401 - fixtures of every test folder


@pytest.fixture(autouse=True)
def _fresh_clock_and_cache():
    """Every test starts at 10:00 of today in Beijing (so 'tomorrow' never moves under it)
    with an empty cache (gate, rate limits)."""
    clock.reset()
    cache.clear()
    gate.reset()
    today = clock.local_today("Asia/Shanghai")
    with clock.travel(clock.at_local(today, dt.time(10, 0), "Asia/Shanghai")):
        yield
    clock.reset()
    cache.clear()
    gate.reset()


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    """Tests log in many accounts from one address; the rate-limit tests turn them back on."""
    settings.RATELIMIT_ENABLED = False


@pytest.fixture
def ratelimits(settings):
    settings.RATELIMIT_ENABLED = True


@pytest.fixture
def api():
    from tests.factories import Api

    return Api()
