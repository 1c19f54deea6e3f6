"""What accounts needs from the apps above it, as an interface it owns: sending a login code by
SMS goes through the SMS channel of ``notifications`` (wired in at start-up), which knows the
provider. Until it is wired, codes are printed (the console backend's way)."""

from __future__ import annotations

from typing import Protocol


class CodeSender(Protocol):
    def login_code(self, *, phone: str, code: str) -> None:
        """Send a login code to a phone now; raises when it could not be sent."""
        ...


class _Printed:
    def login_code(self, *, phone: str, code: str) -> None:
        print(f"[sms] to {phone[:3]}****{phone[-4:]}: 您的挂号登录验证码是 {code}，5分钟内有效。", flush=True)  # noqa: T201


class _Wired:
    code_sender: CodeSender = _Printed()


wired = _Wired()


def wire(*, code_sender: CodeSender | None = None) -> None:
    if code_sender is not None:
        wired.code_sender = code_sender
