"""Medical records (建档) at a hospital, per its mode: ``required`` (the patient must already have
one in the HIS), ``auto_create`` (created in the HIS for online patients), ``at_visit`` (created
at the hospital; nothing to do online)."""

from __future__ import annotations

from guahao.accounts import idcard
from guahao.accounts.models import MedicalRecord, Patient
from guahao.core import clock
from guahao.his import errors, registry
from guahao.his.interface import HisError, HisRefused
from guahao.scheduling.models import MedicalRecordMode


def record_ensure(*, patient: Patient, hospital_id: int, mode: str) -> MedicalRecord | None:
    """The patient's record at the hospital, found or created in its HIS as the mode allows.

    Without a HIS connection an ``auto_create`` hospital's records are numbered by the platform.
    Raises a 502/504 problem when the HIS fails: no booking goes ahead on a guess.
    """
    record = MedicalRecord.objects.filter(patient=patient, hospital_id=hospital_id).first()
    if record is not None or mode == MedicalRecordMode.AT_VISIT:
        return record
    connection = registry.connection_for(hospital_id)
    if connection is None:
        if mode != MedicalRecordMode.AUTO_CREATE:
            return None
        his_patient_id, card_number = f"P{patient.pk:010d}", ""
    else:
        number = idcard.decrypt(patient.id_number_encrypted)
        try:
            his = registry.adapter(connection)  # a connection without an address fails here, as a HIS failure
            found = his.patient_find(id_number=number)
            if found is None and mode == MedicalRecordMode.AUTO_CREATE:
                found = his.patient_create(name=patient.name, id_number=number, phone=patient.phone)
        except HisError as exc:
            raise errors.failure(timeout=exc.timeout, hospital_id=hospital_id) from exc
        except HisRefused as exc:
            raise errors.failure(timeout=False, hospital_id=hospital_id, retry=False, his_code=exc.code) from exc
        if found is None:
            return None
        his_patient_id, card_number = found.patient_id, found.card_number
    record, _ = MedicalRecord.objects.get_or_create(
        patient=patient,
        hospital_id=hospital_id,
        defaults={"his_patient_id": his_patient_id, "card_number": card_number, "created_at": clock.now()},
    )
    return record
