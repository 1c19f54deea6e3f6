"""The hospital console: catalog, schedules, rules, registrations, blacklist (payments and
reconciliation in console/payments.py).

Hospital staff see and change only their own hospital; platform staff see all. An action that
changes something is offered only to staff who may change that kind of row. Actions on
registrations go through the booking services, which write an event naming the staff member.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from guahao.accounts.models import Account, Patient
from guahao.accounts.scope import PLATFORM
from guahao.accounts.services import mask_phone
from guahao.booking import services as booking
from guahao.booking.models import BlacklistEntry, BookingEvent, Hold, Registration
from guahao.catalog import services as catalog
from guahao.catalog.models import Campus, Department, Doctor, Fee, Hospital
from guahao.console import his as _his  # noqa: F401 - registers the HIS pages
from guahao.console import payments as _payments  # noqa: F401 - registers the payment pages
from guahao.console import schedules as _schedules  # noqa: F401 - registers the schedule pages
from guahao.console import staff as _staff  # noqa: F401 - registers the staff access pages
from guahao.console import waitlist as _waitlist  # noqa: F401 - registers the waitlist pages
from guahao.console.base import ReadOnlyAdmin, ScopedAdmin, apply_each, is_platform_staff
from guahao.payments import services as payments
from guahao.scheduling.models import RuleSet


class CampusInline(TabularInline):
    model = Campus
    extra = 0


class FeeInline(TabularInline):
    model = Fee
    extra = 0


@admin.register(Hospital)
class HospitalAdmin(ScopedAdmin):
    hospital_path = "pk"
    list_display = ["name", "code", "grade", "is_active"]
    search_fields = ["name", "code"]
    inlines = [CampusInline, FeeInline]

    # Hospitals themselves (which patients then see) are the platform admin's to add or remove.
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_platform_staff(request) and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_staff(request) and super().has_delete_permission(request, obj)


@admin.register(Department)
class DepartmentAdmin(ScopedAdmin):
    list_display = ["name", "parent", "level", "hospital", "location"]
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
        (None, {"fields": ["hospital", "department", "doctor"]}),
        (_("Release"), {"fields": ["release_time", "days_ahead", "platform_share_percent"]}),
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
    ]


@admin.register(Registration)
class RegistrationAdmin(ScopedAdmin):
    list_display = [
        "registration_number",
        "status",
        "visit_date",
        "slot_number",
        "department",
        "doctor",
        "patient_display",
        "booked_at",
    ]
    list_filter = ["hospital", "status", "visit_date"]
    search_fields = ["registration_number", "patient__name"]
    list_select_related = ["department", "doctor", "patient"]
    actions = ["cancel", "check_in", "mark_visited"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    @admin.display(description=_("patient"))
    def patient_display(self, obj: Registration) -> str:
        return str(obj.patient)

    @admin.action(description=_("Cancel the selected registrations"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda r: payments.registration_cancel(registration=r, actor=actor),
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

    @admin.action(description=_("Mark the selected registrations visited"), permissions=["change"])
    def mark_visited(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda r: booking.registration_mark_visited(registration=r, actor=actor),
            str(_("Marked visited")),
        )


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "visit_date", "department", "patient", "created_at", "expires_at"]
    list_filter = ["hospital", "status"]
    list_select_related = ["department", "patient"]


@admin.register(BookingEvent)
class BookingEventAdmin(ReadOnlyAdmin):
    hospital_path = "registration__hospital"
    list_display = ["at", "kind", "from_status", "to_status", "actor_type", "actor_id", "registration", "hold"]
    list_filter = ["kind", "actor_type"]
    search_fields = ["registration__registration_number", "actor_id"]


@admin.register(BlacklistEntry)
class BlacklistAdmin(ScopedAdmin):
    list_display = ["patient", "hospital", "reason", "count", "starts_at", "ends_at", "lifted_at", "lifted_by"]
    list_filter = ["hospital", "reason"]
    readonly_fields = ["person_hash", "lifted_at", "lifted_by"]
    actions = ["lift"]

    @admin.action(description=_("Lift the selected bars"), permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        apply_each(self, request, queryset, lambda e: booking.blacklist_lift(entry=e, by=by), str(_("Lifted")))


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    # A hospital sees the patients who registered there (and may bar only those).
    hospital_path = "registrations__hospital"
    list_display = ["name", "id_number_masked", "phone_masked", "gender", "birth_date", "relation", "account"]
    search_fields = ["name"]
    exclude = ["id_number_encrypted", "id_number_hash", "phone"]  # personal data: shown masked only
    readonly_fields = ["phone_masked"]

    @admin.display(description=_("phone"))
    def phone_masked(self, obj: Patient) -> str:
        return mask_phone(obj.phone)


@admin.register(Account)
class AccountAdmin(ScopedAdmin):
    hospital_path = PLATFORM  # an account books at any hospital: the platform's
    list_display = ["__str__", "created_at", "is_active"]
    exclude = ["phone"]
