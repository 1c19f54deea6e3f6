"""Console page of the requests suspected to be scripts' (``booking.risk``): what each asked,
why it was suspected and what was done, so staff can check every decision."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from guahao.booking.models import RiskDecision
from guahao.console.base import ReadOnlyAdmin

REASON_LABELS = {
    "holds": _("many attempts in 10 minutes"),
    "departments": _("many departments in an hour"),
    "client": _("many accounts from one device or address"),
    "new_patient": _("patient added just before the release"),
}


@admin.register(RiskDecision)
class RiskDecisionAdmin(ReadOnlyAdmin):
    list_display = ["at", "schedule", "account", "asked", "why", "action", "client"]
    list_filter = ["action", "asked", "hospital"]
    search_fields = ["client"]
    list_select_related = ["schedule__department", "schedule__doctor", "account"]
    date_hierarchy = "at"
    fields = ["at", "hospital", "schedule", "account", "patient_id", "asked", "why", "action", "client"]
    readonly_fields = fields

    @admin.display(description=_("why"))
    def why(self, obj: RiskDecision) -> str:
        return "、".join(str(REASON_LABELS.get(r, r)) for r in obj.reasons)
