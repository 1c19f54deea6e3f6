"""With Redis, a patient's token and the schedules' generations are kept in each process too, so
that a release's crowd is answered without a round trip; a change made in another process
(a logout, a suspension) is honoured here a moment later, and nothing is kept while this
process cannot hear of changes."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator

import pytest
from django.conf import settings

from guahao.accounts import services as accounts
from guahao.accounts.models import Account
from guahao.core import cache as core_cache
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import Schedule
from tests import factories as f
from tests.processes import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="kept in each process only beside Redis"),
]


def logout(key: str) -> None:
    """Run in another process."""
    accounts.account_logout(key)


def suspend(schedule_id: int) -> None:
    """Run in another process."""
    scheduling.schedule_mark_suspended(schedule=Schedule.objects.get(pk=schedule_id), reason="专家临时出诊")


def listening() -> None:
    core_cache.read_first("warm-up")  # the first read starts the listener
    wait_for(lambda: core_cache._local.listening, timeout=10)


@contextlib.contextmanager
def no_round_trips() -> Iterator[None]:
    """Reads of the cache fail inside: what answers must be kept in this process."""

    def refuse(*args, **kwargs):
        raise AssertionError("a round trip to Redis")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_cache.RedisCache, "get_many", refuse)
        patch.setattr(core_cache.RedisCache, "get", refuse)
        yield


def test_a_crowd_turned_away_from_a_sold_out_clinic_costs_no_round_trip_and_a_logout_elsewhere_ends_the_token_here(
    crash_points,
):
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), slots_per_period=1)  # one slot
    first = f.Api().login()
    assert first.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": first.add_patient()})[0] == 201
    patient = f.Api().login()
    patient_id = patient.add_patient()
    listening()
    hold = {"schedule_id": str(schedule.pk), "patient_id": patient_id}
    for _ in range(2):  # the first reads the token from Redis, the second from this process
        status, refused = patient.call("POST", "/holds", hold)
        assert (status, refused["code"]) == (409, "slot.unavailable"), refused

    with no_round_trips():
        status, refused = patient.call("POST", "/holds", hold)
        assert (status, refused["code"]) == (409, "slot.unavailable")

    # The patient logs out on another web process: this one no longer takes the token.
    crash_points.call("tests.core.test_cache_local:logout", key=patient.token)
    wait_for(lambda: accounts.account_for_token(patient.token) is None, timeout=3)
    assert patient.call("POST", "/holds", hold)[0] == 401


def test_a_clinic_suspended_by_another_process_is_refused_as_suspended_here_a_moment_later(crash_points):
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep))
    first, patient = f.Api().login(), f.Api().login()
    listening()
    hold = {"schedule_id": str(schedule.pk), "patient_id": first.add_patient()}
    assert first.call("POST", "/holds", hold)[0] == 201  # the schedule's facts are kept here now

    crash_points.call("tests.core.test_cache_local:suspend", schedule_id=schedule.pk)
    hold = {"schedule_id": str(schedule.pk), "patient_id": patient.add_patient()}
    status, refused = wait_for(lambda: (answer := patient.call("POST", "/holds", hold))[0] == 409 and answer, timeout=3)
    assert refused["code"] == "schedule.suspended", refused


def test_nothing_kept_before_redis_dropped_the_listener_is_used_after():
    account = f.Api().login()
    listening()
    assert accounts.account_for_token(account.token) is not None
    assert accounts.account_for_token(account.token) is not None  # kept here now
    # Redis drops the listening connection (a restart, a failover): while this process could
    # not hear of changes, what it kept may be stale, so it is all forgotten.
    client = core_cache.redis()
    ours = [c for c in client.client_list(_type="pubsub") if c["name"] == f"guahao-changes-{os.getpid()}"]
    assert len(ours) == 1
    assert client.client_kill_filter(_id=ours[0]["id"]) == 1
    wait_for(lambda: not core_cache._local.values, timeout=20)
    # A change nobody was told of (the account suspended by hand in the database) is seen: the
    # token is read again from Redis and the database, not from what was kept.
    Account.objects.filter(pk=account.account_id).update(is_active=False)
    client.delete(*client.keys("*auth:token:*"))
    assert accounts.account_for_token(account.token) is None


def test_a_value_read_while_a_change_was_heard_is_not_kept():
    listening()
    heard = core_cache._local.heard
    core_cache._tell(["auth:token:abc"])  # a change heard while the value was on its way
    core_cache._local.put("auth:token:abc", ("old", None), heard)
    assert "auth:token:abc" not in core_cache._local.values
    core_cache._local.put("auth:token:abc", ("new", None), core_cache._local.heard)
    assert "auth:token:abc" in core_cache._local.values
