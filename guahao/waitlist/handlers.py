"""What the waitlist does with the other apps' events (``core.outbox``), delivered by the worker."""

from __future__ import annotations

from guahao.core.models import OutboxEvent
from guahao.waitlist import services

TOPICS = [
    "slot.freed",
    "hold.ended",
    "registration.booked",
    "schedule.suspended",
    "payment.prepaid",
]


def handle(event: OutboxEvent) -> None:
    data = event.data
    if event.topic == "slot.freed":
        services.offers_make(schedule_id=int(data["schedule_id"]))
    elif event.topic == "hold.ended":
        services.hold_ended(hold_id=int(data["hold_id"]), status=str(data["status"]))
    elif event.topic == "registration.booked":
        services.hold_booked(registration_id=int(data["registration_id"]))
    elif event.topic == "schedule.suspended":
        services.schedule_suspended(schedule_id=int(data["schedule_id"]))
    elif event.topic == "payment.prepaid":
        services.entry_paid(payment_id=int(data["payment_id"]))
