"""Load a hospital as the platform knows it into the HIS simulator (``guahao demo``).

A real HIS comes with its own schedules; the simulator starts empty, so the demo gives it the
demo hospital's catalog and schedules (and the registrations already made), then both sides
know every department, doctor and schedule by the same HIS codes.
"""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings
from django.db import transaction

from guahao.booking.models import ACTIVE_REGISTRATION, Registration
from guahao.catalog.models import Department, Doctor
from guahao.his.models import HisConnection
from guahao.scheduling.models import Pool, Schedule, SlotState


@transaction.atomic
def _codes(connection: HisConnection) -> None:
    """Give what the platform has a HIS identity, where it has none yet."""
    hospital = connection.hospital
    for model, prefix, field in ((Department, "D", "his_code"), (Doctor, "R", "his_code"), (Schedule, "S", "his_id")):
        for pk in model.objects.filter(hospital=hospital, **{field: ""}).values_list("pk", flat=True):
            model.objects.filter(pk=pk).update(**{field: f"{hospital.code}-{prefix}{pk}"})


def hospital_payload(connection: HisConnection) -> dict:
    hospital = connection.hospital
    _codes(connection)
    booked = {
        r.slot_id: r.registration_number
        for r in Registration.objects.filter(hospital=hospital, status__in=ACTIVE_REGISTRATION)
    }
    schedules = []
    for s in Schedule.objects.filter(hospital=hospital).select_related("department", "doctor"):
        slots = []
        for slot in s.slots.select_related("period").order_by("number"):
            ref = booked.get(slot.pk, "")
            slots.append(
                {
                    "number": slot.number,
                    "period_starts_at": slot.period.starts_at.isoformat(),
                    "period_ends_at": slot.period.ends_at.isoformat(),
                    "pool": slot.pool,
                    "state": "booked"
                    if ref or (slot.pool == Pool.PLATFORM and slot.state == SlotState.ELSEWHERE)
                    else "free",
                    "ref": ref,
                    "channel": "platform" if ref else "window" if slot.state == SlotState.ELSEWHERE else "",
                }
            )
        schedules.append(
            {
                "id": s.his_id,
                "department_code": s.department.his_code,
                "doctor_code": s.doctor.his_code if s.doctor else "",
                "date": s.date.isoformat(),
                "session": s.session,
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "status": s.status,
                "reason": s.suspended_reason,
                "registration_fee_fen": s.registration_fee_fen,
                "consultation_fee_fen": s.consultation_fee_fen,
                "location": s.location,
                "slots": slots,
            }
        )
    return {
        "hospital": {
            "code": connection.hospital_code,
            "name": hospital.name,
            "webhook_url": f"{settings.PUBLIC_URL}/api/v1/his/{hospital.pk}/events",
        },
        "departments": [
            {
                "code": d.his_code,
                "name": d.name,
                "name_en": d.name_en,
                "parent_code": d.parent.his_code if d.parent else "",
            }
            for d in Department.objects.filter(hospital=hospital).select_related("parent")
        ],
        "doctors": [
            {
                "code": d.his_code,
                "department_code": d.department.his_code,
                "name": d.name,
                "name_en": d.name_en,
                "title": d.title,
            }
            for d in Doctor.objects.filter(hospital=hospital).select_related("department")
        ],
        "schedules": schedules,
    }


def simulator_seed(*, url: str) -> list[dict]:
    """Send every connected hospital to the simulator at ``url``; what it answered for each."""
    answers = []
    for connection in HisConnection.objects.filter(is_active=True).select_related("hospital"):
        data = json.dumps(hospital_payload(connection), ensure_ascii=False).encode()
        request = urllib.request.Request(  # noqa: S310 - the simulator we started
            f"{url.rstrip('/')}/admin/import", data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answers.append(json.loads(response.read()))
    return answers
