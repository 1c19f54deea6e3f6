"""A phone's API request (a bearer token, no cookie) skips the middleware that serves cookies
(``api.middleware.BearerLane``) and is answered with the same headers and language as any other."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories as f

pytestmark = pytest.mark.django_db

SHOWN = ("Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


def _asked(client: Client, token: str, path: str, language: str = "en"):  # type: ignore[no-untyped-def]
    return client.get(
        "/api/v1" + path, secure=True, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=language
    )


def test_a_phone_is_told_the_same_headers_and_language_as_a_browser_with_cookies():
    patient = f.Api().login()
    assert patient.token is not None
    phone = _asked(Client(), patient.token, "/patients")  # no cookie: the lane
    browser = Client()
    browser.cookies["csrftoken"] = "x" * 32  # a cookie: the whole chain
    web = _asked(browser, patient.token, "/patients")
    assert phone.status_code == web.status_code == 200
    for header in (*SHOWN, "Content-Security-Policy", "Content-Language"):
        assert phone.get(header) == web.get(header), header
    assert phone["Strict-Transport-Security"] == "max-age=31536000"
    assert phone["X-Frame-Options"] == "DENY" and phone["X-Content-Type-Options"] == "nosniff"
    assert "default-src" in phone["Content-Security-Policy"]
    assert phone["Content-Language"] == "en"


def test_a_phone_s_refusal_is_in_its_language_with_the_field_named():
    patient = f.Api().login()
    assert patient.token is not None
    for language, title in (("en", "Not found"), ("zh-hans", None)):
        answer = _asked(Client(), patient.token, "/patients/999999", language)
        body = answer.json()
        assert answer.status_code == 404 and answer["Content-Type"].startswith("application/problem+json")
        assert (body["title"] == title) if title else (body["title"] != "Not found" and body["title"])
    assert _asked(Client(), "not-a-token", "/patients").status_code == 401
