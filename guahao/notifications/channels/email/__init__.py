"""E-mail through Django's mail backends: SMTP in production (``GUAHAO_EMAIL_BACKEND=smtp``), the
console in the demo. Each message carries its own Message-ID, so a second copy after a crash is
recognisable as the same message."""

from __future__ import annotations

import smtplib
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING

from django.conf import settings as django_settings
from django.core.mail import EmailMessage, get_connection

from guahao.notifications.channels import ChannelError

if TYPE_CHECKING:
    from guahao.notifications.channels import Outgoing
    from guahao.notifications.models import HospitalChannels


def message_id(out: Outgoing) -> str:
    domain = parseaddr(django_settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "guahao.invalid"
    return f"<guahao-message-{out.message_id}@{domain}>"


class Email:
    name = "email"

    def reachable(self, *, settings: HospitalChannels | None, kind: str) -> bool:
        return django_settings.EMAIL_CHANNEL != "off"

    def send(self, out: Outgoing) -> str:
        sender = parseaddr(django_settings.DEFAULT_FROM_EMAIL)[1]
        mail = EmailMessage(
            subject=f"{out.title} - {out.hospital_name}",
            body=f"{out.body}\n\n{out.link}\n",
            from_email=formataddr((out.hospital_name, sender)),
            to=[out.to],
            headers={"Message-ID": message_id(out)},
            connection=get_connection(fail_silently=False),
        )
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused:
            raise ChannelError("the address was refused", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"smtp {exc.smtp_code}", permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"smtp unreachable: {type(exc).__name__}", unreachable=True) from None
        return message_id(out)

    def sent_already(self, out: Outgoing) -> str | None:
        return None  # a mail server cannot be asked what it accepted
