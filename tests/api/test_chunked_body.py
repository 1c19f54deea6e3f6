"""A body sent in chunks (``Transfer-Encoding: chunked``, no ``Content-Length``), as a phone's
HTTP library streams one it did not measure, is read like any other: through the real server
(granian), since the server is what undoes the chunks."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from guahao.accounts.models import Patient
from tests import factories as f
from tests.crash import database_url
from tests.processes import PAYSIM_ENV, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server() -> Iterator[int]:
    """Our WSGI application under granian, on this test's database."""
    port = free_port()
    env = dict(os.environ, **PAYSIM_ENV, DATABASE_URL=database_url(), GUAHAO_HTTPS="off")
    command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(  # noqa: S603
        [*command, "--workers", "1", "--blocking-threads", "2", "--no-ws", "guahao.wsgi:application"], env=env
    )
    try:
        for _ in range(200):
            try:
                if _send(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _send(port: int, method: str, path: str, body: bytes | None = None, token: str = "") -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    if body is None:
        connection.request(method, path, headers=headers)
    else:  # in pieces (of 7 bytes, for a small body), with no length given
        size = 7 if len(body) < 10_000 else 1 << 16
        pieces = (body[i : i + size] for i in range(0, len(body), size))
        connection.request(method, path, body=pieces, headers=headers, encode_chunked=True)
    answer = connection.getresponse()
    text = answer.read()
    connection.close()
    return answer.status, json.loads(text) if text else {}


def _chunked(port: int, path: str, fields: dict, token: str = "") -> tuple[int, dict]:
    return _send(port, "POST", path, json.dumps(fields).encode(), token)


def test_a_phone_streaming_its_bodies_logs_in_and_adds_a_patient(server):
    phone = f.phone()
    status, sent = _chunked(server, "/api/v1/auth/sms-code", {"phone": phone})
    assert status == 200 and sent["sent"] is True, sent
    status, logged_in = _chunked(server, "/api/v1/auth/login", {"phone": phone, "code": sent["dev_code"]})
    assert status == 200, logged_in
    person = {"name": "王芳", "id_number": f.id_number(), "phone": phone, "relation": "self"}
    status, added = _chunked(server, "/api/v1/patients", person, logged_in["token"])
    assert status == 201, added
    assert Patient.objects.get(pk=added["id"]).name == "王芳"


def test_a_streamed_body_over_the_limit_is_refused_with_its_size(server):
    body = json.dumps({"phone": f.phone(), "note": "x" * 3_000_000}).encode()
    status, problem = _send(server, "POST", "/api/v1/auth/sms-code", body)
    assert (status, problem["code"]) == (413, "request.too_large")
    assert str(len(body)) in problem["detail"]
