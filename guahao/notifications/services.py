"""Messages to patients' accounts, worded in the reader's language when read."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from guahao.accounts.models import Account
from guahao.core import clock
from guahao.notifications.models import Message

SCHEDULE_SUSPENDED = "schedule.suspended"
CANCELLED_BY_HOSPITAL = "registration.cancelled_by_hospital"


def message_send(*, account_id: int, kind: str, **data: Any) -> Message:
    """Call inside the transaction of the change it reports: no message for a change undone."""
    return Message.objects.create(account_id=account_id, kind=kind, data=data, created_at=clock.now())


def messages_of(account: Account) -> list[Message]:
    return list(Message.objects.filter(account=account)[:100])


def messages_unread(account: Account) -> int:
    return Message.objects.filter(account=account, read_at__isnull=True).count()


def messages_mark_read(account: Account) -> int:
    """The account has seen its messages."""
    return Message.objects.filter(account=account, read_at__isnull=True).update(read_at=clock.now())


def _pick(data: dict, name: str) -> str:
    english = (get_language() or "").startswith("en")
    return str((data.get(f"{name}_en") if english else None) or data.get(name) or "")


def message_text(message: Message) -> tuple[str, str]:
    """(title, body) in the active language."""
    d = message.data
    facts = {
        "hospital": _pick(d, "hospital"),
        "department": _pick(d, "department"),
        "doctor": _pick(d, "doctor"),
        "date": d.get("visit_date", ""),
        "number": d.get("registration_number", ""),
        "reason": d.get("reason", ""),
    }
    if message.kind == SCHEDULE_SUSPENDED:
        title = _("Clinic suspended")
        body = (
            _(
                "%(hospital)s %(department)s %(doctor)s on %(date)s is suspended (%(reason)s). Your registration "
                "%(number)s is cancelled and any fee goes back to where it was paid from."
            )
            % facts
        )
        if d.get("alternatives"):
            body += (
                " "
                + _("You can book another doctor or day instead:")
                + " "
                + "; ".join(
                    f"{(a.get('doctor') or {}).get('name') or _('General clinic')} {a.get('date', '')}"
                    for a in d["alternatives"]
                )
            )
        return title, body
    if message.kind == CANCELLED_BY_HOSPITAL:
        return _("Registration cancelled at the hospital"), _(
            "Your registration %(number)s at %(hospital)s %(department)s on %(date)s was cancelled at the "
            "hospital. Any fee paid online goes back to where it was paid from."
        ) % facts
    return message.kind, ""
