"""Which HIS a hospital is connected to, and the adapter that speaks to it."""

from __future__ import annotations

from django.conf import settings

from guahao.his.adapters.hissim import HissimAdapter
from guahao.his.interface import HisAdapter, HisError
from guahao.his.models import HisConnection, HisMode


def connection_for(hospital_id: int) -> HisConnection | None:
    return HisConnection.objects.filter(hospital_id=hospital_id, is_active=True).first()


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
