"""What Guahao needs from a hospital information system (HIS), whichever it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class HisError(Exception):
    """The HIS failed or did not answer.

    ``timeout``: no answer came, so it may have done it anyway (a lock that timed out is followed
    by a release). ``permanent``: asking again the same way cannot help.
    """

    def __init__(self, message: str, *, timeout: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.permanent = permanent


class HisRefused(Exception):
    """The HIS answered and said no (no free slot, schedule suspended, unknown registration)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


@dataclass(frozen=True)
class HisSlot:
    number: int
    period_starts_at: str
    period_ends_at: str
    state: str  # free, locked, booked
    ref: str = ""
    channel: str = ""


@dataclass(frozen=True)
class HisSchedule:
    id: str
    department_code: str
    doctor_code: str
    date: str
    session: str
    starts_at: str
    ends_at: str
    status: str  # open, suspended
    reason: str
    registration_fee_fen: int
    consultation_fee_fen: int
    location: str
    slots: list[HisSlot] = field(default_factory=list)


@dataclass(frozen=True)
class HisLock:
    ref: str
    schedule_id: str
    number: int


@dataclass(frozen=True)
class HisRegistration:
    ref: str
    schedule_id: str
    number: int
    status: str  # booked, cancelled
    channel: str = ""
    lock_ref: str = ""


@dataclass(frozen=True)
class HisPatient:
    patient_id: str
    card_number: str


@dataclass(frozen=True)
class HisChange:
    seq: int
    id: str
    type: str  # schedule.created/changed/suspended, registration.created/cancelled
    data: dict


class HisAdapter(Protocol):
    def catalog(self) -> tuple[list[dict], list[dict]]:
        """(departments, doctors) with their HIS codes."""
        ...

    def schedules(self, *, start: str, end: str) -> list[HisSchedule]: ...

    def schedule(self, *, schedule_id: str) -> HisSchedule: ...

    def lock(
        self, *, schedule_id: str, ref: str, minutes: int, period_starts_at: str | None, waitlist: bool = False
    ) -> HisLock:
        """Lock a free slot for ``minutes``; ``waitlist``: a waitlist offer's lock (seed 002's
        候补锁号 interface), which may last much longer than a hold's."""
        ...

    def release(self, *, ref: str) -> None:
        """Give back whatever ``ref`` took (a lock, or a registration made from it); idempotent."""
        ...

    def register(
        self, *, ref: str, schedule_id: str, number: int, lock_ref: str | None, patient: dict
    ) -> HisRegistration: ...

    def cancel(self, *, ref: str) -> HisRegistration | None:
        """Cancel a registration; None if the HIS never had it."""
        ...

    def registrations(self, *, start: str, end: str) -> list[HisRegistration]: ...

    def patient_find(self, *, id_number: str) -> HisPatient | None: ...

    def patient_create(self, *, name: str, id_number: str, phone: str) -> HisPatient: ...

    def changes(self, *, after: int) -> list[HisChange]: ...

    def event_valid(self, *, headers: dict[str, str], body: bytes) -> bool:
        """Whether a pushed event is signed by this HIS."""
        ...
