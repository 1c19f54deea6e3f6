"""What the core keeps: the answers given to requests sent with an ``Idempotency-Key``, and the
events the apps tell each other through (``core.outbox``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotentRequest(models.Model):
    """One key of one client: what was asked (a fingerprint) and, once done, the answer given."""

    owner = models.CharField(_("client"), max_length=64)
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)  # None: running
    response = models.JSONField(_("answer"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_once_per_client")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class OutboxEvent(models.Model):
    """Something that happened, written in the transaction that made it happen, for the apps
    above the one that wrote it (``core.outbox``)."""

    topic = models.CharField(_("topic"), max_length=60)
    data = models.JSONField(_("data"), default=dict)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["topic", "id"], name="outbox_topic_id")]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"


class DeliveryStatus(models.TextChoices):
    DONE = "done", _("Done")
    FAILING = "failing", _("Failing")


class OutboxDelivery(models.Model):
    """One event handled by one consumer: written in the same transaction as what the handler
    did (done), or after a failed try (failing, with when to try again)."""

    event = models.ForeignKey(OutboxEvent, models.CASCADE, related_name="deliveries", verbose_name=_("event"))
    consumer = models.CharField(_("consumer"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    next_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("event delivery")
        verbose_name_plural = _("event deliveries")
        constraints = [
            models.UniqueConstraint(fields=["event", "consumer"], name="outbox_delivered_once_per_consumer"),
        ]
        indexes = [models.Index(fields=["consumer", "status", "next_at"], name="outbox_failing_due")]

    def __str__(self) -> str:
        return f"{self.consumer} {self.event_id} ({self.status})"


class OutboxCursor(models.Model):
    """Per consumer: every event up to ``low_id`` is handled, so the search for work starts there."""

    consumer = models.CharField(_("consumer"), max_length=40, unique=True)
    low_id = models.BigIntegerField(_("handled up to"), default=0)

    class Meta:
        verbose_name = _("event cursor")
        verbose_name_plural = _("event cursors")

    def __str__(self) -> str:
        return f"{self.consumer} ≤ {self.low_id}"


class AuditEntry(models.Model):
    """One staff action: who, when, what, on which row, the state before and after, and why.

    Written by the services that carry the action out (``core.audit.audit_record``). The
    hospital is kept as its id (the core knows no hospitals) so every console page narrows it as
    it narrows any hospital's rows; ``None`` is an action on the platform's own rows.
    """

    at = models.DateTimeField(_("at"), db_index=True)
    actor = models.CharField(_("by"), max_length=150, db_index=True)
    hospital_id = models.PositiveIntegerField(_("hospital"), null=True, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=40)
    target_type = models.CharField(_("kind of row"), max_length=30)
    target_id = models.CharField(_("row"), max_length=40, blank=True)
    target = models.CharField(_("concerning"), max_length=100, blank=True, db_index=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["hospital_id", "at"], name="audit_hospital_at")]

    def __str__(self) -> str:
        at = self.at.astimezone(timezone.get_current_timezone())  # the console's: the hospital's clock
        return f"{at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"


class RateCount(models.Model):
    """Hits on one rate-limit key in one window, for the limits every process must share when
    there is no Redis (the embedded default runs several web processes): logins and codes."""

    name = models.CharField(max_length=200)
    bucket = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "bucket"], name="rate_count_once_per_window")]

    def __str__(self) -> str:
        return f"{self.name} {self.bucket}: {self.count}"


class CacheChange(models.Model):
    """Keys one process changed that every process keeps (``core.cache``, "told through the
    database"): the others forget them when they next look. The embedded default alone, where
    each process's cache is its own; with Redis a channel tells the same."""

    keys = models.TextField()
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.pk}: {self.keys[:60]}"
