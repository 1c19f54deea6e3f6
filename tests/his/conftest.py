"""The HIS simulator as a real process, and hospitals connected to it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guahao.catalog.models import Department, Doctor, Hospital
from guahao.core import clock
from guahao.his import outbox, sync
from guahao.his.models import HisConnection
from guahao.scheduling.models import Schedule
from tests import factories as f
from tests.processes import simulator_process

KEY = "hissim-test-key"
CALM = {"latency_ms": 0, "error": 0.0, "timeout": 0.0, "lost": 0.0, "hang_ms": 800, "push": False, "method": ""}


def hissim_process(store: Path, faults: str = "") -> contextlib.AbstractContextManager[str]:
    return simulator_process("hissim", store, {"GUAHAO_HIS_KEY": KEY, "GUAHAO_HISSIM_FAULTS": faults})


@pytest.fixture(scope="session")
def hissim_url(tmp_path_factory) -> Iterator[str]:
    with hissim_process(tmp_path_factory.mktemp("hissim") / "hissim.sqlite3") as url:
        yield url


@dataclass
class Sim:
    url: str

    def post(self, path: str, body: Any) -> dict:
        request = urllib.request.Request(  # noqa: S310
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def faults(self, **values: Any) -> dict:
        return self.post("/control", CALM | values)


@pytest.fixture
def sim(settings, hissim_url) -> Iterator[Sim]:
    """Guahao pointed at the simulator (no cached availability, a short patience), faults off."""
    settings.HIS_URL = hissim_url
    settings.HIS_KEY = KEY
    settings.HIS_TIMEOUT_MS = 500
    settings.HIS_AVAILABILITY_SECONDS = 0
    s = Sim(hissim_url)
    s.faults()
    yield s
    s.faults()


def his_schedule(
    his_id: str, dep: str, doc: str, *, platform: int = 4, onsite: int = 1, day: dt.date | None = None
) -> dict:
    """Tomorrow 08:00-09:00 in two periods; each period's first numbers are the platform's."""
    day = day or f.today() + dt.timedelta(days=1)
    slots, number = [], 1
    for start, end in (("08:00", "08:30"), ("08:30", "09:00")):
        for i in range(platform // 2 + onsite):
            slots.append(
                {
                    "number": number,
                    "period_starts_at": f"{day}T{start}:00+08:00",
                    "period_ends_at": f"{day}T{end}:00+08:00",
                    "pool": "platform" if i < platform // 2 else "onsite",
                }
            )
            number += 1
    return {
        "id": his_id,
        "department_code": dep,
        "doctor_code": doc,
        "date": day.isoformat(),
        "session": "am",
        "starts_at": f"{day}T08:00:00+08:00",
        "ends_at": f"{day}T09:00:00+08:00",
        "registration_fee_fen": 0,
        "consultation_fee_fen": 1200,
        "location": "门诊楼3层",
        "slots": slots,
    }


@dataclass
class Connected:
    hospital: Hospital
    connection: HisConnection
    code: str

    def sid(self, name: str) -> str:
        """The HIS's id of this hospital's schedule ``name`` (the simulator serves many hospitals)."""
        return f"{self.code}-{name}"

    def schedule(self, name: str, doctor: str = "doc1", **spec: Any) -> Schedule:
        """A schedule made in the HIS, then read by the platform's sync."""
        self.sim.post(
            "/admin/schedules", {"hospital": self.code} | his_schedule(self.sid(name), "dep1", doctor, **spec)
        )
        sync.hospital_sync(self.connection)
        return Schedule.objects.get(hospital=self.hospital, his_id=self.sid(name))

    @property
    def department(self) -> Department:
        return Department.objects.get(hospital=self.hospital, his_code="dep1")

    def doctor(self, code: str = "doc1") -> Doctor:
        return Doctor.objects.get(hospital=self.hospital, his_code=code)

    sim: Sim = None  # type: ignore[assignment]


def connect(sim: Sim, mode: str, webhook_url: str = "", **rules: Any) -> Connected:
    """A hospital whose HIS (the simulator) has one department and two doctors."""
    rules.setdefault("payment_required", False)
    h = f.hospital(**rules)
    code = f"{h.code}-{clock.now():%H%M%S%f}-{os.getpid()}"
    sim.post(
        "/admin/import",
        {
            "hospital": {"code": code, "name": h.name, "webhook_url": webhook_url},
            "departments": [{"code": "dep1", "name": "心血管内科", "name_en": "Cardiology"}],
            "doctors": [
                {"code": "doc1", "department_code": "dep1", "name": "王建华", "title": "chief"},
                {"code": "doc2", "department_code": "dep1", "name": "赵立新", "title": "chief"},
            ],
        },
    )
    connection = HisConnection.objects.create(hospital=h, mode=mode, hospital_code=code)
    connected = Connected(hospital=h, connection=connection, code=code)
    connected.sim = sim
    return connected


def send_all() -> None:
    """Run the write-back job until nothing is due, moving time past each back-off."""
    for _ in range(12):
        outbox.calls_send_due()
        if not outbox.HisCall.objects.exclude(status__in=["done", "failed", "dropped"]).exists():
            return
        clock.advance(dt.timedelta(hours=1))
