"""Payments, refunds and the provider notifications that move them.

A payment belongs to a hold; it becomes the registration's payment when the money arrives in
time. Amounts are integer fen, the registration fee and the consultation fee kept apart.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account
from guahao.booking.models import Hold, Registration
from guahao.catalog.models import Hospital


class Method(models.TextChoices):
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    CARD = "card", _("Bank card")
    CASH = "cash", _("Cash")

    @classmethod
    def online(cls) -> list[tuple[str, Any]]:
        """What a patient pays with in the app: cash is taken at the window, by staff."""
        return [(value, label) for value, label in cls.choices if value != cls.CASH]


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Awaiting payment")
    PAID = "paid", _("Paid")
    CLOSED = "closed", _("Closed")


class Payment(models.Model):
    # None: a prepayment taken when a patient joined a clinic's waitlist; it gets the hold the
    # waitlist makes for them when a slot comes free (``guahao.waitlist``).
    hold = models.ForeignKey(
        Hold, models.PROTECT, null=True, blank=True, related_name="payments", verbose_name=_("hold")
    )
    registration = models.OneToOneField(
        Registration, models.PROTECT, null=True, blank=True, related_name="payment", verbose_name=_("registration")
    )
    account = models.ForeignKey(Account, models.PROTECT, related_name="payments", verbose_name=_("account"))
    hospital = models.ForeignKey(Hospital, models.PROTECT, related_name="payments", verbose_name=_("hospital"))
    provider = models.CharField(_("provider"), max_length=20)
    method = models.CharField(_("method"), max_length=10, choices=Method.choices)
    out_trade_no = models.CharField(_("order number"), max_length=32, unique=True)
    registration_fee_fen = models.PositiveIntegerField(_("registration fee (fen)"))
    consultation_fee_fen = models.PositiveIntegerField(_("consultation fee (fen)"))
    amount_fen = models.PositiveIntegerField(_("amount (fen)"))
    insurance = models.BooleanField(_("medical insurance"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    pay_url = models.URLField(_("cashier URL"), max_length=300, blank=True)
    transaction_id = models.CharField(_("provider transaction"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # The provider said the attempt failed (declined, cancelled at the cashier): the order may
    # still be paid at the same cashier while the hold lasts, which clears it.
    failed_at = models.DateTimeField(_("last attempt failed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # Taken at the hospital's window (provider ``window``: cash, or a card on the desk's
    # terminal): the staff member who took it, whose till it is in.
    collected_by = models.CharField(_("collected by"), max_length=150, blank=True, db_index=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_fen=models.F("registration_fee_fen") + models.F("consultation_fee_fen")),
                name="payment_amount_is_its_lines",
            ),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_amount_positive"),
            # While a hold lasts, one payment is open for it: a second confirm reuses it.
            models.UniqueConstraint(fields=["hold"], condition=Q(status="created"), name="payment_one_open_per_hold"),
        ]

    def __str__(self) -> str:
        return self.out_trade_no


class RefundReason(models.TextChoices):
    CANCELLED = "cancelled", _("Registration cancelled")
    LATE = "late", _("Paid after the hold had ended")
    SUSPENDED = "suspended", _("Clinic suspended")
    WAITLIST = "waitlist", _("Waitlist ended without a slot")
    STAFF = "staff", _("Refunded by staff")


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Being refunded")
    SUCCEEDED = "succeeded", _("Refunded")
    FAILED = "failed", _("Refund failed")


class Refund(models.Model):
    payment = models.ForeignKey(Payment, models.PROTECT, related_name="refunds", verbose_name=_("payment"))
    out_refund_no = models.CharField(_("refund number"), max_length=32, unique=True)
    amount_fen = models.PositiveIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=10, choices=RefundReason.choices)
    status = models.CharField(_("status"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    failure = models.CharField(_("failure"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("sent to the provider"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # A window payment's refund, paid back in cash at the window: the staff member who paid it.
    paid_out_by = models.CharField(_("paid out by"), max_length=150, blank=True, db_index=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-id"]
        constraints = [
            # Full refunds only: a payment is refunded at most once (a failed refund may be retried).
            models.UniqueConstraint(fields=["payment"], condition=~Q(status="failed"), name="refund_once_per_payment"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no


class ProviderNotification(models.Model):
    """Every verified notification, once: a duplicate or replay finds its id here and does nothing."""

    provider = models.CharField(max_length=20)
    notification_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    reference = models.CharField(max_length=32, db_index=True)
    body = models.JSONField()
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name = _("provider notification")
        verbose_name_plural = _("provider notifications")
        constraints = [
            models.UniqueConstraint(fields=["provider", "notification_id"], name="notification_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.reference}"


class RunStatus(models.TextChoices):
    MATCHED = "matched", _("Matched")
    DIFFERENCES = "differences", _("Differences found")
    FAILED = "failed", _("Statement not available")


class ReconciliationRun(models.Model):
    """One provider's statement of one day compared with our ledger; a re-run replaces it."""

    provider = models.CharField(_("provider"), max_length=20)
    day = models.DateField(_("day"))
    status = models.CharField(_("status"), max_length=12, choices=RunStatus.choices)
    error = models.CharField(_("error"), max_length=200, blank=True)
    ran_at = models.DateTimeField(_("ran at"))
    runs = models.PositiveIntegerField(_("times run"), default=1)
    their_lines = models.PositiveIntegerField(_("statement lines"), default=0)
    their_paid_fen = models.BigIntegerField(_("paid per statement (fen)"), default=0)
    their_refunded_fen = models.BigIntegerField(_("refunded per statement (fen)"), default=0)
    our_lines = models.PositiveIntegerField(_("ledger lines"), default=0)
    our_paid_fen = models.BigIntegerField(_("paid per ledger (fen)"), default=0)
    our_refunded_fen = models.BigIntegerField(_("refunded per ledger (fen)"), default=0)
    difference_count = models.PositiveIntegerField(_("differences"), default=0)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-day", "provider"]
        constraints = [models.UniqueConstraint(fields=["provider", "day"], name="reconciliation_once_per_day")]

    def __str__(self) -> str:
        return f"{self.provider} {self.day}"


class DifferenceKind(models.TextChoices):
    MISSING_THERE = "missing_there", _("In our ledger, not in the statement")
    MISSING_HERE = "missing_here", _("In the statement, not in our ledger")
    AMOUNT = "amount", _("Amounts differ")
    STATUS = "status", _("Status differs")


class ReconciliationDifference(models.Model):
    run = models.ForeignKey(
        ReconciliationRun, models.CASCADE, related_name="differences", verbose_name=_("reconciliation")
    )
    kind = models.CharField(_("difference"), max_length=14, choices=DifferenceKind.choices)
    entry = models.CharField(_("entry"), max_length=10)  # payment or refund
    out_trade_no = models.CharField(_("order number"), max_length=32)
    out_refund_no = models.CharField(_("refund number"), max_length=32, blank=True)
    our_amount_fen = models.BigIntegerField(_("our amount (fen)"), null=True, blank=True)
    their_amount_fen = models.BigIntegerField(_("their amount (fen)"), null=True, blank=True)
    our_status = models.CharField(_("our status"), max_length=12, blank=True)
    their_status = models.CharField(_("their status"), max_length=12, blank=True)
    at = models.DateTimeField(_("time"), null=True, blank=True)
    hospital = models.ForeignKey(
        Hospital, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("hospital")
    )
    payment = models.ForeignKey(Payment, models.PROTECT, null=True, blank=True, related_name="+")
    refund = models.ForeignKey(Refund, models.PROTECT, null=True, blank=True, related_name="+")
    # Finance's word on it: what was done (a payment booked by hand, the bank asked, …), by whom
    # and when. Kept when the day is reconciled again and the difference is still there.
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    handled_by = models.CharField(_("handled by"), max_length=150, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("reconciliation difference")
        verbose_name_plural = _("reconciliation differences")
        ordering = ["run", "kind", "out_trade_no", "out_refund_no"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.out_refund_no or self.out_trade_no}"


def refunds_failed_standing(refunds: models.QuerySet[Refund]) -> models.QuerySet[Refund]:
    """Of ``refunds``, the failed ones still to handle: the last attempt for its payment (a
    retry is a later refund of the same payment, so an attempt retried is not counted again)."""
    later = Refund.objects.filter(payment_id=models.OuterRef("payment_id"), pk__gt=models.OuterRef("pk"))
    return refunds.filter(status=RefundStatus.FAILED).exclude(models.Exists(later))


class FailedRefund(Refund):
    """The staff queue of refunds that failed and wait for someone to act."""

    class Meta:
        proxy = True
        verbose_name = _("failed refund")
        verbose_name_plural = _("failed refunds (to handle)")
