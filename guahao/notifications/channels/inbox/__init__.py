"""The in-app inbox: the message row is the delivery (written with the event it reports, read at
``GET /api/v1/messages`` and on the web app's messages page, worded in the reader's language)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guahao.notifications.channels import Outgoing
    from guahao.notifications.models import HospitalChannels


class Inbox:
    name = "inbox"

    def reachable(self, *, settings: HospitalChannels | None, kind: str) -> bool:
        return True

    def send(self, out: Outgoing) -> str:
        return ""  # there when written

    def sent_already(self, out: Outgoing) -> str | None:
        return ""
