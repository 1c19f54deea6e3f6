"""Phone numbers at rest, as ID numbers are (``idcard``): sealed, with a keyed hash to find them
and the masked form to show. The plain number is held in memory only, to send a message or to
write a patient's record in the HIS; it is never logged nor stored unsealed."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from guahao.core import sealing

SEAL = b"phone-encryption"
LOOKUP = b"phone-lookup"


def encrypt(phone: str) -> str:
    return sealing.seal(SEAL, phone)


def decrypt(token: str) -> str:
    return sealing.unseal(SEAL, token)


def lookup_hash(phone: str) -> str:
    return sealing.lookup_hash(LOOKUP, phone)


def lookup_hashes(phone: str) -> list[str]:
    """Its hash under every key still read (during a key rotation), current first."""
    return sealing.lookup_hashes(LOOKUP, phone)


def mask(phone: str) -> str:
    """First three and last four shown: 139****4321."""
    return f"{phone[:3]}****{phone[-4:]}"


def matching(phone: str, field: str = "phone_hash") -> Q:
    """Rows whose ``field`` is the keyed hash of this (normalised) phone."""
    return Q(**{f"{field}__in": lookup_hashes(phone)})


def columns(phone: str) -> dict[str, str]:
    """What a model keeps of a phone: sealed, its keyed hash, masked."""
    return {"phone_encrypted": encrypt(phone), "phone_hash": lookup_hash(phone), "phone_masked": mask(phone)}


def _read(instance: Any) -> str:
    return decrypt(instance.phone_encrypted) if instance.phone_encrypted else ""


def _write(instance: Any, phone: str) -> None:
    for column, value in columns(phone).items():
        setattr(instance, column, value)


# The ``phone`` of a model that keeps ``phone_encrypted``, ``phone_hash`` and ``phone_masked``:
# read, it is opened; set (also as a keyword of the model: a property, so Django takes it), it
# fills the three columns. Filter with ``matching``: the column holds no number to compare.
sealed_phone = property(_read, _write, doc="the phone number, opened from its sealed column")
