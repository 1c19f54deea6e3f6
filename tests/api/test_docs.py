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
