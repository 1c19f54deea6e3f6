"""Changes the HIS pushes (signed) to ``POST /api/v1/his/{hospital_id}/events``: applied once."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guahao.booking.models import Registration
from guahao.core import outbox
from guahao.his import check
from guahao.scheduling.models import SlotState
from tests.his.conftest import connect, send_all
from tests.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    """Stands where Guahao's webhook is: keeps what the HIS pushed, signature headers and all."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                inbox.received.append(({k: v for k, v in self.headers.items() if k.startswith("His-")}, body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def wait(self, kind: str) -> tuple[dict, bytes]:
        for _ in range(100):
            for headers, body in self.received:
                if json.loads(body)["type"] == kind:
                    return headers, body
            time.sleep(0.05)
        raise AssertionError(f"no {kind} pushed")


@pytest.fixture
def inbox():
    box = Inbox()
    yield box
    box.server.shutdown()


def push(client, hospital_id, headers, body) -> tuple[int, dict]:
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = client.post(f"/api/v1/his/{hospital_id}/events", data=body, content_type="application/json", **extra)
    return response.status_code, response.json()


def test_a_cancellation_at_the_window_frees_the_slot_once_even_pushed_twice(sim, api, inbox, client):
    c = connect(sim, "synced", webhook_url=inbox.url)
    schedule = c.schedule("S1")
    api.login()
    patient_id = api.add_patient(relation="other")
    _, hold = api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    _, registration = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    sim.faults(push=True)
    sim.post(f"/admin/registrations/{registration['registration_number']}/cancel", {"channel": "window"})
    headers, body = inbox.wait("registration.cancelled")

    forged = dict(headers, **{"His-Signature": "0" * 64})
    assert push(client, c.hospital.pk, forged, body)[0] == 401
    assert Registration.objects.get(pk=registration["id"]).status == "booked"  # nothing changed

    assert push(client, c.hospital.pk, headers, body) == (200, {"outcome": "cancelled"})
    assert push(client, c.hospital.pk, headers, body) == (200, {"outcome": "duplicate"})
    assert Registration.objects.get(pk=registration["id"]).status == "cancelled"
    assert schedule.slots.get(number=1).state == SlotState.FREE
    outbox.deliver_all()  # the worker tells the patient
    _, messages = api.call("GET", "/messages")
    assert [m["kind"] for m in messages] == ["registration.cancelled_by_hospital", "registration.booked"]
    send_all()
    assert check.differences(c.connection) == []


def test_another_channel_taking_and_giving_back_a_slot_is_mirrored(sim, inbox, client):
    c = connect(sim, "realtime", webhook_url=inbox.url)
    schedule = c.schedule("S1")
    sim.faults(push=True)
    taken = sim.post("/admin/registrations", {"schedule_id": c.sid("S1"), "number": 2, "channel": "other-platform"})
    assert push(client, c.hospital.pk, *inbox.wait("registration.created")) == (200, {"outcome": "slot_taken"})
    assert schedule.slots.get(number=2).state == SlotState.ELSEWHERE
    sim.post(f"/admin/registrations/{taken['ref']}/cancel", {"channel": "other-platform"})
    assert push(client, c.hospital.pk, *inbox.wait("registration.cancelled")) == (200, {"outcome": "slot_freed"})
    assert schedule.slots.get(number=2).state == SlotState.FREE
    assert check.differences(c.connection) == []
