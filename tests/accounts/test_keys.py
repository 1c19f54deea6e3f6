"""Phones and ID numbers at rest: sealed, found by their keyed hash, and a key rotation that keeps
every account, patient and limit what it was."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from guahao import cli
from guahao.accounts import idcard, phones
from guahao.accounts.models import Account, Patient
from guahao.booking.models import Hold
from guahao.his.models import HisConnection
from tests import factories as f

OLD_KEY = "an-old-field-key-of-at-least-32-characters"
NEW_KEY = "a-new-field-key-of-at-least-32-characters!"


def _rotate_to(settings) -> None:  # type: ignore[no-untyped-def]
    settings.FIELD_KEY, settings.FIELD_KEYS_PREVIOUS = NEW_KEY, (OLD_KEY,)


@pytest.mark.django_db
def test_a_key_rotation_keeps_logins_patients_limits_and_his_keys(settings, capsys):
    settings.FIELD_KEY, settings.FIELD_KEYS_PREVIOUS = OLD_KEY, ()
    h = f.hospital()
    clinic = f.schedule(f.department(h))
    login_phone, number = f.phone(), f.id_number()
    patient = f.Api().login(login_phone)
    patient_id = patient.add_patient(number)
    status, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient_id})
    assert status == 201
    his = HisConnection(hospital=h, mode="synced", hospital_code="H1")
    his.signing_key_set("the-hospital-his-key")
    his.save()
    before = Patient.objects.get(pk=patient_id)

    # The new key is in place, the old one still read: the same phone logs in to the same account.
    _rotate_to(settings)
    assert f.Api().login(login_phone).account_id == patient.account_id
    assert Account.objects.count() == 1

    assert cli.main(["rotate-keys"]) == 0
    assert "accounts: 1, patients: 1, person_rows: 1, his_keys: 1" in capsys.readouterr().out

    # The old key gone: everything reads, and is found, under the new one alone.
    settings.FIELD_KEYS_PREVIOUS = ()
    after = Patient.objects.get(pk=patient_id)
    assert after.id_number_hash != before.id_number_hash and after.id_number_hash == idcard.lookup_hash(number)
    assert idcard.decrypt(after.id_number_encrypted) == number and after.phone == "13912345678"
    assert str(Account.objects.get(phones.matching(login_phone)).pk) == patient.account_id
    assert Hold.objects.get(pk=hold["id"]).person_hash == after.id_number_hash
    assert HisConnection.objects.get(pk=his.pk).signing_key() == "the-hospital-his-key"
    assert f.Api().login(login_phone).account_id == patient.account_id
    # The same person is still refused a second hold the same day in the same department.
    again = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient_id})
    assert again[0] == 409
    # Running it again finds nothing to do.
    assert cli.main(["rotate-keys"]) == 0
    assert "accounts: 0, patients: 0, person_rows: 0, his_keys: 0" in capsys.readouterr().out


@pytest.mark.django_db
def test_without_the_previous_key_what_it_sealed_is_not_found(settings):
    settings.FIELD_KEY, settings.FIELD_KEYS_PREVIOUS = OLD_KEY, ()
    login_phone = f.phone()
    first = f.Api().login(login_phone)
    settings.FIELD_KEY = NEW_KEY  # an operator who forgot GUAHAO_FIELD_KEYS_PREVIOUS
    assert not Account.objects.filter(phones.matching(login_phone)).exists()
    _rotate_to(settings)
    assert str(Account.objects.get(phones.matching(login_phone)).pk) == first.account_id


PLAIN = "13911112222"


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_the_phones_stored_before_and_opens_them_going_back():
    before, after = [("accounts", "0007_waitlist_roles")], [("accounts", "0010_phones_sealed_only")]
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    account = old.get_model("accounts", "Account").objects.create(phone=PLAIN, created_at="2026-01-01T00:00:00Z")
    old.get_model("accounts", "Patient").objects.create(
        account_id=account.pk,
        name="张伟",
        id_number_encrypted=idcard.encrypt("110105199001011234"),
        id_number_hash="h",
        id_number_masked="110105********1234",
        birth_date="1990-01-01",
        gender="male",
        phone=PLAIN,
        relation="self",
        created_at="2026-01-01T00:00:00Z",
    )
    old.get_model("accounts", "SmsCode").objects.create(
        phone=PLAIN, code_hash="x", created_at="2026-01-01T00:00:00Z", expires_at="2026-01-01T00:05:00Z"
    )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        sealed = executor.loader.project_state(after).apps  # the models as that migration left them
        account = sealed.get_model("accounts", "Account").objects.get(phones.matching(PLAIN))
        assert phones.decrypt(account.phone_encrypted) == PLAIN and account.phone_masked == "139****2222"
        patient = sealed.get_model("accounts", "Patient").objects.get(phones.matching(PLAIN))
        assert phones.decrypt(patient.phone_encrypted) == PLAIN
        assert sealed.get_model("accounts", "SmsCode").objects.filter(phones.matching(PLAIN)).count() == 1
        with connection.cursor() as cursor:
            for table in ("accounts_account", "accounts_patient", "accounts_smscode"):
                cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - our own table names
                assert PLAIN not in repr(cursor.fetchall())

        executor = MigrationExecutor(connection)
        executor.migrate(before)
        back = executor.loader.project_state(before).apps
        assert back.get_model("accounts", "Account").objects.get().phone == PLAIN
        assert back.get_model("accounts", "Patient").objects.get().phone == PLAIN
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
