"""The patient web app answers with a Content-Security-Policy that allows our own files alone,
and none of its pages needs more (the browser journey in test_browser.py listens for what the
policy refuses). The console (django-unfold) has its own, looser in two named ways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from tests import factories as f
from tests.web.test_browser import chromium  # noqa: F401 - the phone-sized Chromium fixture

TEMPLATES = Path(__file__).resolve().parents[2] / "guahao" / "web" / "templates"


def _policy(header: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split("; ")}


@pytest.mark.django_db
def test_patient_pages_allow_only_their_own_scripts_and_styles():
    h = f.hospital()
    for path in ("/", f"/hospitals/{h.pk}/", "/login/", "/api/v1/docs"):
        answer = Client().get(path)
        assert answer.status_code == 200, path
        policy = _policy(answer["Content-Security-Policy"])
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", path
        assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'self'"


@pytest.mark.django_db
def test_the_console_alone_allows_alpines_eval_and_unfolds_style_attributes():
    f.staff_member("renhe", "viewer", f.hospital())
    console = Client()
    assert console.login(username="renhe", password="pw-for-tests")
    policy = _policy(console.get("/console/")["Content-Security-Policy"])
    assert policy["script-src"] == "'self' 'unsafe-eval'"  # still no inline <script>, nothing from elsewhere
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"


def test_no_template_of_the_patient_app_carries_an_inline_script_style_or_handler():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\ssrc=)[^>]*>", r"\sstyle=", r"<style", r"\son[a-z]+=", r"javascript:"):
            found += [f"{template.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []


@pytest.mark.django_db(transaction=True)
def test_console_pages_need_nothing_beyond_their_policy(chromium, live_server):  # noqa: F811 - the fixture
    f.staff_member("renhe", "hospital_admin", f.hospital())
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", "renhe")
    page.fill("#id_password", "pw-for-tests")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/console/$"))
    for path in ("/console/", "/console/booking/registration/", "/console/stats/", "/console/accounts/patient/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    context.close()
    assert refused == []
