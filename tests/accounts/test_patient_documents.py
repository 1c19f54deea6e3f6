"""The ID documents hospitals accept, each checked by its own rule, and a family member changed
or removed: through the API, as an integrator's client (or our web app) drives it."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts import consent, idcard
from guahao.accounts.models import Patient
from guahao.booking.models import Registration
from guahao.core import clock
from guahao.waitlist.models import WaitlistEntry
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def residence_card(birth: str = "19850312", sequence: str = "001") -> str:
    """A 2023 foreigner's permanent residence ID number: 9, province, nationality, birth date,
    sequence, and the resident card's check character."""
    body = f"933156{birth}{sequence}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def add(api: f.Api, **fields: object) -> tuple[int, dict]:
    body = {"name": "张伟", "phone": "13912345678", "relation": "child"} | fields
    return api.call("POST", "/patients", body)


@pytest.mark.parametrize(
    ("id_type", "number", "masked"),
    [
        ("passport", "E12345678", "E1*****78"),
        ("passport", "ea1234567", "EA*****67"),  # a new Chinese passport, typed in lower case
        ("hk_macau", "H12345678", "H1*****78"),
        ("hk_macau", "M1234567890", "M1*******90"),
        ("taiwan", "50817366", "50****66"),
        ("foreign_permanent", "USA110065080102", "USA110*****0102"),
    ],
)
def test_a_document_without_sex_or_birth_date_is_taken_with_them_entered(api, id_type, number, masked):
    api.login()
    status, body = add(
        api, name="John Smith", id_type=id_type, id_number=number, gender="male", birth_date="1985-03-12"
    )
    assert status == 201, body
    assert (body["id_type"], body["id_number_masked"]) == (id_type, masked)
    assert (body["gender"], body["birth_date"]) == ("male", "1985-03-12")
    row = Patient.objects.get(pk=body["id"])
    assert idcard.decrypt(row.id_number_encrypted) == number.upper()  # for the HIS, never for the API
    assert number.upper() not in " ".join(str(v) for v in Patient.objects.filter(pk=row.pk).values().get().values())


def test_the_2023_residence_card_carries_sex_and_birth_date_like_a_resident_card(api):
    api.login()
    number = residence_card("19850312", "002")  # an even sequence: a woman
    status, body = add(api, name="Anna Müller", id_type="foreign_permanent", id_number=number)
    assert status == 201, body
    assert (body["gender"], body["birth_date"], body["id_number_masked"]) == (
        "female",
        "1985-03-12",
        number[:6] + "********" + number[-4:],
    )
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    status, body = add(api, name="Anna Müller", id_type="foreign_permanent", id_number=wrong, relation="other")
    assert (status, body["code"], body["field"]) == (422, "patient.id_number_invalid", "id_number")
    assert "校验码" in body["detail"]


@pytest.mark.parametrize(
    ("id_type", "number", "reason"),
    [
        ("resident", "11010519800314", "A resident ID number has 18 characters; this one has 14."),
        ("resident", "110105198003140000", "The last character (the check digit) does not fit the number"),
        ("passport", "ABCDEFGH", "A passport number has 5 to 17 letters and digits, with at least one digit."),
        ("hk_macau", "12345678", "A Hong Kong or Macao permit number is H or M followed by 8 (or 10) digits."),
        ("taiwan", "1234567", "A Taiwan permit number has 8 digits (10 on cards issued before 2015)."),
        ("foreign_permanent", "110105198003140011", "A permanent residence ID number has 18 digits beginning with 9"),
    ],
)
def test_each_document_is_refused_by_its_own_rule_and_nothing_is_added(id_type, number, reason):
    api = f.Api(language="en").login()
    status, body = add(api, id_type=id_type, id_number=number, gender="male", birth_date="1985-03-12")
    assert (status, body["code"], body["field"]) == (422, "patient.id_number_invalid", "id_number")
    assert body["detail"].startswith(reason), body["detail"]
    assert Patient.objects.count() == 0


def test_sex_and_birth_date_are_asked_for_where_the_document_lacks_them_and_must_agree_where_it_has_them(api):
    api.login()
    status, body = add(api, id_type="passport", id_number="E12345678", birth_date="1985-03-12")
    assert (status, body["code"], body["field"]) == (422, "patient.gender_invalid", "gender")
    status, body = add(api, id_type="passport", id_number="E12345678", gender="female")
    assert (status, body["code"], body["field"]) == (422, "patient.birth_date_invalid", "birth_date")
    tomorrow = f.today() + dt.timedelta(days=1)
    status, body = add(api, id_type="passport", id_number="E12345678", gender="female", birth_date=tomorrow.isoformat())
    assert (status, body["field"]) == (422, "birth_date")
    number = f.id_number("19800314")
    status, body = add(api, id_number=number, birth_date="1981-03-14")
    assert (status, body["code"], body["field"]) == (422, "patient.birth_date_invalid", "birth_date")
    assert Patient.objects.count() == 0


def test_an_older_client_sending_only_the_resident_number_is_served_as_before(api):
    api.login()
    number = f.id_number("19800314")
    status, body = api.call("POST", "/patients", {"name": "张伟", "id_number": number, "phone": "13912345678"})
    assert status == 201, body
    assert (body["id_type"], body["birth_date"]) == ("resident", "1980-03-14")
    # the keyed hash of a resident number is what it always was: limits and bars still find the person
    assert Patient.objects.get(pk=body["id"]).id_number_hash == idcard.lookup_hash(number)


def test_a_passport_and_a_permit_with_the_same_characters_are_two_people(api):
    api.login()
    assert add(api, id_type="taiwan", id_number="12345678", gender="male", birth_date="1990-01-01")[0] == 201
    assert add(api, id_type="passport", id_number="12345678", gender="male", birth_date="1990-01-01")[0] == 201
    assert add(api, id_type="passport", id_number="12345678", gender="male", birth_date="1990-01-01")[1]["code"] == (
        "patient.exists"
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("张" * 300, "The name is longer than 50 characters."),
        ("<script>alert(1)</script>", "A real name has no such characters: ()/1<"),
    ],
)
def test_a_name_refused_says_why_not_please_fill_in(name, reason):
    api = f.Api(language="en").login()
    status, body = add(api, name=name, id_number=f.id_number())
    assert (status, body["code"], body["field"]) == (422, "patient.name_invalid", "name")
    assert body["detail"] == reason
    assert "fill" not in body["title"].lower()


# --- edit ------------------------------------------------------------------------------------------


def test_a_patient_is_edited_field_by_field_and_the_rest_stays(api):
    api.login()
    pid = api.add_patient(relation="child", name="张小明")
    before = Patient.objects.get(pk=pid)
    status, body = api.call("PATCH", f"/patients/{pid}", {"phone": "+86 139 8765 4321", "relation": "other"})
    assert status == 200, body
    assert (body["phone_masked"], body["relation"], body["name"]) == ("139****4321", "other", "张小明")
    status, body = api.call(
        "PATCH",
        f"/patients/{pid}",
        {"id_type": "passport", "id_number": "E98765432", "gender": "male", "birth_date": "2015-06-01"},
    )
    assert status == 200, body
    assert (body["id_type"], body["id_number_masked"], body["birth_date"]) == ("passport", "E9*****32", "2015-06-01")
    after = Patient.objects.get(pk=pid)
    assert after.id_number_hash == idcard.lookup_hash("E98765432", "passport") != before.id_number_hash


def test_a_refused_edit_changes_nothing(api):
    api.login()
    pid = api.add_patient(relation="self")
    other = api.add_patient(relation="child", name="张小明")
    before = Patient.objects.filter(pk=pid).values().get()
    for change, code in [
        ({"phone": "12345", "name": "王芳"}, "phone.invalid"),
        ({"name": "<b>王芳</b>", "phone": "13987654321"}, "patient.name_invalid"),
        ({"id_type": "hk_macau", "gender": "male", "birth_date": "1990-01-01"}, "patient.id_number_invalid"),
    ]:
        status, body = api.call("PATCH", f"/patients/{pid}", change)
        assert (status, body["code"]) == (422, code), body
    status, body = api.call("PATCH", f"/patients/{other}", {"relation": "self"})
    assert (status, body["code"]) == (409, "patient.self_exists")
    assert Patient.objects.filter(pk=pid).values().get() == before


def test_another_accounts_patient_cannot_be_seen_edited_or_removed(api):
    theirs = f.Api().login().add_patient()
    api.login()
    assert api.call("GET", f"/patients/{theirs}")[0] == 404
    assert api.call("PATCH", f"/patients/{theirs}", {"relation": "other"})[0] == 404
    assert api.call("DELETE", f"/patients/{theirs}")[0] == 404
    assert Patient.objects.filter(pk=theirs, removed_at__isnull=True).exists()


# --- remove ----------------------------------------------------------------------------------------


def booked_clinic():
    h = f.hospital()
    dep = f.department(h)
    return f.schedule(dep, f.doctor(dep))


def test_a_patient_never_booked_for_is_removed_with_their_data(api):
    api.login()
    pid = api.add_patient()
    assert api.call("DELETE", f"/patients/{pid}")[0] == 204
    assert not Patient.objects.filter(pk=pid).exists()
    assert api.call("GET", "/patients")[1] == []


def test_a_live_hold_then_a_future_registration_refuse_the_removal_until_they_end(api):
    api.login()
    schedule = booked_clinic()
    pid = api.add_patient()
    status, hold = api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": pid})
    assert status == 201, hold

    status, body = api.call("DELETE", f"/patients/{pid}")
    assert (status, body["code"], body["reason"]) == (409, "patient.in_use", "hold")
    status, registration = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, registration
    status, body = api.call("DELETE", f"/patients/{pid}")
    assert (status, body["code"], body["reason"]) == (409, "patient.in_use", "registration")
    assert "取消" in body["detail"]
    status, body = api.call("PATCH", f"/patients/{pid}", {"name": "王芳"})
    assert (status, body["code"]) == (409, "patient.identity_locked")
    assert Patient.objects.get(pk=pid).name == "张伟" and Patient.objects.get(pk=pid).removed_at is None

    assert api.call("POST", f"/registrations/{registration['id']}/cancel", {})[0] == 200
    assert api.call("DELETE", f"/patients/{pid}")[0] == 204
    # kept for the cancelled registration, but gone from the account and never bookable again
    row = Patient.objects.get(pk=pid)
    assert row.removed_at is not None and row.removed_at <= clock.now()
    assert Registration.objects.get(pk=registration["id"]).patient_id == row.pk
    assert api.call("GET", "/patients")[1] == []
    assert api.call("GET", f"/patients/{pid}")[0] == 404
    status, body = api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": pid})
    assert (status, body["code"]) == (404, "not_found")
    # the same person may be added again, as a new patient
    assert api.add_patient(f"{idcard.decrypt(row.id_number_encrypted)}") != pid


def test_an_active_waitlist_entry_refuses_the_removal():
    from tests.waitlist.test_waitlist import full_clinic, join, patient

    _, schedule, _, _ = full_clinic()
    client, pid = patient()
    status, entry = join(client, schedule, pid)
    assert status == 201, entry
    status, body = client.call("DELETE", f"/patients/{pid}")
    assert (status, body["code"], body["reason"]) == (409, "patient.in_use", "waitlist")
    assert client.call("DELETE", f"/waitlist/{entry['id']}")[0] == 200
    assert client.call("DELETE", f"/patients/{pid}")[0] == 204
    assert WaitlistEntry.objects.get(pk=entry["id"]).patient.removed_at is not None


def test_staff_find_a_passport_holders_registration_by_the_number_without_naming_the_document():
    from guahao.accounts import services as accounts
    from guahao.booking import selectors
    from guahao.booking import services as booking

    schedule = booked_clinic()
    account = f.account()
    holder = accounts.patient_create(
        consent_version=consent.TEXT_VERSION,
        account=account,
        name="John Smith",
        id_number="E12345678",
        id_type="passport",
        gender="male",
        birth_date="1985-03-12",
        phone=account.phone,
        relation="self",
    )
    other = f.patient(account, relation="child")
    mine = booking.hold_confirm(hold=booking.hold_create(account=account, patient=holder, schedule=schedule))
    theirs = booking.hold_confirm(hold=booking.hold_create(account=account, patient=other, schedule=schedule))
    everything = Registration.objects.all()
    assert list(selectors.registrations_find(everything, "e1234 5678")) == [mine]
    assert set(selectors.registrations_find(everything, account.phone)) == {mine, theirs}  # phones unchanged
    assert list(selectors.registrations_find(everything, "E12345679")) == []


def test_a_new_identity_drops_the_medical_records_made_for_the_old_one(api):
    from guahao.accounts.models import MedicalRecord

    api.login()
    pid = api.add_patient(relation="child", name="张小明")
    h = f.hospital()
    MedicalRecord.objects.create(patient_id=pid, hospital=h, his_patient_id="P1", created_at=clock.now())
    assert api.call("PATCH", f"/patients/{pid}", {"relation": "other"})[0] == 200
    assert MedicalRecord.objects.filter(patient_id=pid).count() == 1  # contact details: the record stays
    status, body = api.call("PATCH", f"/patients/{pid}", {"name": "张晓明"})
    assert status == 200, body
    assert not MedicalRecord.objects.filter(patient_id=pid).exists()
