from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guahao.booking.models import Hold, Registration
from guahao.catalog.models import Hospital
from guahao.core import sealing

KEY_PURPOSE = b"his-signing-key"


class HisMode(models.TextChoices):
    SYNCED = "synced", _("Synced (the platform keeps its pool and writes back)")
    REALTIME = "realtime", _("Realtime (every hold is a HIS lock)")


class HisConnection(models.Model):
    """How one hospital's HIS is reached and which way the platform works with it."""

    hospital = models.OneToOneField(Hospital, models.CASCADE, related_name="his", verbose_name=_("hospital"))
    mode = models.CharField(_("mode"), max_length=10, choices=HisMode.choices)
    base_url = models.URLField(_("HIS address"), blank=True, help_text=_("Empty: GUAHAO_HIS_URL"))
    hospital_code = models.CharField(_("hospital code at the HIS"), max_length=32)
    # The key shared with this hospital's HIS alone (sealed at rest); empty: GUAHAO_HIS_KEY.
    key_sealed = models.TextField(_("signing key (sealed)"), blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    change_seq = models.PositiveBigIntegerField(_("last change applied"), default=0)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    sync_error = models.CharField(_("last sync error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("HIS connection")
        verbose_name_plural = _("HIS connections")

    def __str__(self) -> str:
        return f"{self.hospital} ({self.get_mode_display()})"

    def signing_key(self) -> str:
        """What signs the platform's requests to this HIS and checks the events it pushes."""
        return sealing.unseal(KEY_PURPOSE, self.key_sealed) if self.key_sealed else settings.HIS_KEY

    def signing_key_set(self, key: str) -> None:
        self.key_sealed = sealing.seal(KEY_PURPOSE, key)


class CallKind(models.TextChoices):
    REGISTER = "register", _("Write back a registration")
    CANCEL = "cancel", _("Write back a cancellation")
    RELEASE = "release", _("Release a lock")


class CallStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed (refused by the HIS)")
    DROPPED = "dropped", _("Not sent: the registration ended here")


class HisCall(models.Model):
    """A write to the HIS that must happen (outbox): written in the same transaction as the
    change it reports, sent after commit, retried with back-off until the HIS confirms.

    ``ref`` is the idempotency key the HIS knows it by, so sending it twice does it once.
    """

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+", verbose_name=_("hospital"))
    kind = models.CharField(_("kind"), max_length=10, choices=CallKind.choices)
    ref = models.CharField(_("reference"), max_length=64)
    registration = models.ForeignKey(
        Registration, models.CASCADE, null=True, blank=True, related_name="his_calls", verbose_name=_("registration")
    )
    hold = models.ForeignKey(
        Hold, models.CASCADE, null=True, blank=True, related_name="his_calls", verbose_name=_("hold")
    )
    status = models.CharField(_("status"), max_length=10, choices=CallStatus.choices, default=CallStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_at = models.DateTimeField(_("next attempt"), db_index=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("HIS write-back")
        verbose_name_plural = _("HIS write-backs")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "ref"], name="hiscall_once_per_ref")]
        indexes = [models.Index(fields=["status", "next_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


class HisEvent(models.Model):
    """A change the HIS reported (pushed or read from its feed), applied once."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+", verbose_name=_("hospital"))
    event_id = models.CharField(_("HIS event id"), max_length=64)
    type = models.CharField(_("kind"), max_length=40)
    received_at = models.DateTimeField(_("received at"))
    outcome = models.CharField(_("outcome"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("HIS event")
        verbose_name_plural = _("HIS events")
        constraints = [models.UniqueConstraint(fields=["hospital", "event_id"], name="hisevent_once")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
