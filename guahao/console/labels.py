"""How the console words what the code records: event and message kinds, audit actions, money."""

from __future__ import annotations

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from guahao.core.amounts import yuan_shown
from guahao.notifications.kinds import KINDS

LABELS = {
    "hold.created": _("Slot held"),
    "hold.confirmed": _("Hold confirmed"),
    "hold.released": _("Hold released"),
    "hold.expired": _("Hold expired"),
    "registration.booked": _("Booked"),
    "registration.cancelled": _("Cancelled"),
    "registration.moved": _("Moved to another slot"),
    "registration.moved_in": _("Moved here from another slot"),
    "registration.refunding": _("Refund started"),
    "registration.refunded": _("Refunded"),
    "registration.checked_in": _("Checked in"),
    "registration.visited": _("Visited"),
    "registration.no_show": _("Marked as no-show"),
    "registration.no_show_undone": _("No-show undone"),
    "refund.retried": _("Failed refund sent again"),
    "refund.started": _("Refunded by staff"),
    "his.call_retried": _("HIS write-back sent again"),
    "registration.his_refused": _("Refused by the HIS: move it or cancel it with a refund"),
    "registration.his_accepted": _("Written to the HIS after all"),
    "rating.published": _("Rating published"),
    "rating.rejected": _("Rating rejected"),
    "blacklist.lifted": _("Bar lifted"),
    "blacklist.set": _("Barred by staff"),
    "payment.collected": _("Fee taken at the window"),
    "payment.link_sent": _("Payment link sent"),
    "refund.paid_out": _("Refund paid back at the window"),
    "kiosk.created": _("Kiosk added"),
    "kiosk.revoked": _("Kiosk revoked"),
    "relief.requested": _("Relief slot asked for"),
    "relief.approved": _("Relief slot approved"),
    "relief.refused": _("Relief slot refused"),
    "reconciliation.handled": _("Reconciliation difference handled"),
    "blacklist.appeal": _("Appeal noted"),
    "message.registration.booked": _("booked"),
    "message.registration.cancelled": _("cancelled"),
    "message.registration.moved": _("moved"),
    "message.registration.cancelled_by_hospital": _("cancelled by the hospital"),
    "message.schedule.suspended": _("clinic suspended"),
    "message.schedule.moved": _("clinic moved"),
    "message.payment.late_refunded": _("late payment refunded"),
    "message.payment.second_refunded": _("second payment refunded"),
    "schedule.created": _("Clinic added"),
    "schedule.suspended": _("Clinic suspended"),
    "schedule.reopened": _("Clinic reopened"),
    "schedule.moved": _("Clinic moved"),
    "schedule.capacity_changed": _("Capacity changed"),
    "schedule.extra_slots_added": _("Extra slots added"),
    "schedule.generated": _("Clinic generated from a template"),
    "staff.lock_lifted": _("Lock lifted"),
    "staff.otp_reset": _("Second factor reset"),
    "staff.staff_created": _("Staff member created"),
    "staff.role_changed": _("Role or hospital changed"),
    "staff.permissions_changed": _("Permissions of a role changed"),
    "staff.staff_changed": _("Staff member changed"),
    "console.added": _("Added in the console"),
    "console.changed": _("Changed in the console"),
    "console.deleted": _("Deleted in the console"),
    "api.template_added": _("Template added through the API"),
    "api.template_changed": _("Template changed through the API"),
    "api.template_deleted": _("Template deleted through the API"),
}


def person_name(first: str | None, last: str | None) -> str:
    """A staff member's name as entered: a Chinese one family name first with no space (王 + 芳:
    王芳), another first name first; empty when none was entered."""
    first, last = (first or "").strip(), (last or "").strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def event_label(kind: str) -> str:
    """The kind in the reader's language (a message's by its title, ``message_title``); a kind
    not listed here reads as recorded."""
    label = LABELS.get(kind)
    if label is not None:
        return str(label)
    if kind.startswith("message."):
        return message_title(kind.removeprefix("message."))
    return kind


def message_title(kind: str) -> str:
    """A message kind by its title in the reader's language (the code when it has none)."""
    spec = KINDS.get(kind)
    if spec is None:
        return kind
    return spec.text("en" if (get_language() or "").startswith("en") else "zh-hans")[0]


def yuan(fen: int | None) -> str:
    """Money as staff read it: ¥12.50 (kept as 1250 fen)."""
    return yuan_shown(fen)
