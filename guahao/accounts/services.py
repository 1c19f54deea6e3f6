from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import unicodedata
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError, QuerySet
from django.db.models.signals import post_delete, post_save
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from guahao.accounts import consent, errors, idcard, phones
from guahao.accounts.locks import lock_account, lock_phone
from guahao.accounts.models import (
    Account,
    AuthToken,
    Consent,
    ConsentPurpose,
    Gender,
    GuardianRelation,
    IdType,
    MedicalRecord,
    Patient,
    Relation,
    SmsCode,
    StaffToken,
)
from guahao.accounts.ports import wired
from guahao.core import cache as request_cache
from guahao.core import clock, ratelimit, sealing
from guahao.core.errors import INVALID, NOT_FOUND, RATE_LIMITED
from guahao.core.problems import Problem

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(minutes=5)
RESEND_AFTER = dt.timedelta(seconds=60)
CODES_PER_PHONE_PER_DAY = 10
CODE_ATTEMPTS = 5
TOKEN_TTL = dt.timedelta(days=30)
PATIENTS_PER_ACCOUNT = 8
# One address (whatever the phones, web and API together, every process counting): codes asked
# for an hour, and logins tried in ten minutes.
SMS_PER_ADDRESS = 30
LOGINS_PER_ADDRESS = 60


def _digest(value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def phone_normalize(raw: str, *, field: str = "phone") -> str:
    """A mainland mobile number as its 11 digits, whether written with +86, spaces or dashes."""
    if not (raw or "").strip():
        raise errors.PHONE_INVALID.error(detail=_("Enter the mobile number."), field=field)
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise errors.PHONE_INVALID.error(field=field) from None
    if (
        parsed.country_code != 86
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise errors.PHONE_INVALID.error(field=field)
    return str(parsed.national_number)


mask_phone = phones.mask


def sms_code_send(*, phone: str, client_ip: str | None) -> tuple[SmsCode, str]:
    """Send a login code; returns the row and the code (which the console backend shows)."""
    phone = phone_normalize(phone)
    if client_ip and not ratelimit.allow(
        f"sms-ip:{client_ip}", limit=SMS_PER_ADDRESS, window_seconds=3600, shared=True
    ):
        raise RATE_LIMITED.error()
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        # One phone's requests take turns: twenty at once see one another's code, not none.
        lock_phone(phone)
        now = clock.now()
        if settings.RATELIMIT_ENABLED:
            recent = SmsCode.objects.filter(phones.matching(phone), created_at__gt=now - dt.timedelta(days=1))
            if recent.filter(created_at__gt=now - RESEND_AFTER).exists():
                raise errors.SMS_TOO_SOON.error()
            if recent.count() >= CODES_PER_PHONE_PER_DAY:
                raise errors.SMS_DAILY_LIMIT.error()
        row = SmsCode.objects.create(
            phone_hash=phones.lookup_hash(phone),
            phone_masked=phones.mask(phone),
            code_hash=_digest(f"{phone}:{code}"),
            created_at=now,
            expires_at=now + CODE_TTL,
            client_ip=client_ip,
        )
    try:
        wired.code_sender.login_code(phone=phone, code=code)
    except Exception:
        # Not sent: the code is withdrawn, so asking again at once is not "too soon".
        SmsCode.objects.filter(pk=row.pk).delete()
        log.warning("login code to %s could not be sent", mask_phone(phone), exc_info=True)
        raise errors.SMS_FAILED.error() from None
    return row, code


def account_login(*, phone: str, code: str, client_ip: str | None = None) -> tuple[Account, str]:
    """Check the newest live code for the phone; returns the account and a new bearer token.

    Besides five tries per code, one address may try 60 logins in 10 minutes (whatever the
    phones), so codes cannot be guessed across many phones from one place."""
    if client_ip and not ratelimit.allow(
        f"login-ip:{client_ip}", limit=LOGINS_PER_ADDRESS, window_seconds=600, shared=True
    ):
        raise RATE_LIMITED.error()
    phone = phone_normalize(phone)
    if not code.strip():  # nothing typed: no guess, none of the code's tries used
        raise errors.CODE_WRONG.error(detail=_("Enter the code from the text message."), field="code")
    now = clock.now()
    sms = (
        SmsCode.objects.filter(phones.matching(phone), used_at__isnull=True, expires_at__gt=now)
        .order_by("-created_at")
        .first()
    )
    if sms is None:
        raise errors.CODE_WRONG.error()
    if sms.attempts >= CODE_ATTEMPTS:
        raise errors.CODE_ATTEMPTS.error()
    if not hmac.compare_digest(sms.code_hash, _digest(f"{phone}:{code.strip()}")):
        # Counted in the database, so parallel guesses cannot each see a low count.
        SmsCode.objects.filter(pk=sms.pk).update(attempts=F("attempts") + 1)
        raise errors.CODE_WRONG.error()
    with transaction.atomic():
        if not SmsCode.objects.filter(pk=sms.pk, used_at__isnull=True, attempts__lt=CODE_ATTEMPTS).update(used_at=now):
            raise errors.CODE_WRONG.error()
        account = account_for_phone(phone, created_at=now)
        key = secrets.token_urlsafe(32)
        token = AuthToken.objects.create(
            key_hash=_digest(key), account=account, created_at=now, expires_at=now + TOKEN_TTL
        )
    # Known at once: the patient's first requests (a release they logged in to wait for) need
    # no database to tell who they are.
    _token_remember(token, account)
    return account, key


def account_for_phone(phone: str, *, created_at: dt.datetime) -> Account:
    """The phone's account, made if it has none. Call inside a transaction: the phone's lock
    makes finding and making one step, also while a key rotation leaves accounts hashed under a
    previous key (which the unique hash alone would not see as the same phone)."""
    lock_phone(phone)
    account = Account.objects.filter(phones.matching(phone)).first()
    if account is None:
        account = Account.objects.create(**phones.columns(phone), created_at=created_at)
    return account


# A token's account is kept in the cache this long (every request of a patient reads it, and a
# crowd at release time is thousands of patients who logged in beforehand): a logout, a deleted
# token and a change of the account forget it at once in every process (``core.cache``: Redis's
# channel, or the database in the embedded default). Where a process cannot be sure to hear of
# them, it keeps a token only ``TOKEN_CACHE_BRIEF_SECONDS``.
TOKEN_CACHE_SECONDS = 3600
TOKEN_CACHE_BRIEF_SECONDS = 5


def _token_key(key_hash: str) -> str:
    return f"auth:token:{key_hash}"


request_cache.keep_locally("auth:token:")


def _token_remember(token: AuthToken, account: Account, mark: int | None = None) -> None:
    """``mark``: ``request_cache.feed_mark()`` from before the token was read (None: just made)."""
    long = request_cache.feed_current(mark) if mark is not None else bool(settings.REDIS_URL)
    seconds = TOKEN_CACHE_SECONDS if long else TOKEN_CACHE_BRIEF_SECONDS
    cache.set(_token_key(token.key_hash), (account, token.expires_at), timeout=seconds)


def account_logout(key: str) -> None:
    """End a login: its token no longer works."""
    AuthToken.objects.filter(key_hash=_digest(key)).delete()
    cache.delete(_token_key(_digest(key)))


def account_for_token(key: str) -> Account | None:
    """The account a live token belongs to; read from the cache (one read) when it was seen lately."""
    key_hash = _digest(key)
    now = clock.now()
    seen = request_cache.read_first(_token_key(key_hash))
    mark = request_cache.feed_mark()  # before the database is read
    if seen is not None:
        account, expires_at = seen
        if expires_at > now:
            return account if account.is_active else None
    token = (
        AuthToken.objects.select_related("account")
        .filter(key_hash=key_hash, expires_at__gt=now, account__is_active=True)
        .first()
    )
    if token is None:
        return None
    _token_remember(token, token.account, mark)
    return token.account


def _forget_token(sender: type, instance: AuthToken, **_: object) -> None:
    cache.delete(_token_key(instance.key_hash))


def _forget_account(sender: type, instance: Account, **_: object) -> None:
    """An account changed: every token of it is read again from the database."""
    hashes = AuthToken.objects.filter(account_id=instance.pk).values_list("key_hash", flat=True)
    cache.delete_many([_token_key(h) for h in hashes])


post_delete.connect(_forget_token, sender=AuthToken, dispatch_uid="auth-token-forget")
post_save.connect(_forget_account, sender=Account, dispatch_uid="auth-account-save")
post_delete.connect(_forget_account, sender=Account, dispatch_uid="auth-account-delete")


def staff_token_create(*, user, label: str = "") -> str:  # type: ignore[no-untyped-def]
    key = "st_" + secrets.token_urlsafe(32)
    StaffToken.objects.create(key_hash=_digest(key), user=user, label=label, created_at=clock.now())
    return key


def staff_for_token(key: str):  # type: ignore[no-untyped-def]
    token = StaffToken.objects.select_related("user").filter(key_hash=_digest(key), user__is_active=True).first()
    return token.user if token and token.user.is_staff else None


# Marks that real names carry besides letters: the middle dot of minority and foreign names
# written in Chinese (阿依古丽·买买提; also its look-alikes typed on phones), and the space,
# hyphen, apostrophe and full stop of names in Latin letters.
NAME_MARKS = frozenset("·•‧・ -'.")
NAME_LENGTH = 50


def _name_letter(ch: str) -> bool:
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\U00020000" <= ch <= "\U0003134f":
        return True  # CJK ideographs (with extensions A to G for rare characters in names)
    return unicodedata.category(ch).startswith("L") and "LATIN" in unicodedata.name(ch, "")


def real_name(raw: str, *, field: str = "name") -> str:
    """A patient's name as on their ID card: Chinese characters or Latin letters with the marks
    names carry, at most 50 characters, spaces collapsed. Refused, naming the reason: digits,
    emoji, control or invisible formatting characters (direction overrides, byte-order marks)."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if len(name) < 2:
        raise errors.NAME_INVALID.error(detail=_("The name has fewer than two characters."), field=field)
    if len(name) > NAME_LENGTH:
        raise errors.NAME_INVALID.error(
            detail=_("The name is longer than %(n)d characters.") % {"n": NAME_LENGTH}, field=field
        )
    wrong = sorted({ch for ch in name if not (_name_letter(ch) or ch in NAME_MARKS)})
    if wrong:
        shown = "".join(ch if unicodedata.category(ch)[0] not in "CZ" else f"U+{ord(ch):04X} " for ch in wrong[:5])
        raise errors.NAME_INVALID.error(
            detail=_("A real name has no such characters: %(chars)s") % {"chars": shown.strip()}, field=field
        )
    if not any(_name_letter(ch) for ch in name) or name[0] in NAME_MARKS or name[-1] in NAME_MARKS:
        raise errors.NAME_INVALID.error(field=field)
    return name


def guardian_needed(birth_date: dt.date) -> bool:
    """Under 14 on the platform's today (its time zone, not the machine's)."""
    today = clock.local_today(settings.TIME_ZONE)
    age = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    return age < consent.GUARDIAN_AGE


def _guardian(
    *, account: Account, relation: str, birth_date: dt.date, name: str, guardian_relation: str
) -> tuple[str, str]:
    """The guardian to record: as given, else the account holder (the account's own patient) for
    a child under 14; nobody for others who name none."""
    if guardian_relation and guardian_relation not in GuardianRelation.values:
        raise INVALID.error(detail=_("Choose the guardian's relation."), field="guardian_relation")
    default_relation = GuardianRelation.PARENT if relation == Relation.CHILD else GuardianRelation.OTHER
    if name.strip():
        try:
            return real_name(name, field="guardian_name"), guardian_relation or default_relation
        except Problem as refused:  # the reason, said of the guardian's name (they show no ID here)
            refused.detail = format_lazy("{}{}", _("Guardian's name: "), refused.detail or refused.type.title)
            raise
    if not guardian_needed(birth_date):
        return "", ""
    holder = Patient.objects.filter(account=account, relation=Relation.SELF).values_list("name", flat=True).first()
    if holder is None or relation == Relation.SELF:
        raise errors.GUARDIAN_REQUIRED.error(field="guardian_name")
    return holder, guardian_relation or default_relation


IN_USE_REASONS = {
    "registration": _("They have a registration that has not taken place yet: cancel it first."),
    "hold": _("A slot is being held for them: pay for it or release it first."),
    "waitlist": _("They are on a waitlist: leave it first."),
}


def _birth_date(raw: dt.date | str | None) -> dt.date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, dt.date):
        day = raw
    else:
        try:
            day = dt.date.fromisoformat(raw.strip())
        except ValueError:
            raise errors.BIRTH_DATE_INVALID.error(
                detail=_("Write the birth date as year-month-day, e.g. 1980-03-14."), field="birth_date"
            ) from None
    if not (idcard.OLDEST <= day <= clock.local_today(settings.TIME_ZONE)):
        raise errors.BIRTH_DATE_INVALID.error(
            detail=_("The birth date is in the future or before 1900."), field="birth_date"
        )
    return day


def _identity(
    *, id_type: str, id_number: str, gender: str | None, birth_date: dt.date | str | None
) -> tuple[idcard.Document, str, dt.date]:
    """The document, sex and birth date of a patient: read from the number where the document
    carries them (what was entered must then agree), entered otherwise."""
    if id_type not in IdType.values:
        raise INVALID.error(detail=_("Choose the type of ID document."), field="id_type")
    try:
        document = idcard.document_parse(id_type, id_number)
    except idcard.Refused as refused:
        raise errors.ID_NUMBER_INVALID.error(detail=refused.reason, field="id_number") from None
    given_gender = gender or None
    if given_gender is not None and given_gender not in Gender.values:
        raise errors.GENDER_INVALID.error(field="gender")
    given_birth = _birth_date(birth_date)
    if document.birth_date is not None and document.gender is not None:
        if given_birth is not None and given_birth != document.birth_date:
            raise errors.BIRTH_DATE_INVALID.error(
                detail=_("The ID number gives another birth date; leave the field empty or correct it."),
                field="birth_date",
            )
        if given_gender is not None and given_gender != document.gender:
            raise errors.GENDER_INVALID.error(
                detail=_("The ID number gives the other sex; leave the field empty or correct it."), field="gender"
            )
        return document, document.gender, document.birth_date
    if given_gender is None:
        raise errors.GENDER_INVALID.error(detail=_("This document does not show the sex: choose it."), field="gender")
    if given_birth is None:
        raise errors.BIRTH_DATE_INVALID.error(
            detail=_("This document does not show the birth date: enter it."), field="birth_date"
        )
    return document, given_gender, given_birth


def _relation(relation: str) -> str:
    if relation not in Relation.values:
        raise INVALID.error(detail=_("Choose the relation."), field="relation")
    return relation


def patients_of(account: Account) -> QuerySet[Patient]:
    """The account's patients (not those removed)."""
    return Patient.objects.filter(account=account, removed_at__isnull=True)


def access_own_patient(*, account: Account, patient_id: int | str) -> Patient:
    """The account's own patient; anyone else's (or a removed one) is unknown, never forbidden."""
    text = str(patient_id)
    found = patients_of(account).filter(pk=int(text)).first() if text.isdigit() and len(text) < 19 else None
    if found is None:
        raise NOT_FOUND.error(field="patient_id")
    return found


def patient_create(
    *,
    account: Account,
    name: str,
    id_number: str,
    phone: str,
    relation: str,
    consent_version: str,
    channel: str = "app",
    guardian_name: str = "",
    guardian_relation: str = "",
    id_type: str = IdType.RESIDENT,
    gender: str | None = None,
    birth_date: dt.date | str | None = None,
) -> Patient:
    """Add a real-name patient with the separate consent to processing their personal
    information (``consent_version``: the text agreed to) and, for a child under 14, the
    guardian who gave it (the account holder unless another is named). A resident ID card (the
    default: clients that send only ``id_number``) and the 2023 permanent residence card carry
    sex and birth date; other documents need them given."""
    relation = _relation(relation)
    name = real_name(name)
    document, gender, birth = _identity(id_type=id_type, id_number=id_number, gender=gender, birth_date=birth_date)
    phone = phone_normalize(phone)
    if consent_version not in consent.VERSIONS:
        raise errors.CONSENT_REQUIRED.error(field="consent_version")
    guardian = _guardian(
        account=account,
        relation=relation,
        birth_date=birth,
        name=guardian_name,
        guardian_relation=guardian_relation,
    )
    id_hash = idcard.lookup_hash(document.number, document.id_type)
    try:
        with transaction.atomic():
            # The account row lock makes the checks and the insert one step: two parallel adds
            # cannot both see seven patients and make nine.
            lock_account(account.pk)
            mine = patients_of(account)
            if mine.filter(id_number_hash__in=idcard.lookup_hashes(document.number, document.id_type)).exists():
                raise errors.PATIENT_EXISTS.error(field="id_number")
            if relation == "self" and mine.filter(relation="self").exists():
                raise errors.SELF_EXISTS.error(field="relation")
            if mine.count() >= PATIENTS_PER_ACCOUNT:
                raise errors.PATIENT_LIMIT.error()
            patient = Patient.objects.create(
                account=account,
                name=name,
                id_type=document.id_type,
                id_number_encrypted=idcard.encrypt(document.number),
                id_number_hash=id_hash,
                id_number_masked=idcard.mask(document.number),
                birth_date=birth,
                gender=gender,
                **phones.columns(phone),
                relation=relation,
                guardian_name=guardian[0],
                guardian_relation=guardian[1],
                created_at=clock.now(),
            )
            Consent.objects.create(
                patient=patient,
                account=account,
                purpose=ConsentPurpose.PERSONAL_INFORMATION,
                text_version=consent_version,
                given_at=patient.created_at,
                given_by_guardian=bool(guardian[0]) and guardian_needed(birth),
                channel=channel,
            )
            return patient
    except IntegrityError:  # the same person added twice at once
        raise errors.PATIENT_EXISTS.error(field="id_number") from None


def personal_data_rekey() -> tuple[dict[str, int], dict[str, str]]:
    """Seal and hash again under the current key what a previous key sealed or hashed: the
    phones of accounts and patients, and patients' ID numbers. Returns how many rows changed
    and each person hash replaced (old: new), for the rows that copy it (holds, registrations,
    bars, waitlist entries). Call inside the transaction that replaces those too, with every
    process already on the new key. Login codes keep their hash: they live minutes, and are
    found under every key of the ring."""
    changed = {"accounts": 0, "patients": 0}
    persons: dict[str, str] = {}

    def again(purpose: bytes, token: str) -> str:
        return token if sealing.sealed_now(purpose, token) else sealing.reseal(purpose, token)

    for account in Account.objects.only("pk", "phone_encrypted", "phone_hash").iterator(chunk_size=500):
        token, phone = again(phones.SEAL, account.phone_encrypted), phones.decrypt(account.phone_encrypted)
        if (token, phones.lookup_hash(phone)) != (account.phone_encrypted, account.phone_hash):
            Account.objects.filter(pk=account.pk).update(phone_encrypted=token, phone_hash=phones.lookup_hash(phone))
            changed["accounts"] += 1
    fields = ("pk", "phone_encrypted", "phone_hash", "id_number_encrypted", "id_number_hash", "id_type")
    for patient in Patient.objects.only(*fields).iterator(chunk_size=500):
        number = idcard.decrypt(patient.id_number_encrypted)
        phone = phones.decrypt(patient.phone_encrypted)
        now = {
            "phone_encrypted": again(phones.SEAL, patient.phone_encrypted),
            "phone_hash": phones.lookup_hash(phone),
            "id_number_encrypted": again(idcard.SEAL, patient.id_number_encrypted),
            "id_number_hash": idcard.lookup_hash(number, patient.id_type),
        }
        if any(getattr(patient, column) != value for column, value in now.items()):
            Patient.objects.filter(pk=patient.pk).update(**now)
            changed["patients"] += 1
        if patient.id_number_hash != now["id_number_hash"]:
            persons[patient.id_number_hash] = now["id_number_hash"]
    return changed, persons


IDENTITY = ("name", "id_type", "id_number", "gender", "birth_date")


def patient_update(*, patient: Patient, changes: dict[str, Any]) -> Patient:
    """Change a patient. Phone and relation may always change. The identity (name, document,
    sex, birth date) only until the patient has booked anything: past registrations were made
    in that name at the hospital. An ID number left out keeps the stored one (the form never
    shows it again); sex and birth date left out keep the stored ones where the document does not
    carry them. A refusal changes nothing."""
    unknown = set(changes) - {"phone", "relation", *IDENTITY}
    if unknown:
        raise INVALID.error(detail=_("This field cannot be changed."), field=sorted(unknown)[0])
    fields: dict[str, Any] = {}
    if "relation" in changes:
        fields["relation"] = _relation(changes["relation"])
    if "phone" in changes:
        fields |= phones.columns(phone_normalize(changes["phone"]))
    identity = {k: v for k, v in changes.items() if k in IDENTITY}
    new_identity = False
    if "name" in identity:
        name = real_name(identity["name"])
        if name != patient.name:
            fields["name"] = name
            new_identity = True
    id_type = identity.get("id_type") or patient.id_type
    number = (identity.get("id_number") or "").strip()
    if number or id_type != patient.id_type or {"gender", "birth_date"} & set(identity):
        if not number:
            if id_type != patient.id_type:
                raise errors.ID_NUMBER_INVALID.error(
                    detail=_("Enter the number of the new ID document."), field="id_number"
                )
            number = idcard.decrypt(patient.id_number_encrypted)
        document, gender, birth = _identity(
            id_type=id_type,
            id_number=number,
            gender=identity.get("gender") or (None if identity.get("id_number") else patient.gender),
            birth_date=identity.get("birth_date") or (None if identity.get("id_number") else patient.birth_date),
        )
        id_hash = idcard.lookup_hash(document.number, document.id_type)
        if id_hash != patient.id_number_hash:
            fields |= {
                "id_type": document.id_type,
                "id_number_encrypted": idcard.encrypt(document.number),
                "id_number_hash": id_hash,
                "id_number_masked": idcard.mask(document.number),
            }
            new_identity = True
        if (gender, birth) != (patient.gender, patient.birth_date):
            fields |= {"gender": gender, "birth_date": birth}
            new_identity = True
    try:
        with transaction.atomic():
            lock_account(patient.account_id)
            mine = patients_of(patient.account).exclude(pk=patient.pk)
            if not Patient.objects.filter(pk=patient.pk, removed_at__isnull=True).exists():
                raise NOT_FOUND.error(field="patient_id")
            if new_identity and _has_booked(patient):
                raise errors.IDENTITY_LOCKED.error()
            if "id_number_hash" in fields and mine.filter(id_number_hash=fields["id_number_hash"]).exists():
                raise errors.PATIENT_EXISTS.error(field="id_number")
            if fields.get("relation") == "self" and mine.filter(relation="self").exists():
                raise errors.SELF_EXISTS.error(field="relation")
            if fields:
                Patient.objects.filter(pk=patient.pk).update(**fields)
            if new_identity:
                # Records a HIS made for the old name or number are not this person's: made
                # again (or found) under the new identity at the next booking.
                MedicalRecord.objects.filter(patient=patient).delete()
    except IntegrityError:
        raise errors.PATIENT_EXISTS.error(field="id_number") from None
    patient.refresh_from_db()
    return patient


def patient_identity_locked(patient: Patient) -> bool:
    """Whether the patient's name and ID can no longer be changed (anything was booked for them)."""
    return _has_booked(patient)


def _has_booked(patient: Patient) -> bool:
    """Anything booked for the patient, ever: the hospital knows them by this identity."""
    # Holds, registrations and waitlist entries all point at the patient with PROTECT: a delete
    # attempt inside a savepoint tells without reading the apps above (rolled back either way).
    try:
        with transaction.atomic():
            Patient.objects.filter(pk=patient.pk).delete()
            raise _Undo
    except _Undo:
        return False
    except ProtectedError:
        return True


class _Undo(Exception):
    pass


def patient_remove(*, patient: Patient) -> None:
    """Remove a patient from the account, refused (naming what) while a registration has not
    taken place, a hold is live or a waitlist entry is active. A patient never booked for is
    deleted with their personal data; one with past bookings is marked removed, kept for those."""
    with transaction.atomic():
        # The account lock: a hold being made for the patient at this moment finishes first (or
        # waits, and then finds no such patient).
        lock_account(patient.account_id)
        now = clock.now()
        if not Patient.objects.filter(pk=patient.pk, removed_at__isnull=True).exists():
            raise NOT_FOUND.error(field="patient_id")
        for guard in wired.patient_guards.values():
            reason = guard(patient.pk, now)
            if reason is not None:
                raise errors.PATIENT_IN_USE.error(detail=IN_USE_REASONS[reason], reason=reason)
        try:
            with transaction.atomic():
                Patient.objects.filter(pk=patient.pk).delete()
        except ProtectedError:
            Patient.objects.filter(pk=patient.pk).update(removed_at=now)


def patient_find_or_create(*, name: str, id_number: str, phone: str, channel: str = "desk") -> Patient:
    """The patient staff book for at the window or on the phone: found by the ID number under the
    account of ``phone`` (the login the patient will use; made if new), or added there with the
    same checks a patient's own addition gets. A name that is not the one already registered
    for the number is refused (``patient.name_mismatch``): real-name booking. ``channel``: where
    the consent was given (``desk``: read out by staff; ``kiosk``: agreed to on its screen)."""
    name = real_name(name)
    parsed = idcard.parse(id_number)
    if parsed is None:
        raise errors.ID_NUMBER_INVALID.error(detail=idcard.resident_refusal(id_number), field="id_number")
    phone = phone_normalize(phone)
    id_hash = idcard.lookup_hash(parsed.number)
    known = Patient.objects.filter(id_number_hash=id_hash).order_by("pk").first()
    if known is not None and known.name != name:
        raise errors.NAME_MISMATCH.error(field="name")
    with transaction.atomic():
        account = account_for_phone(phone, created_at=clock.now())
    mine = Patient.objects.filter(account=account, id_number_hash=id_hash, removed_at__isnull=True).first()
    if mine is not None:
        return mine
    relation = "other" if patients_of(account).filter(relation="self").exists() else "self"
    try:
        # The staff member reads the consent text to the patient at the desk (channel "desk").
        return patient_create(
            account=account,
            name=name,
            id_number=parsed.number,
            phone=phone,
            relation=relation,
            consent_version=consent.TEXT_VERSION,
            channel=channel,
        )
    except Problem as refused:
        if refused.code != errors.PATIENT_EXISTS.code:
            raise
        # Added by a parallel request.
        return Patient.objects.get(account=account, id_number_hash=id_hash, removed_at__isnull=True)
