"""Console page of the relief slots (救济): who asked for an extra slot for which patient and why,
who decided; a hospital admin other than the asker approves (the slot is booked) or refuses."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from guahao.booking import services as booking
from guahao.booking.models import ReliefGrant
from guahao.console.base import ReadOnlyAdmin, apply_each


@admin.register(ReliefGrant)
class ReliefGrantAdmin(ReadOnlyAdmin):
    list_display = [
        "requested_at",
        "schedule",
        "patient_name",
        "id_masked",
        "reason",
        "status",
        "requested_by",
        "decided_by",
        "registration",
    ]
    list_filter = ["status", "hospital"]
    list_select_related = ["schedule__department", "schedule__doctor", "patient", "registration"]
    date_hierarchy = "requested_at"
    fields = [
        "requested_at",
        "hospital",
        "schedule",
        "patient_name",
        "id_masked",
        "reason",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
        "note",
        "registration",
    ]
    readonly_fields = fields
    actions = ["approve", "refuse"]

    @admin.display(description=_("patient"))
    def patient_name(self, obj: ReliefGrant) -> str:
        return obj.patient.name

    @admin.display(description=_("ID number"))
    def id_masked(self, obj: ReliefGrant) -> str:
        return obj.patient.id_number_masked

    @admin.action(description=_("Approve the selected relief slots (they are booked)"), permissions=["act"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda g: booking.relief_decide(grant=g, actor=actor, approve=True),
            str(_("Approved")),
        )

    @admin.action(description=_("Refuse the selected relief slots"), permissions=["act"])
    def refuse(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda g: booking.relief_decide(grant=g, actor=actor, approve=False),
            str(_("Refused")),
        )
