"""Each hospital's HIS may have a key of its own: set in the console, sealed at rest, used both to
sign the platform's requests to that HIS and to check the events it pushes."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from guahao.core.signing import sign, stamp
from guahao.his import sync
from guahao.his.interface import HisError, HisRefused
from guahao.his.models import HisConnection
from tests.his.conftest import KEY, connect

pytestmark = pytest.mark.django_db(transaction=True)
OWN = "renhe-his-only-key-0001"


def signed(key: str, body: bytes) -> dict[str, str]:
    ts, nonce = stamp()
    return {
        "HTTP_HIS_TIMESTAMP": ts,
        "HTTP_HIS_NONCE": nonce,
        "HTTP_HIS_SIGNATURE": sign(key, ts, nonce, body.decode()),
    }


def key_set(connection: HisConnection, key: str) -> Client:
    """Platform staff give the connection its key in the console."""
    User.objects.get_or_create(username="ops", defaults={"is_staff": True, "is_superuser": True})
    console = Client(HTTP_ACCEPT_LANGUAGE="en")
    console.force_login(User.objects.get(username="ops"))
    fields = {
        "hospital": connection.hospital_id,
        "mode": connection.mode,
        "base_url": connection.base_url,
        "hospital_code": connection.hospital_code,
        "is_active": "on",
        "new_key": key,
    }
    response = console.post(f"/console/his/hisconnection/{connection.pk}/change/", fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    return console


def test_events_are_checked_with_the_hospitals_own_key_once_it_has_one(sim, client):
    c = connect(sim, "synced")
    body = json.dumps({"id": "k1", "type": "notice.changed", "data": {}}).encode()
    url = f"/api/v1/his/{c.hospital.pk}/events"

    def push(key: str) -> int:
        return client.post(url, data=body, content_type="application/json", **signed(key, body)).status_code

    assert push(OWN) == 401  # not yet: the platform's key is the hospital's
    assert push(KEY) == 200
    console = key_set(c.connection, OWN)
    stored = HisConnection.objects.get(pk=c.connection.pk).key_sealed
    assert stored and OWN not in stored  # sealed at rest
    page = console.get(f"/console/his/hisconnection/{c.connection.pk}/change/").content.decode()
    assert 'name="new_key"' in page and 'name="base_url"' in page and OWN not in page  # never shown again
    assert 'name="new_key"' in console.get("/console/his/hisconnection/add/").content.decode()
    assert push(KEY) == 401  # another hospital's HIS cannot speak for this one
    assert push(OWN) == 200


def test_requests_to_the_his_are_signed_with_the_hospitals_own_key(sim):
    c = connect(sim, "synced")
    key_set(c.connection, OWN)  # a key this HIS (the simulator, which holds KEY) does not share
    connection = HisConnection.objects.get(pk=c.connection.pk)
    with pytest.raises((HisError, HisRefused)):
        sync.hospital_sync(connection)
    assert HisConnection.objects.get(pk=c.connection.pk).sync_error  # shown to staff

    connection.signing_key_set(KEY)  # the key this HIS holds (shorter than the console accepts)
    connection.save(update_fields=["key_sealed"])
    sync.hospital_sync(connection)
    assert HisConnection.objects.get(pk=c.connection.pk).sync_error == ""


def test_a_short_key_is_refused_and_the_current_one_kept(sim):
    c = connect(sim, "synced")
    key_set(c.connection, OWN)
    console = Client(HTTP_ACCEPT_LANGUAGE="en")
    console.force_login(User.objects.get(username="ops"))
    fields = {
        "hospital": c.hospital.pk,
        "mode": "synced",
        "hospital_code": c.code,
        "is_active": "on",
        "new_key": "short",
    }
    response = console.post(f"/console/his/hisconnection/{c.connection.pk}/change/", fields)
    assert response.status_code == 200 and "at least 16 characters" in response.content.decode()
    assert HisConnection.objects.get(pk=c.connection.pk).signing_key() == OWN
