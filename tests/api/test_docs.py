"""The browsable API documentation loads nothing from outside (a hospital network may block it)."""

from __future__ import annotations

import re

from django.test import Client


def test_the_api_docs_page_loads_swagger_ui_from_our_own_static_files():
    page = Client().get("/api/v1/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(s.endswith("swagger-ui-bundle.js") for s in sources), sources
    assert [s for s in sources if s.startswith(("http:", "https:", "//"))] == []
    assert Client().get(next(s for s in sources if s.endswith("swagger-ui-bundle.js"))).status_code == 200


def test_the_openapi_document_says_every_refusal_is_problem_json():
    document = Client().get("/api/v1/openapi.json").json()
    refusals = [
        (path, method, status, sorted(answer["content"]))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status[0] in "45" and "content" in answer
    ]
    assert refusals, "the API documents its refusals"
    assert [r for r in refusals if r[3] != ["application/problem+json"]] == []
