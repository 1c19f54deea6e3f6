"""Console pages for the waitlist (候补): each clinic's entries with where they stand, the draws of
a random order with what anyone needs to redo them, every entry's events, and removing an entry
with a reason (the patient reads it; the entry's events name the staff member).

Removing goes through ``waitlist.services.entry_leave``, as a patient leaving does: the place is
given back, an offer's slot passes to the next patient, a prepayment is refunded.
"""

from __future__ import annotations

import random
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from unfold.admin import TabularInline

from guahao.console.base import ReadOnlyAdmin, apply_each
from guahao.core.amounts import yuan_shown
from guahao.scheduling.rules import rules_for_schedule, waitlist_deadline
from guahao.waitlist import services as waitlist
from guahao.waitlist.models import EntryMode, EntryStatus, WaitlistDraw, WaitlistEntry, WaitlistEvent

REMOVED = "waitlist.removed"


def _redo(draw: WaitlistDraw) -> str:
    """The draw again, from what was recorded: the same seed and candidates give the same entry."""
    return str(random.Random(int(draw.seed)).choice(draw.candidates))  # noqa: S311 - a reproducible draw


def _status(code: str) -> str:
    return str(EntryStatus(code).label) if code in EntryStatus.values else code


# What each waitlist event records, as staff read it (the code stays in the column's filter).
EVENT_LABELS = {
    "joined": pgettext_lazy("waitlist entries", "Joined"),
    "paid": _("Paid in advance"),
    "offered": _("Slot offered"),
    "booked": _("Booked from the waitlist"),
    "lottery.entered": _("Entered the draw"),
    "lottery.to_waitlist": _("Not drawn: on the waitlist"),
}
# Why an entry ended, as staff read it where the patient's own wording speaks to the patient.
STAFF_REASONS = {"waitlist.left": _("the patient left the waitlist")}
# Details of an event, by their names in the record.
DETAIL_LABELS = {
    "hold_id": _("hold"),
    "slot_number": _("visit number"),
    "registration_id": _("registration"),
    "mode": _("waitlist mode"),
    "order": _("order"),
    "note": _("note"),
}


def reason_for_staff(code: str, note: str = "") -> str:
    """Why an entry ended, worded for staff, the code after it (as recorded, for a search)."""
    if not code:
        return ""
    worded = STAFF_REASONS.get(code) or waitlist.REASONS.get(code)
    text = str(worded) if worded is not None else code
    if note and code == REMOVED:
        text += f": {note}"
    return f"{text} ({code})"


class EventColumns:
    """An event's change of status and its details, readable in the staff member's language."""

    @admin.display(description=_("event"), ordering="kind")
    def what(self, obj: WaitlistEvent) -> str:
        if obj.kind.startswith("ended."):
            return str(_("Ended"))
        return str(EVENT_LABELS.get(obj.kind, obj.kind))

    @admin.display(description=_("status change"))
    def change(self, obj: WaitlistEvent) -> str:
        if not obj.from_status:
            return _status(obj.to_status)
        return f"{_status(obj.from_status)} → {_status(obj.to_status)}"

    @admin.display(description=_("details"))
    def details(self, obj: WaitlistEvent) -> str:
        data = {k: v for k, v in obj.data.items() if v not in ("", None)}
        said = []
        if "reason" in data:
            said.append(reason_for_staff(str(data.pop("reason")), str(data.pop("note", ""))))
        for key, value in data.items():
            if key == "mode" and value in EntryMode.values:
                value = EntryMode(value).label
            said.append(f"{DETAIL_LABELS.get(key, key)}: {value}")
        return "; ".join(said)


class WaitlistEventInline(EventColumns, TabularInline):
    model = WaitlistEvent
    extra = 0
    can_delete = False
    fields = ["at", "what", "change", "actor", "details"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "schedule",
        "status",
        "patient_display",
        "joined_at",
        "how",
        "paid",
        "offer",
        "offer_expires_at",
        "reason",
        "ended_by",
    ]
    list_filter = ["status", "mode", "schedule", "hospital"]
    search_fields = ["patient__name", "schedule__doctor__name", "department__name"]
    list_select_related = ["schedule__department", "schedule__doctor", "patient", "payment", "hold__slot"]
    date_hierarchy = "joined_at"
    fields = [
        "schedule",
        "hospital",
        "department",
        "patient_display",
        "status",
        "standing",
        "how",
        "insurance",
        "joined_at",
        "closes_at",
        "payment",
        "paid_at",
        "hold",
        "offered_at",
        "offer_expires_at",
        "registration",
        "ended_at",
        "reason",
        "ended_by",
        "note",
    ]
    readonly_fields = fields
    inlines = [WaitlistEventInline]
    actions = ["remove"]

    @admin.display(description=_("patient"))
    def patient_display(self, obj: WaitlistEntry) -> str:
        return str(obj.patient)  # name and the ID number masked, as every console page shows them

    @admin.display(description=_("waitlist mode"), ordering="mode")
    def how(self, obj: WaitlistEntry) -> str:
        return obj.get_mode_display()

    @admin.display(description=_("prepayment"))
    def paid(self, obj: WaitlistEntry) -> str:
        """A prepayment: its amount and status (paid, refunded…); nothing for the other modes."""
        payment = obj.payment
        return "—" if payment is None else f"{yuan_shown(payment.amount_fen)} {payment.get_status_display()}"

    @admin.display(description=_("offer"))
    def offer(self, obj: WaitlistEntry) -> str:
        hold = obj.hold
        if hold is None:
            return "—"
        return str(_("number %(number)s (hold %(hold)s)")) % {"number": hold.slot.number, "hold": hold.pk}

    @admin.display(description=_("reason"))
    def reason(self, obj: WaitlistEntry) -> str:
        return reason_for_staff(obj.end_reason, obj.note)

    @admin.display(description=_("where it stands"))
    def standing(self, obj: WaitlistEntry) -> str:
        place = waitlist.standing(obj)
        if place.position is not None:
            return str(_("place %(n)s in the queue")) % {"n": place.position}
        if place.in_draw:
            return str(_("in the draw"))
        if obj.status == EntryStatus.WAITING:
            return str(_("not yet counted (the prepayment has not arrived)"))
        return "—"

    @admin.display(description=_("waitlist closes"))
    def closes_at(self, obj: WaitlistEntry) -> str:
        closes = waitlist_deadline(obj.schedule, rules_for_schedule(obj.schedule))
        return closes.astimezone(ZoneInfo(obj.schedule.hospital.timezone)).strftime("%Y-%m-%d %H:%M")

    @admin.action(description=_("Remove the selected entries from the waitlist…"), permissions=["act"])
    def remove(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """Asks for the reason first (the patient reads it); then each entry ends as if its patient left."""
        chosen = list(queryset.select_related("schedule__department", "schedule__doctor", "patient"))
        reason = request.POST.get("reason", "").strip()[:200]
        error = ""
        if request.POST.get("apply"):
            if reason:
                by = request.user.get_username()
                apply_each(
                    self,
                    request,
                    chosen,
                    lambda e: waitlist.entry_leave(entry=e, actor=by, reason=REMOVED, note=reason),
                    str(_("Removed from the waitlist")),
                )
                return None
            error = str(_("Give the reason: the patient reads it."))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Remove from the waitlist"),
            "opts": self.model._meta,
            "entries": chosen,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "reason": reason,
            "error": error,
        }
        return TemplateResponse(request, "console/waitlist_remove.html", context)


@admin.register(WaitlistDraw)
class WaitlistDrawAdmin(ReadOnlyAdmin):
    hospital_path = "schedule__hospital"
    list_display = ["at", "schedule", "seed", "candidates", "chosen_entry", "redo"]
    list_filter = ["schedule"]
    list_select_related = ["schedule__department", "schedule__doctor", "chosen"]
    fields = ["schedule", "at", "seed", "candidates", "chosen_entry", "redo"]
    readonly_fields = fields
    date_hierarchy = "at"

    @admin.display(description=_("chosen"))
    def chosen_entry(self, obj: WaitlistDraw) -> str:
        if obj.chosen is None:
            return "-"
        return f"{obj.chosen_id} ({obj.chosen.get_status_display()})"

    @admin.display(description=_("redo it from the seed"))
    def redo(self, obj: WaitlistDraw) -> str:
        if obj.ranking is not None:  # a lottery release's draw: the whole order
            order = sorted(obj.candidates)
            random.Random(int(obj.seed)).shuffle(order)  # noqa: S311 - redoing a recorded draw
            verdict = _("the same order") if order == obj.ranking else _("NOT the order drawn")
            code = f"random.Random({obj.seed}).shuffle({sorted(obj.candidates)}) = {order}"
            return format_html("<code>{}</code> ({})", code, verdict)
        again = _redo(obj)
        verdict = _("the same entry") if again == str(obj.chosen_id) else _("NOT the entry chosen")
        code = f"random.Random({obj.seed}).choice({obj.candidates}) = {again}"
        return format_html("<code>{}</code> ({})", code, verdict)


@admin.register(WaitlistEvent)
class WaitlistEventAdmin(EventColumns, ReadOnlyAdmin):
    hospital_path = "entry__hospital"
    list_display = ["at", "entry_number", "what", "change", "actor", "details"]
    fields = ["at", "entry", "what", "change", "actor", "details"]
    readonly_fields = fields

    @admin.display(description=_("waitlist entry"), ordering="entry_id")
    def entry_number(self, obj: WaitlistEvent) -> int:
        return obj.entry_id

    list_filter = ["kind"]
    search_fields = ["actor", "kind"]
    list_select_related = ["entry"]
    date_hierarchy = "at"
