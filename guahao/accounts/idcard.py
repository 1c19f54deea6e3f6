"""ID numbers: validation of each document hospitals accept, encryption at rest, keyed hash,
masking.

The plain number is only ever held in memory: it is never logged, never returned by the API,
and never stored unencrypted. The documents and their rules:

- resident identity card (居民身份证, GB 11643): python-stdnum's ``cn.ric`` (18 characters,
  region code, birth date, ISO 7064 MOD 11-2 check character); it carries sex and birth date.
- foreigner's permanent residence ID card (外国人永久居留身份证): the 2023 card has 18 digits,
  ``9`` + province (2) + nationality (3) + birth date (8) + sequence (3, odd for men) + the same
  check character as the resident card (computed by ``cn.ric``), so it carries sex and birth
  date; the earlier card has 15 characters, ``[A-Z]{3}[0-9]{12}`` (nationality letters, then
  digits), whose sex and birth date are entered.
- passport: ``[A-Z0-9]{5,17}`` with at least one digit (ICAO 9303 document numbers: letters and
  digits; issuing countries differ in length); sex and birth date entered.
- mainland travel permit for Hong Kong and Macao residents (港澳居民来往内地通行证):
  ``[HM][0-9]{8}`` or ``[HM][0-9]{10}`` (H for Hong Kong, M for Macao; the older cards carry
  two more digits); sex and birth date entered.
- mainland travel permit for Taiwan residents (台湾居民来往大陆通行证): ``[0-9]{8}`` (since
  2015) or ``[0-9]{10}`` (earlier cards); sex and birth date entered.

Spaces, dashes and brackets typed around a number are dropped; letters are upper-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from guahao.core import clock, sealing

RESIDENT, PASSPORT, HK_MACAU, TAIWAN, FOREIGN_PERMANENT = (
    "resident",
    "passport",
    "hk_macau",
    "taiwan",
    "foreign_permanent",
)

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


@dataclass(frozen=True)
class Document:
    """A validated number of one document, with the sex and birth date it carries (if it does)."""

    id_type: str
    number: str
    birth_date: date | None
    gender: str | None

    def __repr__(self) -> str:
        return f"Document({self.id_type}, {mask(self.number)})"


class Refused(ValueError):
    """The number breaks its document's rule; ``reason`` says which, in the reader's language."""

    def __init__(self, reason: Promise | str) -> None:
        super().__init__("refused")
        self.reason = reason


PATTERNS = {
    PASSPORT: re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{5,17}"),
    HK_MACAU: re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})"),
    TAIWAN: re.compile(r"[0-9]{8}|[0-9]{10}"),
    FOREIGN_PERMANENT: re.compile(r"[A-Z]{3}[0-9]{12}|9[0-9]{16}[0-9X]"),
}
RULES = {
    PASSPORT: _("A passport number has 5 to 17 letters and digits, with at least one digit."),
    HK_MACAU: _("A Hong Kong or Macao permit number is H or M followed by 8 (or 10) digits."),
    TAIWAN: _("A Taiwan permit number has 8 digits (10 on cards issued before 2015)."),
    FOREIGN_PERMANENT: _(
        "A permanent residence ID number has 18 digits beginning with 9 (cards since 2023), "
        "or 3 letters and 12 digits (earlier cards)."
    ),
}


def hint(id_type: str) -> Promise | str:
    """What a number of that document looks like, said beside the field as the patient types it."""
    return RULES.get(id_type) or _("As printed on the document: a resident ID card has 18 characters.")


def _clean(raw: str) -> str:
    return re.sub(r"[\s\-()（）]", "", raw).upper()


def _born_before_today(birth: date) -> bool:
    return OLDEST <= birth <= clock.local_today(settings.TIME_ZONE)


def _resident(number: str) -> Document:
    if not number:
        raise Refused(_("Please enter the ID number."))
    try:
        ric.validate(number)
    except stdnum_errors.InvalidLength:
        raise Refused(_("A resident ID number has 18 characters; this one has %(n)d.") % {"n": len(number)}) from None
    except stdnum_errors.InvalidFormat:
        raise Refused(_("A resident ID number is 17 digits and a final digit or X.")) from None
    except stdnum_errors.InvalidChecksum:
        raise Refused(
            _("The last character (the check digit) does not fit the number: a digit was mistyped.")
        ) from None
    except ValidationError:
        raise Refused(_("The region code or the birth date in the number does not exist.")) from None
    parsed = parse(number)
    if parsed is None:
        raise Refused(_("The birth date in the number is in the future or before 1900."))
    return Document(RESIDENT, parsed.number, parsed.birth_date, parsed.gender)


def resident_refusal(raw: str) -> str | None:
    """Why ``raw`` is not a resident ID number, in the reader's language (None: it is one)."""
    try:
        _resident(_clean(raw or ""))
    except Refused as refused:
        return str(refused.reason)
    return None


def document_parse(id_type: str, raw: str) -> Document:
    """The number of a document of that type, validated by the document's own rule; raises
    ``Refused`` naming what is wrong."""
    number = _clean(raw)
    if not number:
        raise Refused(_("Please enter the ID number."))
    if id_type == RESIDENT:
        return _resident(number)
    pattern = PATTERNS.get(id_type)
    if pattern is None:
        raise Refused(_("Choose the type of ID document."))
    if not pattern.fullmatch(number):
        raise Refused(RULES[id_type])
    if id_type == FOREIGN_PERMANENT and len(number) == 18:
        # The 2023 card: the resident card's layout and check character, another first digit.
        if ric.calc_check_digit(number) != number[-1]:
            raise Refused(_("The last character (the check digit) does not fit the number: a digit was mistyped."))
        try:
            birth = ric.get_birth_date(number)
        except ValidationError:
            raise Refused(_("The birth date in the number does not exist.")) from None
        if not _born_before_today(birth):
            raise Refused(_("The birth date in the number is in the future or before 1900."))
        return Document(id_type, number, birth, "male" if int(number[16]) % 2 else "female")
    return Document(id_type, number, None, None)


SEAL = b"id-number-encryption"


def encrypt(number: str) -> str:
    return sealing.seal(SEAL, number)


def decrypt(token: str) -> str:
    return sealing.unseal(SEAL, token)


def _hashed_text(number: str, id_type: str) -> str:
    # A resident number is hashed alone (as it always was); another document's number with its
    # type, since a passport and a permit may share digits.
    return number if id_type == RESIDENT else f"{id_type}:{number}"


def lookup_hash(number: str, id_type: str = RESIDENT) -> str:
    """The keyed hash that finds one person."""
    return sealing.lookup_hash(b"id-number-lookup", _hashed_text(number, id_type))


def lookup_hashes(number: str, id_type: str = RESIDENT) -> list[str]:
    """Its hash under every key still read (during a key rotation), current first."""
    return sealing.lookup_hashes(b"id-number-lookup", _hashed_text(number, id_type))


def mask(number: str) -> str:
    """First six and last four shown: 110105********1234. A number shorter than 15 characters
    (passports, permits) shows its first two and last two, so most of it stays hidden."""
    if len(number) < 15:
        return number[:2] + "*" * max(len(number) - 4, 4) + number[-2:]
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def other_document_hashes(raw: str) -> list[str]:
    """The keyed hashes a number would have as each document other than the resident card whose
    rule it meets (staff looking a person up do not say which document they hold)."""
    hashes = []
    for id_type in PATTERNS:
        try:
            document = document_parse(id_type, raw)
        except Refused:
            continue
        hashes.extend(lookup_hashes(document.number, id_type))
    return hashes
