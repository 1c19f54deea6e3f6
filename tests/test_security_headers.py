"""What a browser is told about cookies and transport, outside the demo."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories as f


@pytest.mark.django_db
def test_session_cookies_go_over_https_only_and_https_answers_carry_hsts():
    f.staff_member("renhe", "viewer", f.hospital())
    answer = Client().post("/console/login/", {"username": "renhe", "password": "pw-for-tests"}, secure=True)
    session = answer.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert answer["Strict-Transport-Security"] == "max-age=31536000"
    assert answer["X-Frame-Options"] == "DENY" and answer["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in Client().get("/healthz")  # never over plain HTTP
