"""A mail server's handler for aiosmtpd run as a process (``python -m aiosmtpd -c …``): it keeps
every message in a maildir and, like a real server, refuses mailboxes it does not have."""

from __future__ import annotations

from typing import Any

from aiosmtpd.handlers import Mailbox


class MailboxRefusingNobody(Mailbox):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@example.com>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"
