"""The waitlist (候补): patients waiting for a full clinic, offered the slots given back in turn."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account, Patient
from guahao.booking.models import Hold, Registration
from guahao.catalog.models import Department, Hospital
from guahao.payments.models import Payment
from guahao.scheduling.models import Schedule


class EntryStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    OFFERED = "offered", _("Offered a slot")
    BOOKED = "booked", _("Booked")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE = [EntryStatus.WAITING, EntryStatus.OFFERED]


class EntryMode(models.TextChoices):
    """How a freed slot becomes the patient's (fixed when they join, from the rules then)."""

    BOOK = "book", _("Booked at once (nothing to pay online)")
    PREPAY = "prepay", _("Paid when joining")
    PAY_AFTER_HOLD = "pay_after_hold", _("Held, then confirmed and paid")


class WaitlistEntry(models.Model):
    """One patient waiting for one clinic."""

    schedule = models.ForeignKey(Schedule, models.PROTECT, related_name="waitlist", verbose_name=_("clinic"))
    hospital = models.ForeignKey(Hospital, models.PROTECT, related_name="+", verbose_name=_("hospital"))
    department = models.ForeignKey(Department, models.PROTECT, related_name="+", verbose_name=_("department"))
    account = models.ForeignKey(Account, models.PROTECT, related_name="waitlist", verbose_name=_("account"))
    patient = models.ForeignKey(Patient, models.PROTECT, related_name="waitlist", verbose_name=_("patient"))
    person_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=EntryStatus.choices, default=EntryStatus.WAITING)
    mode = models.CharField(_("payment"), max_length=20, choices=EntryMode.choices)
    insurance = models.BooleanField(_("medical insurance"), default=False)
    # Entered in a lottery release's first moments (``lottery_seconds``): drawn at the window's end.
    lottery = models.BooleanField(_("in the release's draw"), default=False)
    joined_at = models.DateTimeField(_("joined at"))
    # Prepay: the payment taken when joining; ``paid_at`` once the money arrived (only then is
    # the patient offered a slot).
    payment = models.OneToOneField(
        Payment, models.PROTECT, null=True, blank=True, related_name="waitlist_entry", verbose_name=_("payment")
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    hold = models.OneToOneField(
        Hold, models.PROTECT, null=True, blank=True, related_name="waitlist_entry", verbose_name=_("hold")
    )
    registration = models.OneToOneField(
        Registration,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="waitlist_entry",
        verbose_name=_("registration"),
    )
    offered_at = models.DateTimeField(_("offered at"), null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("confirm by"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    # Why it ended, as a stable code the patient sees worded (e.g. ``waitlist.deadline``,
    # ``rule.blacklisted``, ``schedule.suspended``), and who ended it when staff did.
    end_reason = models.CharField(_("reason"), max_length=60, blank=True)
    ended_by = models.CharField(_("ended by"), max_length=150, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist entries")
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "person_hash"],
                condition=Q(status__in=["waiting", "offered"]),
                name="waitlist_one_entry_per_person_and_clinic",
            ),
        ]
        indexes = [
            models.Index(fields=["schedule", "status", "joined_at"], name="waitlist_queue"),
            models.Index(fields=["status", "schedule"], name="waitlist_by_status"),
        ]

    def __str__(self) -> str:
        return f"waitlist {self.pk} ({self.status})"


class WaitlistDraw(models.Model):
    """A draw among the patients waiting for a clinic (random order): what was drawn from, the
    seed and the one chosen, so staff can show it was fair. Reproduced by
    ``random.Random(seed).choice(candidates)`` with the candidates in ascending id order (a
    lottery release: ``ranking``, by ``random.Random(seed).shuffle`` of them)."""

    schedule = models.ForeignKey(Schedule, models.PROTECT, related_name="waitlist_draws", verbose_name=_("clinic"))
    at = models.DateTimeField(_("drawn at"))
    seed = models.CharField(_("seed"), max_length=32)
    candidates = models.JSONField(_("candidates"))
    chosen = models.ForeignKey(
        WaitlistEntry, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("chosen")
    )
    # A lottery release's draw: every candidate in the order drawn (``random.Random(seed)``
    # shuffling the candidates in ascending id order); slots went down the list.
    ranking = models.JSONField(_("order drawn"), null=True, blank=True)

    class Meta:
        verbose_name = _("waitlist draw")
        verbose_name_plural = _("waitlist draws")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"draw {self.pk}"


class WaitlistEvent(models.Model):
    """Every change of an entry: what, from which state, who (the patient, staff, the system)."""

    entry = models.ForeignKey(WaitlistEntry, models.CASCADE, related_name="events", verbose_name=_("entry"))
    kind = models.CharField(_("what"), max_length=40)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    actor = models.CharField(_("who"), max_length=150, blank=True)
    at = models.DateTimeField(_("when"), db_index=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("waitlist event")
        verbose_name_plural = _("waitlist events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        """The change of status, in the reader's language (the console's rows read it)."""

        def said(code: str) -> str:
            return str(EntryStatus(code).label) if code in EntryStatus.values else code

        return f"{said(self.from_status)} → {said(self.to_status)}" if self.from_status else said(self.to_status)
