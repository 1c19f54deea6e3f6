"""The console's orders (挂号单): found by phone, registration number, name or full ID number;
one order's page with its whole timeline; cancel (after the cutoff too, with a reason), refund,
check in, mark or undo a no-show; a printable registration slip; every list exportable.

Each action goes through a service that writes the order's event and the audit log under the
staff member's name; the console only asks for the reason and shows the outcome.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from guahao.accounts import idcard, staff
from guahao.booking import selectors
from guahao.booking import services as booking
from guahao.booking.models import Registration, RegistrationStatus
from guahao.console.base import ScopedAdmin, apply_each
from guahao.console.labels import event_label, yuan
from guahao.core import clock
from guahao.core.errors import NOT_FOUND
from guahao.core.problems import Problem
from guahao.his import outbox as his_outbox
from guahao.his.models import HisCall
from guahao.notifications.models import Message
from guahao.payments import services as payments
from guahao.payments.models import Payment, Refund

# The actions that need a reason, what they ask, and whether "the patient asked" is offered.
REASONED = {
    "cancel": (_("Cancel the registrations"), True),
    "mark_no_show": (_("Mark as no-show"), False),
    "undo_no_show": (_("Undo the no-show"), False),
    "refund": (_("Refund the payment"), False),
}
# The one-step actions as one order's page words them (the list's speak of "the selected").
ONE_ORDER = {"check_in": _("Check in"), "mark_visited": _("Mark visited"), "cancel": _("Cancel the registration")}


def visit_time(r: Registration) -> str:
    tz = ZoneInfo(r.hospital.timezone)
    return f"{r.period.starts_at.astimezone(tz):%H:%M}–{r.period.ends_at.astimezone(tz):%H:%M}"


class HospitalFilter(admin.SimpleListFilter):
    """The platform admin narrows by hospital; hospital staff have one and see no such filter."""

    title = _("hospital")
    parameter_name = "hospital"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, Any]]:
        from guahao.accounts.scope import staff_scope
        from guahao.catalog.models import Hospital

        if not staff_scope(request.user).is_platform:
            return []
        return [(h.pk, h.name) for h in Hospital.objects.order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(hospital_id=self.value()) if self.value() else queryset


FOUND = "guahao_found_person"  # the session key of the person last found by ID number


class PersonFilter(admin.SimpleListFilter):
    """The registrations of the person found by their full ID number. The number never goes into
    a URL (nor the browser's history, nor a log): it is posted, its keyed hash kept in the
    session, and the list asks for ``?person=found``."""

    title = _("patient found by ID number")
    parameter_name = "person"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("found", _("the person found"))] if request.session.get(FOUND) else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "found":
            return queryset.filter(person_hash__in=request.session.get(FOUND, []))
        return queryset


def find_by_id_number(request: HttpRequest, raw: str) -> bool:
    """Keep the keyed hash of a posted ID number for the list; False if it is no valid number."""
    parsed = idcard.parse(raw)
    if parsed is None:
        return False
    request.session[FOUND] = idcard.lookup_hashes(parsed.number)
    return True


class HisRefusedFilter(admin.SimpleListFilter):
    """The registrations the HIS refused (号源冲突): staff move each or cancel it with a refund."""

    title = _("HIS")
    parameter_name = "his"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("refused", _("Refused by the HIS"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "refused":
            return queryset.filter(pk__in=his_outbox.registrations_refused())
        return queryset


@admin.register(Registration)
class RegistrationAdmin(ScopedAdmin):
    list_display = [
        "registration_number",
        "status",
        "visit_date",
        "time",
        "department",
        "doctor",
        "slot_number",
        "patient_name",
        "id_masked",
        "fee",
        "method",
        "booked_at",
    ]
    list_filter = [PersonFilter, HospitalFilter, HisRefusedFilter, "status", "visit_date", "department"]
    change_list_template = "console/registration_changelist.html"
    search_fields = ["registration_number"]  # the search box; what it finds: get_search_results
    search_help_text = _("Phone, registration number, name or full ID number")
    list_select_related = ["hospital", "department", "doctor", "patient", "period", "payment"]
    actions = ["cancel", "check_in", "mark_visited", "mark_no_show", "undo_no_show", "refund"]
    date_hierarchy = "visit_date"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_refund_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Money back without a cancellation (checked in, visited, a no-show)."""
        return self.has_change_permission(request, obj) and request.user.has_perm("booking.refund_registration")

    def has_attendance_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A visit's outcome: visited, no-show, and undoing a no-show (which lifts a bar)."""
        return self.has_change_permission(request, obj) and request.user.has_perm("booking.attendance_registration")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return selectors.registrations_find(queryset, search_term), False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        """A full ID number is looked up from a post (the form above the list), or moved out of
        a search typed into the box, so the list's URL carries ``person=found`` instead."""
        url = reverse("admin:booking_registration_changelist")
        if request.method == "POST" and "id_number" in request.POST:
            if find_by_id_number(request, request.POST["id_number"]):
                return HttpResponseRedirect(f"{url}?person=found")
            messages.error(request, _("This is not a valid ID number."))
            return HttpResponseRedirect(url)
        typed = request.GET.get("q", "")
        if typed and idcard.parse(typed.strip()) is not None and find_by_id_number(request, typed.strip()):
            return HttpResponseRedirect(f"{url}?person=found")
        return super().changelist_view(request, extra_context)

    # --- columns -------------------------------------------------------------------------------

    @admin.display(description=_("time"))
    def time(self, obj: Registration) -> str:
        return visit_time(obj)

    @admin.display(description=_("patient"), ordering="patient__name")
    def patient_name(self, obj: Registration) -> str:
        return obj.patient.name

    @admin.display(description=_("ID number"))
    def id_masked(self, obj: Registration) -> str:
        return obj.patient.id_number_masked

    @admin.display(description=_("fee"))
    def fee(self, obj: Registration) -> str:
        return yuan(obj.fee_fen)

    @admin.display(description=_("payment method"))
    def method(self, obj: Registration) -> str:
        payment = getattr(obj, "payment", None)
        return payment.get_method_display() if payment is not None else str(_("no payment"))

    # --- one order -----------------------------------------------------------------------------

    def get_urls(self) -> list:
        slip = self.admin_site.admin_view(self.slip_view)
        move = self.admin_site.admin_view(self.reschedule_view)
        return [
            path("<path:object_id>/slip/", slip, name="booking_registration_slip"),
            path("<path:object_id>/reschedule/", move, name="booking_registration_reschedule"),
            *super().get_urls(),
        ]

    def _order(self, request: HttpRequest, object_id: str) -> Registration:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """The order's page: what was booked, by whom, its money and its timeline, with the
        actions the staff member's role allows (each asks for the reason)."""
        if request.method != "GET":
            raise PermissionDenied  # nothing is edited here: the actions below post to the list
        order = self._order(request, object_id)
        payment = Payment.objects.filter(registration=order).first()
        may_change = self.has_change_permission(request, order)
        attendance = self.has_attendance_permission(request, order)
        offered = []
        if may_change:
            if order.status == RegistrationStatus.BOOKED:
                # Checked in on the visit's day; a no-show from that day on (the service says when).
                today = clock.local_today(order.hospital.timezone)
                offered += ["check_in"] if order.visit_date == today else []
                offered += ["cancel"] + (["mark_no_show"] if order.visit_date <= today and attendance else [])
            if order.status == RegistrationStatus.CHECKED_IN and attendance:
                offered += ["mark_visited"]
            if order.status == RegistrationStatus.NO_SHOW and attendance:
                offered += ["undo_no_show"]
            if payment is not None and order.status in ("checked_in", "visited", "no_show"):
                if self.has_refund_permission(request, order) and not payment.refunds.exclude(status="failed").exists():
                    offered += ["refund"]
        deadline = selectors.patient_cancel_window(order)[0]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Registration %(number)s") % {"number": order.registration_number},
            "opts": self.opts,
            "order": order,
            "time": visit_time(order),
            "fee": yuan(order.fee_fen),
            "registration_fee": yuan(order.registration_fee_fen),
            "consultation_fee": yuan(order.consultation_fee_fen),
            "payment": payment,
            "payment_amount": yuan(payment.amount_fen) if payment else "",
            "refunds": [(r, yuan(r.amount_fen)) for r in Refund.objects.filter(payment__registration=order)],
            "timeline": order_timeline(order),
            "bars": order.bars.all(),
            "cutoff": deadline,
            "cutoff_passed": clock.now() >= deadline,  # whatever became of the order since
            "offered": offered,
            "reasoned": {name: ONE_ORDER.get(name, REASONED[name][0]) for name in offered if name in REASONED},
            "plain": {name: ONE_ORDER[name] for name in offered if name not in REASONED},
            "changelist": reverse("admin:booking_registration_changelist"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "slip_url": reverse("admin:booking_registration_slip", args=[order.pk]),
            "reschedule_url": (
                reverse("admin:booking_registration_reschedule", args=[order.pk])
                if may_change and order.status == RegistrationStatus.BOOKED
                else ""
            ),
        }
        return TemplateResponse(request, "console/order.html", context)

    def reschedule_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """改约 at the patient's request: the department's clinics with a free slot of the order's
        pool, and the move to the one chosen (with a reason after the patient's cutoff)."""
        order = self._order(request, object_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        reason = request.POST.get("reason", "").strip()
        if request.method == "POST":
            schedule = selectors.reschedule_choices(order).filter(pk=_number(request.POST.get("schedule_id"))).first()
            try:
                if schedule is None:
                    raise NOT_FOUND.error(field="schedule_id")
                moved = payments.registration_reschedule(
                    registration=order, schedule=schedule, actor=booking.Actor.staff(request.user), reason=reason
                )
            except Problem as problem:
                messages.error(request, str(problem.as_dict()["detail"]))
            else:
                messages.success(
                    request,
                    _("Moved: the new registration is %(number)s.") % {"number": moved.registration_number},
                )
                return HttpResponseRedirect(reverse("admin:booking_registration_change", args=[moved.pk]))
        deadline, still_open = selectors.patient_cancel_window(order)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Move registration %(number)s") % {"number": order.registration_number},
            "opts": self.opts,
            "order": order,
            "time": visit_time(order),
            "fee": yuan(order.fee_fen),
            "choices": [
                (s, yuan(s.fee_fen)) for s in selectors.reschedule_choices(order).select_related("doctor")[:60]
            ],
            "reason": reason,
            "reason_required": not still_open,
            "order_url": reverse("admin:booking_registration_change", args=[order.pk]),
        }
        return TemplateResponse(request, "console/reschedule.html", context)

    def slip_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The registration slip (预约单) to print for a patient at the desk: print stylesheet."""
        order = self._order(request, object_id)
        payment = Payment.objects.filter(registration=order).first()
        # The patient's slip: in Chinese, the hospital's language, whatever the console's (?lang=en
        # prints it in English for a patient who reads that).
        language = "en" if request.GET.get("lang") == "en" else "zh-hans"
        with translation.override(language):
            context = {
                "order": order,
                "time": visit_time(order),
                "fee": yuan(order.fee_fen),
                "qr": booking.checkin_qr(order),
                "paid": " · ".join(x for x in (payment.get_method_display(), payment.collected_by) if x)
                if payment
                else "",
                "language": language,
            }
            return TemplateResponse(request, "console/slip.html", context).render()

    # --- actions -------------------------------------------------------------------------------

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> Any:
        """An action taken from one order's page goes back to that page, with what it did."""
        response = super().response_action(request, queryset)
        order_id = request.POST.get("from_order")
        if order_id and isinstance(response, HttpResponseRedirect) and order_id.isdigit():
            return HttpResponseRedirect(reverse("admin:booking_registration_change", args=[int(order_id)]))
        return response

    def _with_reason(self, request: HttpRequest, queryset: QuerySet, name: str, act: Any, done: str) -> Any:
        """Ask for the reason (and, for a cancellation, whether the patient asked for it); with
        it, act on each row and say what each refused."""
        reason = request.POST.get("reason", "").strip()
        error: Any = ""
        if request.POST.get("apply"):
            if reason:
                asked = request.POST.get("patient_asked") == "yes"
                apply_each(self, request, queryset, lambda r: act(r, reason, asked), done)
                return None
            error = _("Give a reason: it is kept in the order's audit trail.")
        title, ask_patient = REASONED[name]
        chosen = list(queryset.select_related("patient", "department"))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "rows": [
                f"{r.registration_number} · {r.patient.name} · {r.department.name} · {r.visit_date:%Y-%m-%d} · "
                f"{r.get_status_display()}"
                for r in chosen
            ],
            "chosen": [r.pk for r in chosen],
            "action": name,
            "field": "reason",
            "note": reason,
            "label": _("Reason (kept in the order's audit trail)"),
            "error": error,
            "ask_patient": ask_patient,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "console/note.html", context)

    @admin.action(description=_("Cancel the selected registrations (and refund what was paid)"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> Any:
        actor = booking.Actor.staff(request.user)
        told = request.POST.get("tell_reason") == "yes"  # the patient's message quotes the reason
        till = staff.keeps_till(request.user)  # a window payment is handed back now by who keeps a till
        return self._with_reason(
            request,
            queryset,
            "cancel",
            lambda r, reason, asked: payments.registration_cancel(
                registration=r, actor=actor, reason=reason, patient_asked=asked, paid_back_here=till, reason_told=told
            ),
            str(_("Cancelled")),
        )

    @admin.action(description=_("Check in the selected registrations"), permissions=["change"])
    def check_in(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda r: booking.registration_check_in(registration=r, actor=actor),
            str(_("Checked in")),
        )

    @admin.action(description=_("Mark the selected registrations visited"), permissions=["attendance"])
    def mark_visited(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda r: booking.registration_mark_visited(registration=r, actor=actor),
            str(_("Marked visited")),
        )

    @admin.action(description=_("Mark the selected registrations as no-shows"), permissions=["attendance"])
    def mark_no_show(self, request: HttpRequest, queryset: QuerySet) -> Any:
        actor = booking.Actor.staff(request.user)
        return self._with_reason(
            request,
            queryset,
            "mark_no_show",
            lambda r, reason, asked: booking.registration_no_show_mark(registration=r, actor=actor, reason=reason),
            str(_("Marked as no-show")),
        )

    @admin.action(description=_("Undo the no-show of the selected registrations"), permissions=["attendance"])
    def undo_no_show(self, request: HttpRequest, queryset: QuerySet) -> Any:
        actor = booking.Actor.staff(request.user)
        return self._with_reason(
            request,
            queryset,
            "undo_no_show",
            lambda r, reason, asked: booking.registration_no_show_undo(registration=r, actor=actor, reason=reason),
            str(_("No-show undone")),
        )

    @admin.action(description=_("Refund the selected registrations' payments"), permissions=["refund"])
    def refund(self, request: HttpRequest, queryset: QuerySet) -> Any:
        actor = booking.Actor.staff(request.user)
        till = staff.keeps_till(request.user)  # a window payment is handed back now by who keeps a till
        return self._with_reason(
            request,
            queryset,
            "refund",
            lambda r, reason, asked: payments.registration_refund(
                registration=r, actor=actor, reason=reason, paid_back_here=till
            ),
            str(_("Refund started")),
        )


def _number(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1


def order_timeline(order: Registration) -> list[dict[str, Any]]:
    """Every event of one order, oldest first, worded for staff: the booking's own events (hold,
    confirmation, cancellation, check-in, no-show, staff actions), its payment and refunds, its
    HIS write-backs and the messages its patient was sent."""
    rows: list[dict[str, Any]] = []

    def add(at: Any, what: str, who: str, detail: str = "") -> None:
        if at is not None:
            rows.append({"at": at, "what": what, "who": who, "detail": detail})

    system, patient = str(_("system")), str(_("patient"))
    for e in selectors.registration_events(order):
        who = e.actor_id if e.actor_type == "staff" else patient if e.actor_type == "patient" else system
        detail = str(e.data.get("reason", "")) if e.data else ""
        if e.data.get("late"):
            detail = f"{_('late cancellation')} · {detail}"
        add(e.at, event_label(e.kind), who, detail)
    for p in Payment.objects.filter(Q(registration=order) | Q(hold_id=order.hold_id)).distinct():
        what = f"{p.get_method_display()} {yuan(p.amount_fen)}"
        if p.provider == payments.WINDOW:  # taken in one step, by the clerk at the window
            add(p.paid_at, event_label("payment.collected"), p.collected_by or system, f"{what} · {p.out_trade_no}")
        else:
            add(p.created_at, str(_("Payment started")), patient, what)
            add(p.paid_at, str(_("Paid")), system, f"{what} · {p.out_trade_no}")
        add(p.closed_at, str(_("Payment closed")), system, p.out_trade_no)
        for r in p.refunds.all():
            add(r.created_at, str(_("Refund opened")), system, f"{r.get_reason_display()} {yuan(r.amount_fen)}")
            if r.finished_at is not None:
                # The refund's own outcome (the registration's 已退费 is its own row), and who
                # handed it back when it was paid out at the window.
                done = str(_("Refund completed") if r.status == "succeeded" else r.get_status_display())
                add(r.finished_at, done, r.paid_out_by or system, r.failure or r.out_refund_no)
    for c in HisCall.objects.filter(Q(registration=order) | Q(hold_id=order.hold_id)).distinct():
        now = _("now: %(status)s") % {"status": c.get_status_display()}  # its state today, not then
        add(c.created_at, f"{_('HIS write-back')}: {c.get_kind_display()}", system, str(now))
        if c.done_at is not None:
            add(c.done_at, f"{_('HIS write-back done')}: {c.get_kind_display()}", system, c.ref)
        elif c.last_error:
            add(c.next_at, f"{_('HIS write-back failing')}: {c.get_kind_display()}", system, c.last_error)
    for m in Message.objects.filter(account_id=order.account_id, data__registration_number=order.registration_number):
        add(
            m.created_at,
            f"{_('Message to the patient')}: {event_label('message.' + m.kind)}",
            system,
            m.get_channel_display(),
        )
    rows.sort(key=lambda r: r["at"])
    return rows
