"""What payments does with other apps' events (``core.outbox``), handed over by the worker."""

from __future__ import annotations

from guahao.core.models import OutboxEvent
from guahao.payments import services

TOPICS = ["hold.ended"]


def handle(event: OutboxEvent) -> None:
    if event.topic == "hold.ended":
        services.orders_close_for_hold(hold_id=int(event.data["hold_id"]))
