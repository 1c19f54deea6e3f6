"""The hospital console: catalog, schedules, rules, registrations, blacklist (payments and
reconciliation in console/payments.py).

Hospital staff see and change only their own hospital; platform staff see all. An action that
changes something is offered only to staff who may change that kind of row. Actions on
registrations go through the booking services, which write an event naming the staff member.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from guahao.accounts import idcard
from guahao.accounts.models import Account, Consent, Patient
from guahao.accounts.scope import PLATFORM
from guahao.booking import services as booking
from guahao.booking.models import BlacklistEntry, BookingEvent, Hold
from guahao.catalog import services as catalog
from guahao.catalog.models import Campus, Department, Doctor, Fee, Hospital
from guahao.console import audit as _audit  # noqa: F401 - registers the audit log
from guahao.console import his as _his  # noqa: F401 - registers the HIS pages
from guahao.console import kiosks as _kiosks  # noqa: F401 - registers the kiosk devices
from guahao.console import notifications as _notifications  # noqa: F401 - registers the message pages
from guahao.console import orders as _orders  # noqa: F401 - registers the orders
from guahao.console import payments as _payments  # noqa: F401 - registers the payment pages
from guahao.console import ratings as _ratings  # noqa: F401 - registers the patients' ratings
from guahao.console import relief as _relief  # noqa: F401 - registers the relief slots
from guahao.console import risk as _risk  # noqa: F401 - registers the suspected requests
from guahao.console import schedules as _schedules  # noqa: F401 - registers the schedule pages
from guahao.console import staff as _staff  # noqa: F401 - registers the staff access pages
from guahao.console import waitlist as _waitlist  # noqa: F401 - registers the waitlist pages
from guahao.console.base import ReadOnlyAdmin, ScopedAdmin, apply_each, is_platform_staff
from guahao.console.labels import event_label, yuan
from guahao.core import clock
from guahao.scheduling.models import RuleSet
from guahao.scheduling.rules import DEFAULTS, Rules, rules_for


class CampusInline(TabularInline):
    model = Campus
    extra = 0


class FeeForm(forms.ModelForm):
    """A fee typed in 元 (12.50), kept in fen (1250)."""

    registration_fee = forms.DecimalField(label=_("registration fee"), min_value=0, max_digits=8, decimal_places=2)
    consultation_fee = forms.DecimalField(label=_("consultation fee"), min_value=0, max_digits=8, decimal_places=2)

    class Meta:
        model = Fee
        fields = ["title"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("registration_fee", "consultation_fee"):
            fen = getattr(self.instance, f"{name}_fen") or 0
            self.fields[name].initial = (Decimal(fen) / 100).quantize(Decimal("0.01"))

    def save(self, commit: bool = True) -> Any:
        for name in ("registration_fee", "consultation_fee"):
            setattr(self.instance, f"{name}_fen", int(self.cleaned_data[name] * 100))
        return super().save(commit)


class FeeInline(TabularInline):
    model = Fee
    form = FeeForm
    fields = ["title", "registration_fee", "consultation_fee"]
    extra = 0


@admin.register(Hospital)
class HospitalAdmin(ScopedAdmin):
    hospital_path = "pk"
    list_display = ["name", "code", "grade", "is_active"]
    search_fields = ["name", "code"]
    inlines = [CampusInline, FeeInline]

    # Hospitals themselves (which patients then see) are the platform admin's to add or remove,
    # and so is what a hospital is to the platform: its code, names, grade, clock and being open.
    # Its own staff keep its address, phone, booking notices, campuses and fees up to date.
    PLATFORM_FIELDS = ("code", "name", "name_en", "grade", "timezone", "is_active")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        return fields if is_platform_staff(request) else (*fields, *self.PLATFORM_FIELDS)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_platform_staff(request) and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_staff(request) and super().has_delete_permission(request, obj)


@admin.register(Department)
class DepartmentAdmin(ScopedAdmin):
    list_display = ["name", "parent", "level", "hospital", "location", "patient_sex", "age_from", "age_under"]
    list_filter = ["hospital", "level"]
    search_fields = ["name", "pinyin_initials"]
    readonly_fields = ["level", "pinyin_initials"]

    def save_model(self, request: HttpRequest, obj: Department, form: Any, change: bool) -> None:
        catalog.department_fill(obj)
        super().save_model(request, obj, form, change)


@admin.register(Doctor)
class DoctorAdmin(ScopedAdmin):
    list_display = ["name", "title", "department", "hospital", "is_active"]
    list_filter = ["hospital", "title"]
    search_fields = ["name", "pinyin_initials", "specialty"]
    readonly_fields = ["pinyin", "pinyin_initials"]

    def save_model(self, request: HttpRequest, obj: Doctor, form: Any, change: bool) -> None:
        catalog.doctor_fill(obj)
        super().save_model(request, obj, form, change)


@admin.register(RuleSet)
class RuleSetAdmin(ScopedAdmin):
    list_display = ["__str__", "hold_minutes", "days_ahead", "release_time", "payment_required", "medical_record_mode"]
    list_filter = ["hospital"]
    fieldsets = [
        (
            None,
            {
                "fields": ["hospital", "department", "doctor"],
                "description": _(
                    "A field left empty takes the value shown greyed in it: the hospital's rules, the "
                    "department's above, or the platform's default."
                ),
            },
        ),
        (_("Release"), {"fields": ["release_time", "days_ahead", "platform_share_percent", "phone_share_percent"]}),
        (_("Pools"), {"fields": ["pool_return_time", "pool_return"]}),
        (
            _("Holds and limits"),
            {
                "fields": [
                    "hold_minutes",
                    "max_active_holds",
                    "max_per_patient_department_day",
                    "max_per_account_hospital_day",
                ]
            },
        ),
        (_("Cancellation"), {"fields": ["cancel_policy", "cancel_hours_before"]}),
        (
            _("Blacklist"),
            {
                "fields": [
                    "blacklist_cancellations",
                    "blacklist_cancellation_days",
                    "blacklist_no_shows",
                    "blacklist_no_show_days",
                    "blacklist_days",
                    "late_cancel_counts_as",
                ]
            },
        ),
        (_("Records and payment"), {"fields": ["medical_record_mode", "payment_required"]}),
        (
            _("Waitlist"),
            {
                "fields": [
                    "waitlist_places",
                    "waitlist_order",
                    "waitlist_payment",
                    "waitlist_deadline_time",
                    "waitlist_confirm_minutes",
                ]
            },
        ),
        (
            _("A fair release"),
            {
                "fields": [
                    "lottery_seconds",
                    "risk_action",
                    "risk_holds_10min",
                    "risk_departments_hour",
                    "risk_accounts_per_client",
                    "risk_new_patient_minutes",
                ]
            },
        ),
    ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        inherited = self._inherited(request, obj)
        for name, field in form.base_fields.items():
            value = getattr(inherited, name, None)
            if value is None or isinstance(field.widget, forms.CheckboxInput):
                continue
            if isinstance(field.widget, forms.NullBooleanSelect):
                # Empty is not "unknown": it is what this rule set takes from above.
                said = _("Yes") if value else _("No")
                options: list[Any] = list(field.widget.choices)
                field.widget.choices = [("unknown", f"{_('as above')}: {said}"), *options[1:]]
                continue
            if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
                offered: list[Any] = list(field.choices)  # type: ignore[arg-type]
                shown = dict(offered).get(value, value)
                field.choices = [("", f"{_('as above')}: {shown}"), *[c for c in offered if c[0] != ""]]
                continue
            if not isinstance(field.widget, forms.widgets.Input):
                continue
            shown = value.strftime("%H:%M") if hasattr(value, "strftime") else value
            field.widget.attrs["placeholder"] = str(shown)
        return form

    def _inherited(self, request: HttpRequest, obj: RuleSet | None) -> Rules:
        """What an empty field of ``obj`` takes (a new rule set: the staff member's hospital's)."""
        if obj is None:
            hospital_id = self.scope(request).hospital_id
            hospital = Hospital.objects.filter(pk=hospital_id).first() if hospital_id else None
            return rules_for(hospital=hospital) if hospital is not None else DEFAULTS
        if obj.doctor_id is not None and obj.doctor is not None:
            return rules_for(hospital=obj.hospital, department=obj.doctor.department)
        if obj.department_id is not None and obj.department is not None:
            return rules_for(hospital=obj.hospital, department=obj.department.parent)
        return DEFAULTS


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["status", "visit_date", "department", "patient_name", "fee", "created_at", "expires_at"]
    list_filter = ["status", "visit_date"]
    list_select_related = ["department", "patient"]
    fields = ["status", "visit_date", "department", "schedule", "period", "fee", "payment_required"]
    fields += ["created_at", "expires_at", "ended_at"]
    readonly_fields = fields

    @admin.display(description=_("patient"))
    def patient_name(self, obj: Hold) -> str:
        return obj.patient.name

    @admin.display(description=_("fee"))
    def fee(self, obj: Hold) -> str:
        return yuan(obj.fee_fen)


@admin.register(BookingEvent)
class BookingEventAdmin(ReadOnlyAdmin):
    hospital_path = "registration__hospital"
    list_display = ["at", "what", "from_status", "to_status", "actor_type", "who", "registration"]
    list_filter = ["kind", "actor_type"]
    search_fields = ["registration__registration_number", "actor_id"]
    fields = ["at", "what", "from_status", "to_status", "actor_type", "who", "registration", "detail"]
    readonly_fields = fields

    @admin.display(description=_("staff member"))
    def who(self, obj: BookingEvent) -> str:
        return obj.actor_id if obj.actor_type == "staff" else ""  # a patient's account id is internal

    @admin.display(description=_("what"), ordering="kind")
    def what(self, obj: BookingEvent) -> str:
        return event_label(obj.kind)

    @admin.display(description=_("detail"))
    def detail(self, obj: BookingEvent) -> str:
        return str(obj.data.get("reason", "")) if obj.data else ""


class BarActive(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("In force")), ("no", _("Ended or lifted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        in_force = Q(lifted_at__isnull=True, ends_at__gt=clock.now())
        if self.value() == "yes":
            return queryset.filter(in_force)
        if self.value() == "no":
            return queryset.exclude(in_force)
        return queryset


class BlacklistForm(forms.ModelForm):
    class Meta:
        model = BlacklistEntry
        fields = ["hospital", "patient", "reason", "starts_at", "ends_at", "appeal"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The bar must end after it starts."))
        return data


@admin.register(BlacklistEntry)
class BlacklistAdmin(ScopedAdmin):
    """Who is barred, why (the cancellations and no-shows that caused it), until when; the
    patient's appeal, and lifting with a reason."""

    form = BlacklistForm
    list_display = [
        "patient_name",
        "id_masked",
        "reason",
        "count",
        "starts_at",
        "ends_at",
        "state",
        "lifted_by",
        "note",
    ]
    list_filter = [BarActive, "reason"]
    search_fields = ["patient__name"]
    list_select_related = ["patient"]
    actions = ["lift"]
    change_form_template = "console/blacklist_form.html"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        parsed = idcard.parse(search_term.strip()) if search_term.strip() else None
        if parsed is not None:
            return queryset.filter(person_hash__in=idcard.lookup_hashes(parsed.number)), False
        found, distinct = super().get_search_results(request, queryset, search_term)
        others = idcard.other_document_hashes(search_term.strip()) if search_term.strip() else []
        if others:  # a passport or permit number: the bars of that person too
            found = found | queryset.filter(person_hash__in=others)
        return found, distinct

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["hospital", "patient", "reason", "starts_at", "ends_at", "appeal"]
        # the appeal is edited in its own form below the causes (change_form_template)
        return ["patient_name", "id_masked", "reason", "count", "starts_at", "ends_at", "state", "set_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["patient_name", "id_masked", "reason", "count", "starts_at", "ends_at", "state", "set_by"]

    def save_model(self, request: HttpRequest, obj: BlacklistEntry, form: Any, change: bool) -> None:
        if change:
            return  # a bar changes only through its actions (lift, appeal)
        booking.blacklist_set(
            patient=form.cleaned_data["patient"],
            hospital=form.cleaned_data["hospital"],
            by=request.user.get_username(),
            starts_at=form.cleaned_data["starts_at"],
            ends_at=form.cleaned_data["ends_at"],
            appeal=form.cleaned_data.get("appeal", ""),
            entry=obj,
        )

    @admin.display(description=_("patient"), ordering="patient__name")
    def patient_name(self, obj: BlacklistEntry) -> str:
        return obj.patient.name

    @admin.display(description=_("ID number"))
    def id_masked(self, obj: BlacklistEntry) -> str:
        return obj.patient.id_number_masked

    @admin.display(description=_("state"))
    def state(self, obj: BlacklistEntry) -> str:
        if obj.lifted_at is not None:
            return str(_("Lifted"))
        return str(_("In force")) if obj.ends_at > clock.now() else str(_("Ended"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        entry = self.get_object(request, object_id)
        if entry is not None and request.method == "POST" and "appeal" in request.POST:
            if not self.has_change_permission(request, entry):
                raise PermissionDenied
            booking.blacklist_appeal_note(entry=entry, by=request.user.get_username(), appeal=request.POST["appeal"])
            self.message_user(request, _("The appeal is noted."), messages.SUCCESS)
            return HttpResponseRedirect(request.get_full_path())
        causes = []
        if entry is not None:
            for r in entry.causes.select_related("department", "schedule").order_by("visit_date"):
                kind = _("late cancellation") if r.late_cancel else r.get_status_display()
                if r.cancelled_by == "patient":
                    kind = _("cancelled by the patient")
                causes.append({"r": r, "kind": kind})
        extra = {**(extra_context or {}), "causes": causes, "entry": entry}
        extra["may_change"] = entry is not None and self.has_change_permission(request, entry)
        return super().change_view(request, object_id, form_url, extra)

    @admin.action(description=_("Lift the selected bars"), permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet) -> Any:
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("apply") and reason:
            by = request.user.get_username()
            apply_each(
                self, request, queryset, lambda e: booking.blacklist_lift(entry=e, by=by, note=reason), str(_("Lifted"))
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Lift the selected bars"),
            "opts": self.opts,
            "entries": list(queryset.select_related("patient")),
            "reason": reason,
            "error": _("Give a reason: it is kept on the bar and in the audit log.")
            if request.POST.get("apply")
            else "",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "console/blacklist_lift.html", context)


class ConsentInline(TabularInline):
    """The consents the patient (or a child's guardian) gave: read, never changed here."""

    model = Consent
    extra = 0
    fields = ["purpose", "text_version", "given_at", "given_by_guardian", "channel"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    inlines = [ConsentInline]
    # A hospital sees the patients who registered there (and may bar only those).
    hospital_path = "registrations__hospital"
    list_display = [
        "name",
        "id_type",
        "id_number_masked",
        "phone_masked",
        "gender",
        "birth_date",
        "relation",
        "account",
        "removed_at",
    ]
    search_fields = ["name"]
    # Personal data: shown masked only.
    exclude = ["id_number_encrypted", "id_number_hash", "phone_encrypted", "phone_hash"]
    readonly_fields = ["phone_masked"]


@admin.register(Account)
class AccountAdmin(ScopedAdmin):
    hospital_path = PLATFORM  # an account books at any hospital: the platform's
    list_display = ["__str__", "created_at", "is_active"]
    exclude = ["phone_encrypted", "phone_hash"]
    readonly_fields = ["phone_masked"]
