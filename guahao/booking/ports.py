"""What the hold path needs from outside booking, as interfaces booking owns.

Booking imports nothing from the HIS (../shared/STYLE.md, "How the apps talk"): it calls these
protocols, which the HIS app implements and wires in at start-up (``his.apps``, in
``AppConfig.ready``). Until they are wired, a hospital has no HIS: booking alone still books.
Patients are told through the events booking writes (``core.outbox``), which notifications reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from guahao.accounts.models import MedicalRecord, Patient
    from guahao.booking.models import Hold, Registration
    from guahao.scheduling.models import Period, Schedule


class RealtimeHis(Protocol):
    """A hospital whose every hold is a lock in its HIS. Never called inside a transaction."""

    def connected(self, hospital_id: int) -> bool:
        """Whether the hospital has a HIS at all (a hold there may ask it: a medical record)."""
        ...

    def realtime(self, hospital_id: int) -> bool:
        """Whether every hold at the hospital is a lock in its HIS."""
        ...

    def reread(self, schedule: Schedule) -> None:
        """Bring the schedule's slots up to date from the HIS; refuses a suspended schedule."""
        ...

    def lock(
        self, *, schedule: Schedule, period: Period | None, minutes: int, waitlist: bool = False
    ) -> tuple[str, int] | None:
        """(lock reference, slot number), or None when the HIS has no slot free. ``waitlist``: a
        waitlist offer's lock, for its (longer) confirm window."""
        ...

    def register(self, *, hold: Hold, registration_number: str) -> None:
        """Register the held slot in the HIS before it is booked here; its answer decides."""
        ...

    def release_now(self, *, hospital_id: int, ref: str) -> None:
        """Give back a lock we will not use (queued and sent at once)."""
        ...


class WriteBacks(Protocol):
    """Changes the HIS must hear of. Called inside the change's transaction; sent after commit."""

    def registration_written(self, registration: Registration) -> None: ...

    def registration_cancelled(self, registration: Registration) -> None: ...

    def lock_release(self, *, hold: Hold) -> None: ...

    def lock_kept(self, *, hospital_id: int, ref: str) -> None:
        """The hold that uses this HIS lock is being written: the release queued in case we
        crashed in between is not wanted. Refuses (a retryable HIS problem) if it went out."""
        ...


class MedicalRecords(Protocol):
    def record_ensure(self, *, patient: Patient, hospital_id: int, mode: str) -> MedicalRecord | None:
        """The patient's record at the hospital, found or created as its mode allows."""
        ...


class _NoHis:
    def connected(self, hospital_id: int) -> bool:
        return False

    def realtime(self, hospital_id: int) -> bool:
        return False

    def reread(self, schedule: Schedule) -> None:
        return None

    def lock(
        self, *, schedule: Schedule, period: Period | None, minutes: int, waitlist: bool = False
    ) -> tuple[str, int] | None:
        raise RuntimeError("no HIS is wired in")

    def register(self, *, hold: Hold, registration_number: str) -> None:
        return None

    def release_now(self, *, hospital_id: int, ref: str) -> None:
        return None

    def registration_written(self, registration: Registration) -> None:
        return None

    def registration_cancelled(self, registration: Registration) -> None:
        return None

    def lock_release(self, *, hold: Hold) -> None:
        return None

    def lock_kept(self, *, hospital_id: int, ref: str) -> None:
        return None


class _RecordsAtVisit:
    def record_ensure(self, *, patient: Patient, hospital_id: int, mode: str) -> MedicalRecord | None:
        from guahao.accounts.models import MedicalRecord

        return MedicalRecord.objects.filter(patient=patient, hospital_id=hospital_id).first()


class _Wired:
    his: RealtimeHis = _NoHis()
    write_backs: WriteBacks = _NoHis()
    records: MedicalRecords = _RecordsAtVisit()


wired = _Wired()


def wire(
    *,
    his: RealtimeHis | None = None,
    write_backs: WriteBacks | None = None,
    records: MedicalRecords | None = None,
) -> None:
    """Plug an implementation in (at start-up; tests may swap one for a block)."""
    if his is not None:
        wired.his = his
    if write_backs is not None:
        wired.write_backs = write_backs
    if records is not None:
        wired.records = records
