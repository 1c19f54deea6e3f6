"""Logging in with a phone and an SMS code, and the limits that keep codes from being guessed."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts import phones
from guahao.accounts.models import Account, AuthToken
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_first_login_creates_the_account_and_the_token_works(api):
    number = f.phone()
    status, sent = api.call("POST", "/auth/sms-code", {"phone": number})
    assert status == 200 and sent["sent"] is True and len(sent["dev_code"]) == 6
    assert sent["expires_in"] == 300

    status, body = api.call("POST", "/auth/login", {"phone": number, "code": sent["dev_code"]})
    assert status == 200
    assert Account.objects.get(pk=body["account_id"]).phone == number
    api.token = body["token"]
    assert api.call("GET", "/patients")[0] == 200


def test_second_login_reaches_the_same_account(api):
    first = f.Api().login("13900001111")
    second = f.Api().login("+86 139-0000-1111")
    assert first.account_id == second.account_id
    assert Account.objects.filter(phones.matching("13900001111")).count() == 1


def test_a_code_works_once(api):
    number = f.phone()
    code = api.call("POST", "/auth/sms-code", {"phone": number})[1]["dev_code"]
    assert api.call("POST", "/auth/login", {"phone": number, "code": code})[0] == 200
    status, body = api.call("POST", "/auth/login", {"phone": number, "code": code})
    assert (status, body["code"]) == (401, "login.code_wrong")


def test_a_wrong_code_is_refused_and_creates_nothing(api):
    number = f.phone()
    code = api.call("POST", "/auth/sms-code", {"phone": number})[1]["dev_code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, body = api.call("POST", "/auth/login", {"phone": number, "code": wrong})
    assert (status, body["code"]) == (401, "login.code_wrong")
    assert not Account.objects.filter(phones.matching(number)).exists()
    assert AuthToken.objects.count() == 0


def test_after_five_wrong_codes_even_the_right_one_is_refused(api):
    number = f.phone()
    code = api.call("POST", "/auth/sms-code", {"phone": number})[1]["dev_code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert api.call("POST", "/auth/login", {"phone": number, "code": wrong})[0] == 401
    status, body = api.call("POST", "/auth/login", {"phone": number, "code": code})
    assert (status, body["code"]) == (429, "login.too_many_attempts")
    assert not Account.objects.filter(phones.matching(number)).exists()


def test_nothing_typed_is_asked_for_and_uses_none_of_the_codes_tries(api):
    status, body = api.call("POST", "/auth/sms-code", {"phone": " "})
    assert (status, body["code"], body["field"], body["detail"]) == (422, "phone.invalid", "phone", "请填写手机号。")
    # On the web app's login page, a code left empty is asked for; it is no wrong guess.
    from django.test import Client

    browser, number = Client(), f.phone()
    code = browser.post("/login/", {"phone": number, "step": "phone"}).context["dev_code"]
    for _ in range(6):
        page = browser.post("/login/", {"phone": number, "code": " ", "step": "code"}).content.decode()
        assert "请填写短信验证码。" in page
    assert browser.post("/login/", {"phone": number, "code": code, "step": "code", "next": "/"}).status_code == 302


def test_an_expired_code_is_refused(api):
    from guahao.core import clock

    number = f.phone()
    code = api.call("POST", "/auth/sms-code", {"phone": number})[1]["dev_code"]
    clock.advance(dt.timedelta(seconds=301))
    assert api.call("POST", "/auth/login", {"phone": number, "code": code})[1]["code"] == "login.code_wrong"


@pytest.mark.parametrize("number", ["12345", "1391234567", "0101234567", "abcdefghijk", "23912345678"])
def test_numbers_that_are_not_mainland_mobiles_are_refused_with_the_field(api, number):
    status, body = api.call("POST", "/auth/sms-code", {"phone": number})
    assert status == 422
    assert (body["code"], body["field"]) == ("phone.invalid", "phone")


def test_codes_cannot_be_requested_again_within_a_minute(api, ratelimits):
    number = f.phone()
    assert api.call("POST", "/auth/sms-code", {"phone": number})[0] == 200
    status, body = api.call("POST", "/auth/sms-code", {"phone": number})
    assert (status, body["code"]) == (429, "sms.too_soon")


def test_codes_per_phone_per_day_are_limited(api, ratelimits):
    from guahao.core import clock

    number = f.phone()
    statuses = []
    for _ in range(12):
        statuses.append(api.call("POST", "/auth/sms-code", {"phone": number})[0])
        clock.advance(dt.timedelta(seconds=61))
    assert statuses[:10] == [200] * 10
    status, body = api.call("POST", "/auth/sms-code", {"phone": number})
    assert (status, body["code"]) == (429, "sms.daily_limit")


def test_without_a_token_patient_paths_answer_401(api):
    status, body = api.call("GET", "/registrations")
    assert (status, body["code"]) == (401, "auth.required")
    api.token = "not-a-token"
    assert api.call("GET", "/patients")[0] == 401


@pytest.mark.django_db(transaction=True)
def test_twenty_requests_at_once_for_one_phone_send_one_code(ratelimits):
    import threading

    from django.db import close_old_connections, connection

    from guahao.accounts.models import SmsCode

    number = f.phone()
    start = threading.Barrier(20)
    answers: list[tuple[int, str]] = []

    def ask(n: int) -> None:
        try:
            client = f.Api()
            start.wait()
            status, body = client.call("POST", "/auth/sms-code", {"phone": number}, **{"X-Forwarded-For": str(n)})
            answers.append((status, body.get("code", "sent")))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [(200, "sent")] + [(429, "sms.too_soon")] * 19
    assert SmsCode.objects.filter(phones.matching(number)).count() == 1


def test_one_address_cannot_guess_codes_across_many_phones(ratelimits):
    web = f.Api()
    answers = [web.call("POST", "/auth/login", {"phone": f.phone(), "code": "000000"})[1]["code"] for _ in range(61)]
    assert answers[:60] == ["login.code_wrong"] * 60 and answers[60] == "rate_limited"
