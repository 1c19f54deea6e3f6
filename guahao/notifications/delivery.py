"""The channels' worker: each message due is claimed with a conditional update, sent outside any
transaction, and its result recorded under that claim.

- Two workers never send one message: only one conditional update claims it.
- A worker killed after its claim leaves the message claimed; once the claim is older than
  ``LEASE`` (far longer than a provider is waited for) another worker claims it again. Before
  sending again it asks the channel whether the provider has it already (Aliyun is asked by our
  message id): a message sent just before the kill is recorded, not sent twice. A channel that
  cannot be asked (WeChat, e-mail) sends it again only in that case.
- A failure that may pass is tried again with back-off; after ``MAX_ATTEMPTS``, or at once when
  trying again cannot help, the message is a dead letter, listed in the console to send again.
- A provider that cannot be reached at all (the hospital's outside network or the provider is
  down) uses up no try: the message is tried every ``OUTAGE_RETRY`` until the outage ends, for up
  to ``OUTAGE_PATIENCE`` after it was written (unless it stops mattering first), so an outage of
  hours loses nothing and floods nobody when it ends.
- SMS: no message but urgent ones in the quiet hours (they wait for the window's end); at most
  ``GUAHAO_SMS_DAILY_LIMIT`` a phone a day, counted in the database, urgent ones always sent.
- A message that would arrive too late to matter (a reminder after the visit began, a hold's
  deadline passed) is not sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet

from guahao.booking.models import Registration, RegistrationStatus
from guahao.core import clock
from guahao.notifications import services, texts
from guahao.notifications.channels import ChannelError, Outgoing, sender_for
from guahao.notifications.kinds import RESTORE, STANDING
from guahao.notifications.models import Channel, Message, MessageStatus, SmsDay

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
BACKOFF_SECONDS = [30, 120, 600, 1800, 3600]
MAX_ATTEMPTS = 6
OUTAGE_RETRY = dt.timedelta(minutes=5)
OUTAGE_PATIENCE = dt.timedelta(days=3)


def _due(now: dt.datetime) -> Q:
    return Q(status=MessageStatus.PENDING, next_at__lte=now) | Q(
        status=MessageStatus.SENDING, claimed_at__lte=now - LEASE
    )


def messages_send_due(*, limit: int = 200) -> dict[str, int]:
    """The worker's job: every message due (and every claim a dead worker left), oldest first."""
    now = clock.now()
    ids = list(
        Message.objects.filter(_due(now))
        .exclude(channel=Channel.INBOX)
        .order_by("next_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    outcomes: dict[str, int] = {}
    for pk in ids:
        outcome = message_send(message_id=pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _phone_hash(phone: str) -> str:
    return hmac.new(settings.FIELD_KEY.encode(), f"sms-day:{phone}".encode(), hashlib.sha256).hexdigest()


def sms_day_take(*, phone: str, urgent: bool) -> bool:
    """Count one SMS to the phone today; False (nothing counted) when the day's limit is reached
    and the message is not urgent."""
    day = clock.local_today(settings.TIME_ZONE)
    key = _phone_hash(phone)
    try:
        with transaction.atomic():
            SmsDay.objects.get_or_create(phone_hash=key, day=day)
    except IntegrityError:  # created by a parallel send
        pass
    counted = SmsDay.objects.filter(phone_hash=key, day=day)
    if not urgent:
        counted = counted.filter(count__lt=settings.SMS_DAILY_LIMIT)
    return bool(counted.update(count=F("count") + 1))


def sms_day_give_back(*, phone: str) -> None:
    day = clock.local_today(settings.TIME_ZONE)
    SmsDay.objects.filter(phone_hash=_phone_hash(phone), day=day, count__gt=0).update(count=F("count") - 1)


def _outgoing(message: Message, *, sent_on: str) -> Outgoing:
    """The message worded in its reader's language, with the address it goes to now."""
    account = message.account
    config = services.channels_of(message.hospital_id)
    prefs = services.preferences_of(account)
    address = services.address_of(message.channel, account, prefs, config)
    if not address:
        raise ChannelError("the patient can no longer be reached on this channel", permanent=True)
    language = message.language
    title, body = texts.render(kind=message.kind, data=message.data, language=language, hospital_id=message.hospital_id)
    hospital = message.hospital
    hospital_name = ""
    if hospital is not None:
        hospital_name = (hospital.name_en if language == "en" else "") or hospital.name
    return Outgoing(
        message_id=message.pk,
        kind=message.kind,
        to=address,
        language=language,
        title=title,
        body=body,
        facts=texts.facts_of(message.data, language),
        hospital_name=hospital_name,
        link=f"{settings.PUBLIC_URL}{services.message_link(message) or '/messages/'}",
        settings=config,
        sent_on=sent_on,
    )


def _day(when: dt.datetime) -> str:
    return when.astimezone(ZoneInfo(settings.TIME_ZONE)).date().isoformat()


def _still_stands(message: Message) -> bool:
    """False for a message saying a registration stands whose registration has ended since
    (cancelled, moved, refunded): a "booked, please come" SMS held back for the quiet hours
    must not reach a patient who cancelled in the night."""
    if message.kind not in STANDING or message.registration_id is None:
        return True
    status = Registration.objects.filter(pk=message.registration_id).values_list("status", flat=True).first()
    if status not in (RegistrationStatus.BOOKED, RegistrationStatus.CHECKED_IN):
        return False
    return message.kind in RESTORE or not services.superseded(message.registration_id)


def message_send(*, message_id: int) -> str:
    """Send one message if it is due; what happened ("sent", "failed", "retry", "deferred",
    "skipped", "taken" when another worker has it or it is not due)."""
    now = clock.now()
    message = Message.objects.select_related("account", "hospital").filter(pk=message_id).first()
    if message is None or message.channel == Channel.INBOX:
        return "taken"
    pending = Message.objects.filter(pk=message.pk, status=MessageStatus.PENDING)
    if message.status == MessageStatus.PENDING and message.expires_at is not None and message.expires_at <= now:
        pending.update(status=MessageStatus.SKIPPED, last_error="too late to matter")
        return "skipped"
    if message.status == MessageStatus.PENDING and not _still_stands(message):
        pending.update(status=MessageStatus.SKIPPED, last_error="the registration no longer stands")
        return "skipped"
    if message.channel == Channel.SMS and not message.urgent and message.status == MessageStatus.PENDING:
        tz = message.hospital.timezone if message.hospital else settings.TIME_ZONE
        until = services.quiet_until(now, tz)
        if until is not None:
            pending.update(next_at=until)
            return "deferred"
    reclaimed = message.status == MessageStatus.SENDING
    # After a worker died, the provider's records are looked up on the day it claimed the message.
    sent_on = _day(message.claimed_at if reclaimed and message.claimed_at else now)
    claim = secrets.token_hex(8)
    if not Message.objects.filter(_due(now), pk=message.pk).update(
        status=MessageStatus.SENDING, claim=claim, claimed_at=now, attempts=F("attempts") + 1
    ):
        return "taken"
    message.refresh_from_db()
    mine = Message.objects.filter(pk=message.pk, claim=claim)
    counted = False
    try:
        out = _outgoing(message, sent_on=sent_on)
        sender = sender_for(message.channel)
        if reclaimed:
            found = sender.sent_already(out)
            if found is not None:
                log.info("message %s was sent before its worker died: recorded", message.pk)
                _record_sent(mine, found)
                return "sent"
        if message.channel == Channel.SMS:
            if not sms_day_take(phone=out.to, urgent=message.urgent):
                mine.update(status=MessageStatus.SKIPPED, last_error="the phone's SMS limit for today is reached")
                return "skipped"
            counted = True
        reference = sender.send(out)
    except ChannelError as exc:
        if counted:
            sms_day_give_back(phone=message.account.phone)
        return _record_failure(message, mine, str(exc), permanent=exc.permanent, unreachable=exc.unreachable)
    except Exception as exc:  # noqa: BLE001 - a bug or an unexpected answer: tried again, then a dead letter
        log.exception("message %s (%s) failed", message.pk, message.channel)
        if counted:
            sms_day_give_back(phone=message.account.phone)
        return _record_failure(message, mine, f"{type(exc).__name__}: {exc}", permanent=False)
    _record_sent(mine, reference)
    return "sent"


def _record_sent(mine: QuerySet[Message], reference: str) -> None:
    mine.update(status=MessageStatus.SENT, sent_at=clock.now(), provider_ref=reference[:100], last_error="")


def _record_failure(
    message: Message, mine: QuerySet[Message], error: str, *, permanent: bool, unreachable: bool = False
) -> str:
    log.warning(
        "message %s (%s %s) attempt %s failed: %s", message.pk, message.channel, message.kind, message.attempts, error
    )
    started = message.claimed_at or clock.now()  # the wait counts from the attempt
    if unreachable and started - message.created_at >= OUTAGE_PATIENCE:
        permanent = True  # an outage longer than the patience: staff look at it
    elif unreachable and not permanent:
        mine.update(
            status=MessageStatus.PENDING,
            next_at=started + OUTAGE_RETRY,
            attempts=F("attempts") - 1,
            last_error=error[:300],
        )
        return "retry"
    if permanent or message.attempts >= MAX_ATTEMPTS:
        mine.update(status=MessageStatus.FAILED, last_error=error[:300])
        return "failed"
    wait = dt.timedelta(seconds=BACKOFF_SECONDS[min(message.attempts, len(BACKOFF_SECONDS)) - 1])
    mine.update(status=MessageStatus.PENDING, next_at=started + wait, last_error=error[:300])
    return "retry"


def dead_letters() -> Q:
    """Messages staff should look at: given up on."""
    return Q(status=MessageStatus.FAILED)
