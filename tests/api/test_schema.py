"""The OpenAPI document tells the truth: schemathesis sends every operation requests made from
its schema (valid ones and ones that break it) and checks each answer against the document —
no server error, every status and media type documented, answers that match their schema,
valid requests accepted and invalid ones refused.

Bounded for CI (``GUAHAO_SCHEMA_EXAMPLES`` examples per operation, 5 unless told; the order is
fixed, so a run is repeatable). A longer run: ``GUAHAO_SCHEMA_EXAMPLES=300 .venv/bin/pytest
tests/api/test_schema.py`` (README, "The API's schema, checked").

What a schema cannot say is named by a format the document defines in each field's description
(``cn-mobile``, ``cn-ric``, ``real-name``); the strategies below make valid values of each, as a
client would.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from stdnum.cn import ric

from guahao.accounts.roles import Role
from guahao.accounts.services import staff_token_create
from guahao.wsgi import application
from tests import factories as f

EXAMPLES = int(os.environ.get("GUAHAO_SCHEMA_EXAMPLES", "5"))


def _resident_id(born: dt.date, serial: int) -> str:
    body = f"110105{born:%Y%m%d}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # the last character is where the check digit goes


schemathesis.openapi.format(
    "cn-ric", st.builds(_resident_id, st.dates(dt.date(1930, 1, 1), dt.date(2020, 12, 31)), st.integers(0, 999))
)
schemathesis.openapi.format(
    "cn-mobile",
    st.builds(
        lambda prefix, rest: f"{prefix}{rest:08d}",
        st.sampled_from(["138", "139", "150", "186", "177"]),
        st.integers(0, 10**8 - 1),
    ),
)
# A day (``YYYY-MM-DD``) is one from 1900 to 2199, as its description says: a year past 9999 would
# be reached by counting days on from one near it.
schemathesis.openapi.format("date", st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)).map(lambda d: d.isoformat()))
schemathesis.openapi.format(
    "real-name", st.sampled_from(["张伟", "李秀英", "阿依古丽·买买提", "Anna Smith", "欧阳娜娜"])
)

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# Query parameters the API does not know are ignored, as HTTP clients expect (a newer client's
# parameter reaches an older server): not sent here.
schema.config.generation.update(allow_extra_parameters=False)

# Request shapes the document gives are not refused as such: a request its schema allows may be
# refused only by a rule of the operation (a range of days, a check digit, a hold's limits),
# named by a code the operation's document lists — never as a malformed or invalid request.
FOR_ANY_REQUEST = {"request.invalid", "request.malformed"}


def _refused_only_by_a_documented_rule(case, response) -> None:  # type: ignore[no-untyped-def]
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code < 400:
        return
    if response.status_code in (401, 403, 404, 409, 429):
        return
    code = response.json().get("code")
    listed = case.operation.definition.raw.get("description", "")
    assert code not in FOR_ANY_REQUEST and f"`{code}`" in listed, (
        f"{case.operation.label}: a request its schema allows was refused {response.status_code} {code}: "
        f"{response.text[:300]}"
    )


@pytest.fixture
def tokens(db):
    """A patient with a family member and a clinic to book, and a hospital admin of its hospital.
    Requests go straight to the WSGI application inside the test's transaction: the end of a
    request must not close that connection at its start or end (Django's own test client does the same)."""
    h = f.hospital()
    dep = f.department(h)
    f.schedule(dep, f.doctor(dep))
    patient = f.Api().login()
    patient.add_patient()
    staff = staff_token_create(user=f.staff_member("schema-admin", Role.HOSPITAL_ADMIN, h), label="schema")
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)  # after the test client, which connects them again
    yield {"patient": patient.token, "staff": staff}
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_every_operation_answers_as_its_document_says(case, tokens):
    token = tokens["staff"] if case.operation.path.startswith("/api/v1/staff") else tokens["patient"]
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, excluded_checks=[positive_data_acceptance]
    )
    _refused_only_by_a_documented_rule(case, response)
