"""Resident ID numbers (GB 11643): validation, encryption at rest, keyed hash, masking.

The plain number is only ever held in memory: it is never logged, never returned by the API,
and never stored unencrypted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from guahao.core import clock, sealing

OLDEST = date(1900, 1, 1)


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: date
    gender: str

    def __repr__(self) -> str:  # keep it out of tracebacks and logs
        return f"IdNumber({mask(self.number)})"


def parse(raw: str) -> IdNumber | None:
    """The validated 18-digit number with the facts it carries, or None if it is not valid."""
    try:
        number = ric.validate(raw.strip().upper())
        birth = ric.get_birth_date(number)
    except ValidationError:
        return None
    if len(number) != 18:  # first-generation 15-digit cards are long retired
        return None
    if not (OLDEST <= birth <= clock.local_today(settings.TIME_ZONE)):  # nobody born tomorrow, or in 1800
        return None
    gender = "male" if int(number[16]) % 2 else "female"
    return IdNumber(number, birth, gender)


SEAL = b"id-number-encryption"


def encrypt(number: str) -> str:
    return sealing.seal(SEAL, number)


def decrypt(token: str) -> str:
    return sealing.unseal(SEAL, token)


def lookup_hash(number: str) -> str:
    return sealing.lookup_hash(b"id-number-lookup", number)


def lookup_hashes(number: str) -> list[str]:
    """Its hash under every key still read (during a key rotation), current first."""
    return sealing.lookup_hashes(b"id-number-lookup", number)


def mask(number: str) -> str:
    """First six and last four shown: 110105********1234."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
