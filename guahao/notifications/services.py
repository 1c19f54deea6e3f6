"""Messages to patients: written once per channel in the transaction of what they report,
read in the inbox in the reader's language, and what patients choose.

``notice`` is the one place messages are made: the kinds' table says on which channels, the
patient's preferences and what each hospital configured narrow it (service messages ignore the
preferences), and the database keeps one message per report and channel.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account
from guahao.accounts.services import mask_phone
from guahao.booking.models import Hold, Registration
from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.core.errors import INVALID, NOT_FOUND
from guahao.notifications import errors, texts
from guahao.notifications.channels import ChannelError, sender_for
from guahao.notifications.kinds import KINDS, RESTORE, STANDING, SUPERSEDE
from guahao.notifications.models import (
    Channel,
    HospitalChannels,
    Language,
    Message,
    MessageStatus,
    Preferences,
    WechatLink,
)
from guahao.scheduling.models import Schedule

log = logging.getLogger(__name__)

KICK_KEY = "notifications:kick"
KICK_SECONDS = 1

# The kinds of messages as the inbox names them (kept: clients know these codes).
BOOKED = "registration.booked"
CANCELLED = "registration.cancelled"  # by the patient
CANCELLED_BY_HOSPITAL = "registration.cancelled_by_hospital"
SCHEDULE_SUSPENDED = "schedule.suspended"
SCHEDULE_MOVED = "schedule.moved"
LATE_PAYMENT_REFUNDED = "payment.late_refunded"
SECOND_PAYMENT_REFUNDED = "payment.second_refunded"


# --- facts ---------------------------------------------------------------------------------------


def local_time(when: dt.datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def local_moment(when: dt.datetime, tz: str) -> str:
    """A deadline as a patient reads it: the time, with the date when it is not today."""
    local = when.astimezone(ZoneInfo(tz))
    return local.strftime("%H:%M") if local.date() == clock.local_today(tz) else local.strftime("%Y-%m-%d %H:%M")


def schedule_facts(schedule: Schedule) -> dict[str, Any]:
    hospital, department, doctor = schedule.hospital, schedule.department, schedule.doctor
    return {
        "visit_date": schedule.date.isoformat(),
        "time": local_time(schedule.starts_at, hospital.timezone),
        "hospital": hospital.name,
        "hospital_en": hospital.name_en,
        "department": department.name,
        "department_en": department.name_en,
        "doctor": doctor.name if doctor else "",
        "doctor_en": doctor.name_en if doctor else "",
        "location": schedule.location,
    }


def visit_facts(visit: Hold | Registration) -> dict[str, Any]:
    """What a message says of a registration or a hold: where, with whom, when (both languages
    kept, the reader's is picked when it is worded)."""
    facts = schedule_facts(visit.schedule)
    facts["time"] = local_time(visit.period.starts_at, visit.hospital.timezone)
    if isinstance(visit, Registration):
        facts |= {"registration_number": visit.registration_number, "slot_number": visit.slot_number}
    return facts


# --- what patients choose ------------------------------------------------------------------------


def preferences_of(account: Account) -> Preferences:
    """The account's choices (the defaults, unsaved, until it makes any)."""
    found = Preferences.objects.filter(account=account).first()
    return found or Preferences(account=account, updated_at=clock.now())


def language_seen(*, account: Account, language: str) -> None:
    """The language the patient uses the app in, while they have chosen nothing for their
    messages: their SMS, WeChat and e-mail follow it (an English reader is not texted in Chinese).
    Once they choose, their choice stands."""
    language = (language or "").lower()
    if language.startswith("en"):
        language = Language.EN
    if language not in Language.values or language == Language.ZH_HANS:
        return  # Chinese is what an account without a choice gets anyway
    Preferences.objects.get_or_create(account=account, defaults={"language": language, "updated_at": clock.now()})


def preferences_set(
    *,
    account: Account,
    sms: bool | None = None,
    wechat: bool | None = None,
    email: bool | None = None,
    email_address: str | None = None,
    language: str | None = None,
) -> Preferences:
    if language is not None and language not in Language.values:
        raise INVALID.error(field="language")
    if email_address:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(email_address.strip())
        except ValidationError:
            raise INVALID.error(detail=_("Enter a valid e-mail address."), field="email_address") from None
    changes = {
        name: value
        for name, value in {
            "sms": sms,
            "wechat": wechat,
            "email": email,
            "email_address": email_address.strip() if email_address is not None else None,
            "language": language,
        }.items()
        if value is not None
    }
    with transaction.atomic():
        prefs, _created = Preferences.objects.select_for_update().get_or_create(
            account=account, defaults={"updated_at": clock.now()}
        )
        for name, value in changes.items():
            setattr(prefs, name, value)
        prefs.updated_at = clock.now()
        prefs.save()
    return prefs


def channels_of(hospital_id: int | None) -> HospitalChannels | None:
    if hospital_id is None:
        return None
    return HospitalChannels.objects.filter(hospital_id=hospital_id).first()


def wechat_link(*, account: Account, hospital: Hospital, code: str) -> WechatLink:
    """Link the account to its openid at the hospital's official account (from the code of
    WeChat's web authorisation)."""
    from guahao.notifications.channels.wechat import openid_for_code

    config = channels_of(hospital.pk)
    if config is None or not config.wechat_app_id:
        raise errors.WECHAT_NOT_CONFIGURED.error()
    try:
        openid = openid_for_code(config, code)
    except ChannelError as exc:
        log.warning("wechat link for account %s failed: %s", account.pk, exc)
        raise (errors.WECHAT_CODE_INVALID if exc.permanent else errors.WECHAT_FAILED).error() from None
    with transaction.atomic():
        WechatLink.objects.filter(app_id=config.wechat_app_id, openid=openid).exclude(account=account).delete()
        link, _ = WechatLink.objects.update_or_create(
            account=account,
            app_id=config.wechat_app_id,
            defaults={"openid": openid, "linked_at": clock.now()},
        )
    return link


def address_of(channel: str, account: Account, prefs: Preferences, config: HospitalChannels | None) -> str:
    """Where a channel reaches the account ('' where it does not)."""
    if channel == Channel.SMS:
        return account.phone
    if channel == Channel.EMAIL:
        return prefs.email_address
    if channel == Channel.WECHAT and config is not None and config.wechat_app_id:
        link = WechatLink.objects.filter(account=account, app_id=config.wechat_app_id).first()
        return link.openid if link else ""
    return ""


def _masked(channel: str, address: str) -> str:
    if channel == Channel.SMS:
        return mask_phone(address)
    if channel == Channel.EMAIL:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    if channel == Channel.WECHAT:
        return f"openid {address[:4]}…"
    return ""


# --- making messages -----------------------------------------------------------------------------


def quiet_until(now: dt.datetime, tz: str) -> dt.datetime | None:
    """The end of the SMS quiet hours if ``now`` is inside them, else None."""
    window = settings.SMS_QUIET_HOURS
    if window is None:
        return None
    start, end = window
    local = now.astimezone(ZoneInfo(tz))
    at = local.time()
    inside = (start <= at or at < end) if start > end else (start <= at < end)
    if not inside:
        return None
    day = local.date() if at < end else local.date() + dt.timedelta(days=1)
    return clock.at_local(day, end, tz)


def notice(
    *,
    account_id: int,
    kind: str,
    key: str,
    hospital_id: int | None,
    facts: dict[str, Any],
    registration_id: int | None = None,
    hold_id: int | None = None,
    expires_at: dt.datetime | None = None,
) -> list[Message]:
    """Tell an account: one message on each channel the kind goes on that the patient can
    receive and wants (all of them for a service message). ``key`` names what is reported: a
    second notice with the same key adds nothing. Call inside the transaction of what it reports."""
    spec = KINDS[kind]
    if kind in STANDING - RESTORE and registration_id is not None and superseded(registration_id):
        return []  # no "please come" (a reminder) for a registration the patient was told not to use
    account = Account.objects.get(pk=account_id)
    prefs = preferences_of(account)
    config = channels_of(hospital_id)
    now = clock.now()
    tz = Hospital.objects.values_list("timezone", flat=True).get(pk=hospital_id) if hospital_id else settings.TIME_ZONE
    rows = []
    for channel in spec.channels:
        common = {
            "account_id": account_id,
            "hospital_id": hospital_id,
            "kind": kind,
            "channel": channel,
            "data": facts,
            "language": prefs.language,
            "registration_id": registration_id,
            "hold_id": hold_id,
            "dedup_key": key[:80],
            "urgent": spec.urgent,
            "created_at": now,
            "expires_at": expires_at,
        }
        if channel == Channel.INBOX:
            rows.append(Message(status=MessageStatus.SENT, sent_at=now, **common))
            continue
        if not spec.service and not getattr(prefs, channel):
            continue
        if not sender_for(channel).reachable(settings=config, kind=kind):
            continue
        address = address_of(channel, account, prefs, config)
        if not address:
            continue
        due = now
        if channel == Channel.SMS and not spec.urgent:
            due = quiet_until(now, tz) or now
        rows.append(Message(status=MessageStatus.PENDING, next_at=due, to_masked=_masked(channel, address), **common))
    if kind in SUPERSEDE and registration_id is not None:
        Message.objects.filter(registration_id=registration_id, kind__in=STANDING, status=MessageStatus.PENDING).update(
            status=MessageStatus.SKIPPED, last_error=f"superseded by {kind}"
        )
    Message.objects.bulk_create(rows, ignore_conflicts=True)
    if any(row.channel != Channel.INBOX for row in rows):
        transaction.on_commit(kick)
    return rows


def superseded(registration_id: int) -> bool:
    """Whether the patient was last told the registration does not stand (the HIS refused it) and
    not told since that it does."""
    last = (
        Message.objects.filter(registration_id=registration_id, kind__in=SUPERSEDE | RESTORE)
        .order_by("-created_at", "-pk")
        .values_list("kind", flat=True)
        .first()
    )
    return last in SUPERSEDE


def kick() -> None:
    """Ask the worker to send in a moment (at most once a second; the periodic job sends what a
    kick missed)."""
    if not settings.OUTBOX_KICK:
        return
    try:
        if cache.add(KICK_KEY, 1, timeout=KICK_SECONDS):
            from guahao.notifications.tasks import send_messages_now

            send_messages_now.schedule(delay=KICK_SECONDS + 0.5)
    except Exception:  # noqa: BLE001 - the periodic job sends what a failed kick would have
        log.warning("could not ask the worker to send messages", exc_info=True)


# --- the inbox -----------------------------------------------------------------------------------


def _inbox(account: Account) -> Any:
    return Message.objects.filter(account=account, channel=Channel.INBOX)


def messages_of(account: Account) -> list[Message]:
    return list(_inbox(account).select_related("hospital")[:100])


def messages_unread(account: Account) -> int:
    return _inbox(account).filter(read_at__isnull=True).count()


def messages_mark_read(account: Account) -> int:
    """The account has seen its messages."""
    return _inbox(account).filter(read_at__isnull=True).update(read_at=clock.now())


def access_message(*, account: Account, message_id: int) -> Message:
    """One of the account's inbox messages (another account's is not found)."""
    message = _inbox(account).filter(pk=message_id).first()
    if message is None:
        raise NOT_FOUND.error()
    return message


def message_mark_read(*, account: Account, message_id: int) -> Message:
    message = access_message(account=account, message_id=message_id)
    Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=clock.now())
    message.refresh_from_db()
    return message


def message_text(message: Message, language: str | None = None) -> tuple[str, str]:
    """(title, text) in ``language`` (the active one by default)."""
    language = language or ("en" if (get_language() or "").startswith("en") else "zh-hans")
    return texts.render(kind=message.kind, data=message.data, language=language, hospital_id=message.hospital_id)


def message_link(message: Message) -> str:
    """Where the patient app shows what the message is about ('' for a message of no visit)."""
    if message.registration_id:
        return reverse("web:registration", args=[message.registration_id])
    if message.hold_id:
        return reverse("web:hold", args=[message.hold_id])
    entry = (message.data or {}).get("entry_id")
    if message.kind.startswith("waitlist.") and entry:
        return reverse("web:waitlist") + f"#entry-{int(entry)}"  # joined, ended: the entry's card
    return ""


# --- staff ---------------------------------------------------------------------------------------


def message_send_again(*, message: Message, by: str) -> Message:
    """Staff send a dead letter (or one not sent) again now; who asked is kept on it."""
    if message.channel == Channel.INBOX or message.status not in (MessageStatus.FAILED, MessageStatus.SKIPPED):
        raise errors.NOT_RESENDABLE.error(message_status=message.status)
    Message.objects.filter(pk=message.pk, status__in=[MessageStatus.FAILED, MessageStatus.SKIPPED]).update(
        status=MessageStatus.PENDING, next_at=clock.now(), attempts=0, expires_at=None, resent_by=by[:150]
    )
    from guahao.notifications import delivery

    delivery.message_send(message_id=message.pk)
    message.refresh_from_db()
    return message


def channels_reseal() -> int:
    """After a key rotation: each hospital's WeChat AppSecret sealed under the current key."""
    from guahao.core import sealing
    from guahao.notifications.models import WECHAT_SECRET_PURPOSE

    changed = 0
    for row in HospitalChannels.objects.exclude(wechat_secret_sealed="").only("pk", "wechat_secret_sealed"):
        if not sealing.sealed_now(WECHAT_SECRET_PURPOSE, row.wechat_secret_sealed):
            HospitalChannels.objects.filter(pk=row.pk, wechat_secret_sealed=row.wechat_secret_sealed).update(
                wechat_secret_sealed=sealing.reseal(WECHAT_SECRET_PURPOSE, row.wechat_secret_sealed)
            )
            changed += 1
    return changed
