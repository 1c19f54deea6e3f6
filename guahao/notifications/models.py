"""Messages to patients: one row per channel a patient is told on, written in the transaction of
the event it reports and delivered by the channel's worker; what patients chose; what each
hospital configured (templates, SMS signature and template codes, its WeChat account)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account
from guahao.booking.models import Hold, Registration
from guahao.catalog.models import Hospital
from guahao.core import sealing

WECHAT_SECRET_PURPOSE = b"wechat-app-secret"


class Channel(models.TextChoices):
    INBOX = "inbox", _("In-app inbox")
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", _("E-mail")


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed (dead letter)")
    SKIPPED = "skipped", _("Not sent (limit, or too late)")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


class Message(models.Model):
    """A notification to an account on one channel. Stored as a kind and its facts (both
    languages of every name), worded when read (inbox) or when sent (the other channels).

    ``dedup_key`` names what it reports (an event, a reminder of a registration): the database
    keeps one message per key and channel, so whatever runs twice tells the patient once. A
    channel's worker claims a row with a conditional update (``claim``), sends it, and records the
    result under that claim; a claim older than the lease is the mark of a worker that died.
    """

    account = models.ForeignKey(Account, models.CASCADE, related_name="messages", verbose_name=_("account"))
    hospital = models.ForeignKey(
        Hospital, models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("hospital")
    )
    kind = models.CharField(_("kind"), max_length=40)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.INBOX)
    data = models.JSONField(default=dict)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices, default=Language.ZH_HANS)
    registration = models.ForeignKey(
        Registration,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("registration"),
    )
    hold = models.ForeignKey(Hold, models.SET_NULL, null=True, blank=True, related_name="messages")
    dedup_key = models.CharField(_("reports"), max_length=80)
    urgent = models.BooleanField(_("urgent"), default=False, help_text=_("Sent by SMS in quiet hours too"))
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("pointless after"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    to_masked = models.CharField(_("recipient"), max_length=80, blank=True)
    provider_ref = models.CharField(_("provider reference"), max_length=100, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    resent_by = models.CharField(_("sent again by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedup_key", "channel"], name="message_once_per_channel"),
        ]
        indexes = [
            models.Index(fields=["status", "next_at"], name="message_due"),
            models.Index(fields=["account", "channel", "read_at"], name="message_inbox"),
            models.Index(fields=["registration", "kind"], name="message_of_registration"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.channel})"


class Preferences(models.Model):
    """What a patient chose: the channels they want beside the inbox, their e-mail address and
    the language messages are written in. Service messages (a suspension, a refund) go to every
    channel the patient can receive, whatever was chosen."""

    account = models.OneToOneField(
        Account, models.CASCADE, related_name="message_preferences", verbose_name=_("account")
    )
    sms = models.BooleanField(_("SMS"), default=True)
    wechat = models.BooleanField(_("WeChat"), default=True)
    email = models.BooleanField(_("e-mail"), default=True)
    email_address = models.EmailField(_("e-mail address"), blank=True)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices, default=Language.ZH_HANS)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("message preferences")
        verbose_name_plural = _("message preferences")

    def __str__(self) -> str:
        return f"preferences of account {self.account_id}"


class WechatLink(models.Model):
    """An account's openid at one WeChat official account (a hospital's)."""

    account = models.ForeignKey(Account, models.CASCADE, related_name="wechat_links")
    app_id = models.CharField(max_length=40)
    openid = models.CharField(max_length=64)
    linked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "app_id"], name="wechat_link_once_per_app"),
            models.UniqueConstraint(fields=["app_id", "openid"], name="wechat_openid_once_per_app"),
        ]

    def __str__(self) -> str:
        return f"{self.app_id} account {self.account_id}"


class HospitalChannels(models.Model):
    """A hospital's own senders: the SMS signature and, per kind of message, the SMS template
    approved at the provider; its WeChat official account and, per kind, the subscription
    template with what goes in each of its fields; when the day-before reminder goes out."""

    hospital = models.OneToOneField(
        Hospital, models.CASCADE, related_name="message_channels", verbose_name=_("hospital")
    )
    sms_sign_name = models.CharField(
        _("SMS signature"), max_length=40, blank=True, help_text=_("As approved at the SMS provider, e.g. 仁和医院")
    )
    sms_templates = models.JSONField(
        _("SMS templates"),
        default=dict,
        blank=True,
        help_text=_(
            'Per kind: {"registration.booked": {"code": "SMS_123", "code_en": "SMS_124", "params": '
            '{"dept": "{department}", "time": "{date} {time}"}}}'
        ),
    )
    wechat_app_id = models.CharField(_("WeChat official account AppID"), max_length=40, blank=True)
    wechat_secret_sealed = models.TextField(_("WeChat AppSecret (sealed)"), blank=True, editable=False)
    wechat_templates = models.JSONField(
        _("WeChat subscription templates"),
        default=dict,
        blank=True,
        help_text=_(
            'Per kind: {"registration.booked": {"template_id": "…", "fields": {"thing1": "{department}", '
            '"time2": "{date} {time}"}}}'
        ),
    )
    reminder_time = models.TimeField(
        _("day-before reminder at"), null=True, blank=True, help_text=_("Empty: GUAHAO_REMINDER_DAY_BEFORE_AT")
    )

    class Meta:
        verbose_name = _("hospital message channels")
        verbose_name_plural = _("hospital message channels")

    def __str__(self) -> str:
        return str(self.hospital)

    def wechat_secret(self) -> str:
        return sealing.unseal(WECHAT_SECRET_PURPOSE, self.wechat_secret_sealed) if self.wechat_secret_sealed else ""

    def wechat_secret_set(self, secret: str) -> None:
        self.wechat_secret_sealed = sealing.seal(WECHAT_SECRET_PURPOSE, secret)


class MessageTemplate(models.Model):
    """A hospital's own wording of one kind of message in one language (the built-in one
    otherwise). ``{name}`` stands for a fact of the message."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="message_templates", verbose_name=_("hospital"))
    kind = models.CharField(_("kind"), max_length=40)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices)
    title = models.CharField(_("message title"), max_length=100)
    body = models.TextField(_("text"))

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["hospital", "kind", "language"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "kind", "language"], name="template_once_per_language"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language})"


class SmsDay(models.Model):
    """How many messages went by SMS to one phone (a keyed hash, never the number) on one day:
    the daily limit is taken from it with a conditional update."""

    phone_hash = models.CharField(max_length=64)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["phone_hash", "day"], name="sms_day_once"),
            models.CheckConstraint(condition=Q(count__gte=0), name="sms_day_count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.count}"
