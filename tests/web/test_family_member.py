"""Adding a family member on the patients page: a refusal is read where the page opens."""

from __future__ import annotations

import re

import pytest

from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def test_a_refused_family_member_shows_the_reason_where_the_page_opens_naming_the_guardian():
    from guahao.accounts import consent
    from guahao.accounts.models import Patient

    browser = Browser().login()
    browser.add_self()
    child = {
        "name": "张小明",
        "id_number": f.id_number("20190101"),
        "phone": browser.phone,
        "relation": "child",
        "guardian_name": "X",
        "guardian_relation": "parent",
        "consent_version": consent.TEXT_VERSION,
    }
    html = browser.post("/patients/", child, status=422)
    assert 'action="/patients/#problem"' in html  # the page opens at the reason, not below the list
    problem = re.search(r'<div class="problem" role="alert" id="problem".*?</div>', html, re.S).group(0)
    assert "监护人姓名：" in problem and "至少应有两个字" in problem
    assert not Patient.objects.filter(name="张小明").exists()
