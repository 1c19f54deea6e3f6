"""Console pages for money: payments, refunds (with the queue of failed ones), and the daily
reconciliation with each provider.

Retrying a refund goes through the payment services, which write it into the order's audit
trail with the staff member's name. Reconciliation is the platform's: hospital staff see only
the differences that concern their hospital.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Q, QuerySet, Sum
from django.forms import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.utils import parse_date_str

from guahao.accounts import idcard, staff
from guahao.accounts.scope import PLATFORM
from guahao.booking import selectors as booking_selectors
from guahao.booking import services as booking
from guahao.booking.models import Registration
from guahao.console import exports
from guahao.console.base import ReadOnlyAdmin, apply_each
from guahao.core import clock
from guahao.core.amounts import yuan_shown
from guahao.payments import reconciliation
from guahao.payments import services as payments
from guahao.payments.models import (
    FailedRefund,
    Payment,
    PaymentStatus,
    ReconciliationDifference,
    ReconciliationRun,
    Refund,
    RefundStatus,
    refunds_failed_standing,
)


def _yuan(fen: int | None) -> str:
    return yuan_shown(fen)


def _today() -> str:
    return clock.local_today(settings.TIME_ZONE).isoformat()


def _csv_response(text: str, name: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class DayRange(RangeDateFilter):
    """From one day to another, both included, by the day on the console's clock of a time (a
    payment paid at 23:30 on the 5th is the 5th's, though it is the 5th at 15:30 UTC)."""

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        bounds = {}
        for end, lookup in (("_from", "gte"), ("_to", "lte")):
            value = self.used_parameters.get(f"{self.parameter_name}{end}")
            if isinstance(value, str) and value:
                bounds[f"{self.parameter_name}__date__{lookup}"] = parse_date_str(value)
        try:
            return queryset.filter(**bounds)
        except (ValueError, ValidationError):
            return None


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "out_trade_no",
        "status",
        "amount",
        "method",
        "where",
        "insurance",
        "registration",
        "hospital",
        "created_at",
        "paid_at",
        "refunded",
    ]
    # Finance's day is the day the money came: paid from one day to another (the statement's days).
    list_filter = ["hospital", "status", "method", "provider", "insurance", ("paid_at", DayRange)]
    list_filter_submit = True
    search_fields = ["out_trade_no", "transaction_id", "registration__registration_number"]
    search_help_text = _("Order or transaction number, registration number, phone or name")
    list_select_related = ["registration", "hospital"]
    date_hierarchy = "created_at"

    def export_columns(self, request: HttpRequest) -> list[str]:
        """The page's columns and the provider's transaction number, what the provider's
        statement and the bank name a payment by."""
        columns = super().export_columns(request)
        columns.insert(columns.index("out_trade_no") + 1, "transaction_id")
        return columns

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """The numbers of the payment, or the person it was for by phone or name, as the
        registrations' search finds them. An ID number is looked up on the registrations' page,
        which keeps it out of the address."""
        term = search_term.strip()
        if not term:
            return queryset, False
        numbers, _duplicates = super().get_search_results(request, queryset, term)
        if idcard.parse(term) is not None:
            return numbers, False
        people = booking_selectors.registrations_find(Registration.objects.all(), term).values("pk")
        return queryset.filter(Q(pk__in=numbers.values("pk")) | Q(registration__in=people)), False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A paid payment stays paid (the money came); what went back is beside it.
        done = Q(refunds__status=RefundStatus.SUCCEEDED)
        return super().get_queryset(request).annotate(refunded_fen=Sum("refunds__amount_fen", filter=done))

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj: Payment) -> str:
        return _yuan(obj.amount_fen)

    @admin.display(description=_("where paid"), ordering="provider")
    def where(self, obj: Payment) -> str:
        """Online, or at the window with who took it (its till): a card at the window is not an
        online card payment."""
        if obj.provider == payments.WINDOW:
            return f"{_('At the window')} · {obj.collected_by}"
        return str(_("Online"))

    @admin.display(description=_("refunded"), ordering="refunded_fen")
    def refunded(self, obj: Payment) -> str:
        fen = getattr(obj, "refunded_fen", None)
        return _yuan(fen) if fen else "—"


class RefundAdmin(ReadOnlyAdmin):
    hospital_path = "payment__hospital"
    list_display = [
        "out_refund_no",
        "status",
        "reason",
        "amount",
        "failure",
        "registration_number",
        "patient_name",
        "payment",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "reason"]
    search_fields = ["out_refund_no", "payment__out_trade_no", "payment__registration__registration_number"]
    list_select_related = ["payment__registration__patient"]
    date_hierarchy = "created_at"
    actions = ["retry", "pay_out"]

    @admin.display(description=_("registration number"), ordering="payment__registration__registration_number")
    def registration_number(self, obj: Refund) -> str:
        registration = obj.payment.registration
        return registration.registration_number if registration is not None else "—"

    @admin.display(description=_("patient"))
    def patient_name(self, obj: Refund) -> str:
        registration = obj.payment.registration
        return str(registration.patient) if registration is not None else "—"  # masked, as on every page

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj: Refund) -> str:
        return _yuan(obj.amount_fen)

    def has_pay_out_permission(self, request: HttpRequest) -> bool:
        """Who takes money at the window pays it back there (window clerks, from their till)."""
        return staff.keeps_till(request.user)

    @admin.action(
        description=_("Pay the selected window refunds back at the window (your till)"), permissions=["pay_out"]
    )
    def pay_out(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Money taken at the window goes back there: a refund of a window payment the patient
        started online waits (pending) until a staff member pays it out from their till."""
        actor = booking.Actor.staff(request.user)
        apply_each(
            self, request, queryset, lambda r: payments.refund_pay_out(refund=r, actor=actor), str(_("Paid out"))
        )

    @admin.action(description=_("Try the selected failed refunds again"), permissions=["act"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self, request, queryset, lambda r: payments.refund_retry(refund=r, actor=actor), str(_("Sent again"))
        )


admin.site.register(Refund, RefundAdmin)


@admin.register(FailedRefund)
class FailedRefundAdmin(RefundAdmin):
    """The staff queue: failed refunds whose payment has no other refund under way or done."""

    list_filter = ["reason"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return refunds_failed_standing(super().get_queryset(request))


class DifferenceColumns:
    """A difference as finance reads it: what kind of line, our state worded, amounts in 元,
    and the order it belongs to, one click away."""

    @admin.display(description=_("entry"), ordering="entry")
    def entry_shown(self, obj: ReconciliationDifference) -> str:
        return str({"payment": _("payment"), "refund": _("refund")}.get(obj.entry, obj.entry))

    @admin.display(description=_("our status"), ordering="our_status")
    def our_status_shown(self, obj: ReconciliationDifference) -> str:
        states = dict(RefundStatus.choices if obj.entry == "refund" else PaymentStatus.choices)
        return str(states.get(obj.our_status, obj.our_status))

    @admin.display(description=_("our amount"))
    def ours(self, obj: ReconciliationDifference) -> str:
        return _yuan(obj.our_amount_fen)

    @admin.display(description=_("their amount"))
    def theirs(self, obj: ReconciliationDifference) -> str:
        return _yuan(obj.their_amount_fen)

    @admin.display(description=_("registration"))
    def order(self, obj: ReconciliationDifference) -> str:
        payment = obj.payment
        registration = payment.registration if payment is not None else None
        if registration is None:
            return "—"
        url = reverse("admin:booking_registration_change", args=[registration.pk])
        return format_html('<a href="{}">{}</a>', url, registration.registration_number)

    @admin.display(description=_("handled"), ordering="handled_at")
    def handled(self, obj: ReconciliationDifference) -> str:
        """Who handled it, when (the hospital's clock) and what they did; or that it waits."""
        if obj.handled_at is None:
            return str(_("To handle"))
        return f"{obj.handled_by} · {exports.moment(obj.handled_at)} · {obj.note}"


DIFFERENCE_FIELDS = ["kind", "entry_shown", "out_trade_no", "out_refund_no", "ours", "theirs"]
DIFFERENCE_FIELDS += ["our_status_shown", "their_status", "at", "hospital", "order", "handled"]


class HandledFilter(admin.SimpleListFilter):
    title = _("handled")
    parameter_name = "handled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("To handle")), ("yes", _("Handled"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(handled_at__isnull=self.value() == "no")
        return queryset


class DifferenceInline(DifferenceColumns, TabularInline):
    model = ReconciliationDifference
    extra = 0
    can_delete = False
    fields = DIFFERENCE_FIELDS
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["day", "provider", "status", "their_lines", "our_lines", "paid", "refunded", "difference_count"]
    list_display += ["ran_at", "runs"]
    list_filter = ["status", "provider"]
    date_hierarchy = "day"
    inlines = [DifferenceInline]
    actions = ["run_again", "export_csv"]
    # A run covers every hospital paid through the provider: the platform's. Hospital staff
    # read their own hospital's differences (the next page).
    hospital_path = PLATFORM

    @admin.display(description=_("paid (statement / ours)"))
    def paid(self, obj: ReconciliationRun) -> str:
        return f"{_yuan(obj.their_paid_fen)} / {_yuan(obj.our_paid_fen)}"

    @admin.display(description=_("refunded (statement / ours)"))
    def refunded(self, obj: ReconciliationRun) -> str:
        return f"{_yuan(obj.their_refunded_fen)} / {_yuan(obj.our_refunded_fen)}"

    @admin.action(description=_("Reconcile the selected days again"), permissions=["act"])
    def run_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        apply_each(
            self,
            request,
            queryset,
            lambda run: reconciliation.reconcile(provider_name=run.provider, day=run.day),
            str(_("Reconciled")),
        )

    @admin.action(description=_("Export the differences as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        rows = ReconciliationDifference.objects.filter(run__in=queryset).select_related("run", "hospital")
        return _csv_response(reconciliation.differences_csv(rows), f"reconciliation-{_today()}.csv")


@admin.register(ReconciliationDifference)
class ReconciliationDifferenceAdmin(DifferenceColumns, ReadOnlyAdmin):
    list_display = ["run", *DIFFERENCE_FIELDS]
    list_filter = [HandledFilter, "kind", "entry", "run__provider", "run__day"]
    search_fields = ["out_trade_no", "out_refund_no"]
    list_select_related = ["run", "hospital", "payment__registration"]
    actions = ["handle", "export_csv"]

    @admin.action(description=_("Mark the selected differences handled (say what was done)"), permissions=["act"])
    def handle(self, request: HttpRequest, queryset: QuerySet) -> Any:
        """Ask what was done; with it, mark each difference handled (audited) and say what each refused."""
        note = request.POST.get("note", "").strip()
        error: Any = ""
        if request.POST.get("apply"):
            if note:
                actor = request.user.get_username()
                apply_each(
                    self,
                    request,
                    queryset,
                    lambda d: reconciliation.difference_handle(difference=d, actor=actor, note=note),
                    str(_("Marked handled")),
                )
                return None
            error = _("Say what was done about it: the note is kept with the difference")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Mark handled"),
            "opts": self.opts,
            "rows": [str(d) for d in queryset],
            "chosen": [d.pk for d in queryset],
            "action": "handle",
            "note": note,
            "label": _("What was done (kept with the difference and in the audit log)"),
            "error": error,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "console/note.html", context)

    @admin.action(description=_("Export the selected differences as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        rows = queryset.select_related("run", "hospital")
        return _csv_response(reconciliation.differences_csv(rows), f"differences-{_today()}.csv")
