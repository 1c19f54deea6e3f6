"""The family's patients: real name, a valid ID number kept encrypted, shown masked, private to the account."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from guahao.accounts import idcard
from guahao.accounts.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_patient_is_shown_masked_and_the_number_is_not_stored_in_plain(api):
    api.login()
    number = f.id_number("19800314")
    status, body = api.call(
        "POST", "/patients", {"name": "张伟", "id_number": number, "phone": "13912345678", "relation": "self"}
    )
    assert status == 201
    assert body["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert body["birth_date"] == "1980-03-14"
    assert body["gender"] == ("male" if int(number[16]) % 2 else "female")
    assert body["phone_masked"] == "139****5678"
    assert number not in str(api.call("GET", "/patients")[1])

    row = Patient.objects.get(pk=body["id"])
    stored = " ".join(str(v) for v in Patient.objects.filter(pk=row.pk).values().get().values())
    assert number not in stored and number[6:14] not in stored.replace("1980-03-14", "")
    assert idcard.decrypt(row.id_number_encrypted) == number  # for the HIS, never for the API


def test_a_lower_case_x_check_digit_is_accepted(api):
    api.login()
    for _ in range(40):
        number = f.id_number()
        if number.endswith("X"):
            break
    else:
        pytest.skip("no number with an X check digit drawn")
    status, body = api.call("POST", "/patients", {"name": "刘洋", "id_number": number.lower(), "phone": "13912345678"})
    assert status == 201, body


@pytest.mark.parametrize(
    "number",
    [
        "110105198003140000",  # wrong check digit
        "11010519800314",  # too short
        "110105198013140011",  # month 13
        "abcdefghijklmnopqr",
    ],
)
def test_an_invalid_id_number_is_refused_and_nothing_is_added(api, number):
    api.login()
    status, body = api.call("POST", "/patients", {"name": "张伟", "id_number": number, "phone": "13912345678"})
    assert status == 422
    assert (body["code"], body["field"]) == ("patient.id_number_invalid", "id_number")
    assert Patient.objects.count() == 0


def test_a_missing_field_is_named(api):
    api.login()
    status, body = api.call("POST", "/patients", {"name": "张伟", "phone": "13912345678"})
    assert status == 422
    assert body["field"] == "id_number"
    assert Patient.objects.count() == 0


def test_a_name_with_digits_is_refused(api):
    api.login()
    status, body = api.call("POST", "/patients", {"name": "张伟2", "id_number": f.id_number(), "phone": "13912345678"})
    assert (status, body["code"], body["field"]) == (422, "patient.name_invalid", "name")


def test_the_same_person_twice_in_one_account_is_refused(api):
    api.login()
    number = f.id_number()
    api.add_patient(number)
    status, body = api.call("POST", "/patients", {"name": "张伟", "id_number": number, "phone": "13912345678"})
    assert (status, body["code"]) == (409, "patient.exists")
    assert Patient.objects.count() == 1


def test_the_same_person_may_be_in_two_families(api):
    number = f.id_number()
    f.Api().login().add_patient(number)
    f.Api().login().add_patient(number)
    assert Patient.objects.count() == 2


def test_only_one_patient_is_the_account_holder(api):
    api.login()
    api.add_patient(relation="self")
    status, body = api.call(
        "POST", "/patients", {"name": "王芳", "id_number": f.id_number(), "phone": "13912345678", "relation": "self"}
    )
    assert (status, body["code"], body["field"]) == (409, "patient.self_exists", "relation")


def test_an_account_manages_at_most_eight_patients(api):
    api.login()
    for i in range(8):
        api.add_patient(relation="self" if i == 0 else "child")
    status, body = api.call(
        "POST", "/patients", {"name": "王芳", "id_number": f.id_number(), "phone": "13912345678", "relation": "child"}
    )
    assert (status, body["code"]) == (409, "patient.limit")
    assert Patient.objects.count() == 8


@pytest.mark.django_db(transaction=True)
def test_parallel_adds_never_exceed_eight_patients():
    client = f.Api().login()
    for _ in range(6):
        client.add_patient(relation="child")
    token = client.token
    results: list[int] = []
    start = threading.Barrier(6)

    def add() -> None:
        try:
            own = f.Api()
            own.token = token
            start.wait()
            body = {"name": "王芳", "id_number": f.id_number(), "phone": "13912345678", "relation": "child"}
            results.append(own.call("POST", "/patients", body)[0])
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=add) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 201, 409, 409, 409, 409]
    assert Patient.objects.filter(account_id=client.account_id).count() == 8


def test_another_accounts_patients_are_invisible(api):
    other = f.Api().login()
    theirs = other.add_patient()
    api.login()
    assert api.call("GET", "/patients")[1] == []
    status, body = api.call("POST", "/holds", {"schedule_id": "1", "patient_id": theirs})
    assert status == 404


@pytest.mark.parametrize(
    "name",
    ["张伟", "欧阳娜娜", "阿依古丽·买买提", "𠮷田", "John Smith", "Anne-Marie O'Neil", "José García"],
)
def test_real_names_in_chinese_characters_or_latin_letters_are_taken(api, name):
    api.login()
    status, body = api.call("POST", "/patients", {"name": name, "id_number": f.id_number(), "phone": "13912345678"})
    assert (status, body["name"]) == (201, name), body


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("张", "fewer than two"),
        ("张" * 51, "longer than 50"),
        ("张伟\x00", "U+0000"),
        ("张伟😀", "😀"),
        ("张\u202e伟", "U+202E"),  # a right-to-left override
        ("\ufeff张伟", "U+FEFF"),  # a byte-order mark
        ("<script>", "<"),
        ("张伟2", "2"),
    ],
)
def test_a_name_no_id_card_carries_is_refused_saying_why_and_nothing_is_added(name, reason):
    api = f.Api(language="en").login()
    status, body = api.call("POST", "/patients", {"name": name, "id_number": f.id_number(), "phone": "13912345678"})
    assert (status, body["code"], body["field"]) == (422, "patient.name_invalid", "name")
    assert reason in body["detail"], body
    assert Patient.objects.count() == 0


@pytest.mark.parametrize("birth", ["18000101", "20300101"])
def test_an_id_number_with_an_impossible_birth_date_is_refused(api, birth):
    api.login()
    number = f.id_number(birth)
    status, body = api.call("POST", "/patients", {"name": "张伟", "id_number": number, "phone": "13912345678"})
    assert (status, body["code"], body["field"]) == (422, "patient.id_number_invalid", "id_number")
    assert Patient.objects.count() == 0


def test_the_reason_a_name_is_refused_reads_in_chinese_by_default(api):
    api.login()
    status, body = api.call(
        "POST", "/patients", {"name": "张" * 60, "id_number": f.id_number(), "phone": "13912345678"}
    )
    assert (status, body["detail"]) == (422, "姓名不能超过 50 个字符。")
