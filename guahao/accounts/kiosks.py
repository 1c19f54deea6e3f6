"""Self-service kiosks (自助机): the devices a hospital's staff register, each known by its own
token, and how a kiosk finds the patient standing at it by their resident ID number (typed, or
from a card reader that types like a keyboard).

A token is shown once, when the device is added; only its keyed hash is kept. A revoked device
opens nothing. Every change is in the audit log under the staff member's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When

from guahao.accounts import errors, idcard
from guahao.accounts.models import KioskDevice, Patient
from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.core.audit import audit_record
from guahao.core.errors import INVALID

TOKEN_PREFIX = "kd_"  # noqa: S105 - the prefix that tells a kiosk token, not a secret
# A device's "last seen" is written at most this often (every page of a busy kiosk reads it).
SEEN_EVERY_SECONDS = 60


def _digest(key: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"kiosk:{key}".encode(), hashlib.sha256).hexdigest()


def kiosk_device_with_token(*, hospital: Hospital, name: str, key: str, by: str) -> KioskDevice:
    """A kiosk opened by a token chosen beforehand: the demo's, printed in the README. Real
    kiosks get a random token (``kiosk_device_create``)."""
    if not key.startswith(TOKEN_PREFIX):
        raise INVALID.error(field="key")
    device, _random = kiosk_device_create(hospital=hospital, name=name, by=by)
    KioskDevice.objects.filter(pk=device.pk).update(key_hash=_digest(key))
    device.refresh_from_db()
    return device


def kiosk_device_create(*, hospital: Hospital, name: str, by: str) -> tuple[KioskDevice, str]:
    """Register a kiosk of ``hospital``; returns the device and its token (shown once)."""
    name = " ".join(name.split())
    if not name:
        raise INVALID.error(field="name")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = KioskDevice.objects.create(
        hospital=hospital, name=name[:100], key_hash=_digest(key), created_at=clock.now(), created_by=by
    )
    audit_record(
        actor=by,
        action="kiosk.created",
        target_type="kioskdevice",
        target_id=device.pk,
        target=device.name,
        hospital_id=hospital.pk,
    )
    return device, key


def kiosk_device_revoke(*, device: KioskDevice, by: str) -> KioskDevice:
    """The device's token opens nothing from now on (a kiosk taken away, a token seen by others)."""
    now = clock.now()
    if KioskDevice.objects.filter(pk=device.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=by):
        audit_record(
            actor=by,
            action="kiosk.revoked",
            target_type="kioskdevice",
            target_id=device.pk,
            target=device.name,
            hospital_id=device.hospital_id,
        )
    device.refresh_from_db()
    return device


def kiosk_for_token(key: str) -> KioskDevice | None:
    """The live device a token belongs to, or None (unknown, revoked)."""
    if not key or not key.startswith(TOKEN_PREFIX) or len(key) > 100:
        return None
    device = (
        KioskDevice.objects.select_related("hospital").filter(key_hash=_digest(key), revoked_at__isnull=True).first()
    )
    if device is None:
        return None
    now = clock.now()
    if device.last_seen_at is None or (now - device.last_seen_at).total_seconds() > SEEN_EVERY_SECONDS:
        KioskDevice.objects.filter(pk=device.pk).update(last_seen_at=now)
    return device


def kiosk_patient(id_number: str) -> Patient | None:
    """The patient the kiosk books for, found by their resident ID number (the person may be a
    patient of several accounts: their own account's entry first, else the oldest). None when
    nobody has registered that number; a number that is not a valid resident ID is refused."""
    parsed = idcard.parse(id_number or "")
    if parsed is None:
        raise errors.ID_NUMBER_INVALID.error(detail=idcard.resident_refusal(id_number or ""), field="id_number")
    return (
        Patient.objects.filter(
            id_number_hash__in=idcard.lookup_hashes(parsed.number), removed_at__isnull=True, account__is_active=True
        )
        .select_related("account")
        .annotate(own=Case(When(relation="self", then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("own", "pk")
        .first()
    )
