"""Console page of patients' ratings of doctors: each waits for review; staff of the hospital
(operators, hospital admins) publish it to the doctor's page or reject it, audited."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from guahao.booking import services as booking
from guahao.booking.models import Rating
from guahao.booking.selectors import masked_name
from guahao.console.base import ReadOnlyAdmin, apply_each


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "doctor", "score", "comment", "shown_as", "status", "decided_by", "registration"]
    list_filter = ["status", "score", "hospital"]
    list_select_related = ["doctor", "patient", "registration"]
    search_fields = ["doctor__name", "registration__registration_number", "comment"]
    search_help_text = _("Doctor, registration number or comment")
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "hospital",
        "doctor",
        "registration",
        "shown_as",
        "score",
        "comment",
        "status",
        "decided_by",
        "decided_at",
        "note",
    ]
    readonly_fields = fields
    actions = ["publish", "reject"]

    @admin.display(description=_("shown as"))
    def shown_as(self, obj: Rating) -> str:
        return masked_name(obj.patient.name)

    @admin.action(description=_("Publish the selected ratings on the doctors' pages"), permissions=["act"])
    def publish(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda r: booking.rating_review(rating=r, actor=actor, publish=True),
            str(_("Published")),
        )

    @admin.action(description=_("Reject the selected ratings (never shown)"), permissions=["act"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(
            self,
            request,
            queryset,
            lambda r: booking.rating_review(rating=r, actor=actor, publish=False),
            str(_("Rejected")),
        )
