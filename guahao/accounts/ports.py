"""What accounts needs from the apps above it, as an interface it owns: sending a login code by
SMS goes through the SMS channel of ``notifications`` (wired in at start-up), which knows the
provider. Until it is wired, codes are printed (the console backend's way).

Whether a patient may be removed is asked of the apps that book for them (booking: a future
registration or a live hold; the waitlist: an active entry), each registering a guard at start-up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

# A guard answers, for a patient's id and the time now, what still needs the patient (a word of
# ``PATIENT_IN_USE``) or None.
PatientGuard = Callable[[int, dt.datetime], str | None]


class CodeSender(Protocol):
    def login_code(self, *, phone: str, code: str) -> None:
        """Send a login code to a phone now; raises when it could not be sent."""
        ...


class _Printed:
    def login_code(self, *, phone: str, code: str) -> None:
        print(f"[sms] to {phone[:3]}****{phone[-4:]}: 您的挂号登录验证码是 {code}，5分钟内有效。", flush=True)  # noqa: T201


class _Wired:
    code_sender: CodeSender = _Printed()
    patient_guards: dict[str, PatientGuard] = {}  # noqa: RUF012 - one registry for the process


wired = _Wired()


def guard_patients(name: str, guard: PatientGuard) -> None:
    """Register (once per name) what must refuse the removal of a patient."""
    wired.patient_guards[name] = guard


def wire(*, code_sender: CodeSender | None = None) -> None:
    if code_sender is not None:
        wired.code_sender = code_sender
