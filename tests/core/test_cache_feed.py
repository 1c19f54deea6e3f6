"""The embedded default (SQLite, no Redis): each process keeps a patient's token in its own memory
for long, because a change made in any process (a logout, an account suspended) is written to the
database and every process reads those changes before it reads a kept key, at most half a second
apart. So a crowd is answered without reading tokens from the database, and a logout elsewhere is
honoured here within a second."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guahao.accounts import services as accounts
from guahao.accounts.models import Account
from guahao.core import cache as core_cache
from tests import factories as f
from tests.processes import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(settings.REDIS_URL) or "sqlite" not in settings.DATABASES["default"]["ENGINE"],
        reason="the embedded default: SQLite without Redis",
    ),
]


def logout(key: str) -> None:
    """Run in another process."""
    accounts.account_logout(key)


def suspend(account_id: int) -> None:
    """Run in another process: staff suspend the account (saved, so every process is told)."""
    account = Account.objects.get(pk=account_id)
    account.is_active = False
    account.save()


def token_reads(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "accounts_authtoken" in q["sql"]]


def kept_here(client: f.Api) -> None:
    """The patient's token is read once from the database, then kept in this process."""
    time.sleep(core_cache.FEED_SECONDS)  # a fresh look at the changes: nothing heard since
    assert accounts.account_for_token(client.token) is not None
    with CaptureQueriesContext(connection) as queries:
        assert accounts.account_for_token(client.token) is not None
    assert token_reads(queries) == []


def test_a_kept_token_is_answered_without_the_database_and_a_logout_in_another_process_ends_it_here(crash_points):
    patient = f.Api().login()
    kept_here(patient)
    time.sleep(2 * core_cache.FEED_SECONDS)  # longer than a look: still kept, still current
    with CaptureQueriesContext(connection) as queries:
        assert patient.call("GET", "/patients")[0] == 200
    assert token_reads(queries) == []

    crash_points.call("tests.core.test_cache_feed:logout", key=patient.token)

    began = time.monotonic()
    wait_for(lambda: accounts.account_for_token(patient.token) is None, timeout=5)
    assert time.monotonic() - began <= 1.0 + core_cache.FEED_SECONDS
    assert patient.call("GET", "/patients")[0] == 401


def test_an_account_suspended_in_another_process_is_refused_here_within_a_second(crash_points):
    patient = f.Api().login()
    kept_here(patient)

    crash_points.call("tests.core.test_cache_feed:suspend", account_id=patient.account_id)

    wait_for(lambda: patient.call("GET", "/patients")[0] == 401, timeout=1.0 + core_cache.FEED_SECONDS)


def kept_for(client: f.Api) -> float:
    """Seconds this process will keep the patient's token."""
    key = cache.make_key(accounts._token_key(accounts._digest(client.token)))
    return cache._expire_info[key] - time.time()  # type: ignore[attr-defined]


def test_a_token_read_while_another_process_changed_something_is_kept_only_briefly(monkeypatch):
    calm, unlucky = f.Api().login(), f.Api().login()
    time.sleep(core_cache.FEED_SECONDS)
    cache.clear()
    assert accounts.account_for_token(calm.token) is not None
    assert kept_for(calm) > accounts.TOKEN_CACHE_BRIEF_SECONDS + 60

    # A change is heard between the moment the token is looked up and the database's answer: the
    # answer may be the old one, so it is kept no longer than a process that hears nothing would.
    monkeypatch.setattr(core_cache, "feed_mark", lambda: core_cache._feed.heard - 1)
    assert accounts.account_for_token(unlucky.token) is not None
    assert kept_for(unlucky) <= accounts.TOKEN_CACHE_BRIEF_SECONDS


def test_a_process_that_did_not_look_for_a_minute_forgets_what_it_kept(monkeypatch):
    patient = f.Api().login()
    kept_here(patient)
    # The changes are deleted after an hour: a process idle for longer than a minute cannot be
    # sure it read them all, so it reads the token from the database again.
    monkeypatch.setattr(core_cache._feed, "looked", time.monotonic() - core_cache.FEED_IDLE_SECONDS - 1)
    Account.objects.filter(pk=patient.account_id).update(is_active=False)  # nobody told of it
    assert accounts.account_for_token(patient.token) is None
