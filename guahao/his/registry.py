"""Which HIS a hospital is connected to, and the adapter that speaks to it."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from guahao.his.adapters.hissim import HissimAdapter
from guahao.his.interface import HisAdapter, HisError
from guahao.his.models import HisConnection, HisMode
from guahao.scheduling import facts

__all__ = ["HisMode", "adapter", "connection_for", "mode_of", "realtime_connection"]


def connection_for(hospital_id: int) -> HisConnection | None:
    return HisConnection.objects.filter(hospital_id=hospital_id, is_active=True).first()


def mode_of(hospital_id: int) -> str:
    """The hospital's HIS mode, "" when it has no active connection; kept in each process until
    a connection changes (``facts.remembered``), so a hospital without a HIS is never looked up
    on the hold path."""

    def load() -> str:
        connection = connection_for(hospital_id)
        return connection.mode if connection is not None else ""

    return str(facts.remembered("his-mode", hospital_id, load))


def _forget(sender: type, instance: HisConnection, **_: object) -> None:
    facts.facts_changed()
    transaction.on_commit(facts.facts_changed)


def connect_signals() -> None:
    post_save.connect(_forget, sender=HisConnection, dispatch_uid="his-mode-save")
    post_delete.connect(_forget, sender=HisConnection, dispatch_uid="his-mode-delete")


def realtime_connection(hospital_id: int) -> HisConnection | None:
    connection = connection_for(hospital_id)
    return connection if connection is not None and connection.mode == HisMode.REALTIME else None


def adapter(connection: HisConnection) -> HisAdapter:
    base_url = connection.base_url or settings.HIS_URL
    if not base_url:
        raise HisError(
            "no HIS address: set the connection's address or GUAHAO_HIS_URL (a running guahao demo sets it)",
            permanent=True,
        )
    return HissimAdapter(
        base_url=base_url,
        hospital_code=connection.hospital_code,
        key=connection.signing_key(),
        timeout=settings.HIS_TIMEOUT_MS / 1000,
    )
