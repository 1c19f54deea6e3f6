"""The HIS side of booking's ports (``guahao.booking.ports``), wired in at start-up."""

from __future__ import annotations

from guahao.accounts.models import MedicalRecord, Patient
from guahao.booking.models import Hold, Registration
from guahao.his import errors, outbox, realtime, records, registry
from guahao.scheduling.models import Period, Schedule


class HisForBooking:
    """Realtime locks and registrations, write-backs and medical records, for booking."""

    def connected(self, hospital_id: int) -> bool:
        return registry.mode_of(hospital_id) != ""

    def realtime(self, hospital_id: int) -> bool:
        return registry.mode_of(hospital_id) == registry.HisMode.REALTIME

    def reread(self, schedule: Schedule) -> None:
        connection = registry.realtime_connection(schedule.hospital_id)
        if connection is not None:
            realtime.schedule_reread(connection=connection, schedule=schedule)

    def lock(
        self, *, schedule: Schedule, period: Period | None, minutes: int, waitlist: bool = False
    ) -> tuple[str, int] | None:
        connection = registry.realtime_connection(schedule.hospital_id)
        if connection is None:  # disconnected since the hold began: nothing to lock there
            return None
        return realtime.lock(
            connection=connection, schedule=schedule, period=period, minutes=minutes, waitlist=waitlist
        )

    def register(self, *, hold: Hold, registration_number: str) -> None:
        realtime.register(
            hold=hold,
            registration_number=registration_number,
            patient=outbox.patient_payload(hold.patient, hold.hospital_id),
        )

    def release_now(self, *, hospital_id: int, ref: str) -> None:
        outbox.lock_release_now(hospital_id=hospital_id, ref=ref)

    def registration_written(self, registration: Registration) -> None:
        outbox.registration_written(registration)

    def registration_cancelled(self, registration: Registration) -> None:
        outbox.registration_cancelled(registration)

    def lock_release(self, *, hold: Hold) -> None:
        if hold.his_lock_ref:
            outbox.lock_release(hospital_id=hold.hospital_id, ref=hold.his_lock_ref, hold=hold)

    def lock_kept(self, *, hospital_id: int, ref: str) -> None:
        if not outbox.lock_kept(ref=ref):
            raise errors.HIS_FAILED.error(retry=True)

    def record_ensure(self, *, patient: Patient, hospital_id: int, mode: str) -> MedicalRecord | None:
        return records.record_ensure(patient=patient, hospital_id=hospital_id, mode=mode)
