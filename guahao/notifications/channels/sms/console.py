"""SMS printed on the server's output instead of sent (the demo and tests): the number masked,
the text as the patient would read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guahao.accounts.services import mask_phone

if TYPE_CHECKING:
    from guahao.notifications.channels import Outgoing
    from guahao.notifications.models import HospitalChannels


class ConsoleSms:
    name = "sms"

    def reachable(self, *, settings: HospitalChannels | None, kind: str) -> bool:
        return True

    def send(self, out: Outgoing) -> str:
        sign = (out.settings.sms_sign_name if out.settings else "") or out.hospital_name
        colon = ": " if out.language == "en" else "："  # as each language writes it
        print(f"[sms] to {mask_phone(out.to)}: 【{sign}】{out.title}{colon}{out.body}", flush=True)  # noqa: T201
        return f"console-{out.message_id}"

    def sent_already(self, out: Outgoing) -> str | None:
        return None
