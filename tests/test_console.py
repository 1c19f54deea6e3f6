"""Every console page opens for platform staff, in both languages."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client

from tests import factories as f


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_console_list_opens(language):
    h = f.hospital(payment_required=True)
    f.schedule(f.department(h))
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE=language)
    console.login(username="ops", password="pw-for-tests")
    assert console.get("/console/").status_code == 200
    for model in admin.site._registry:
        url = f"/console/{model._meta.app_label}/{model._meta.model_name}/"
        response = console.get(url)
        assert response.status_code == 200, (url, response.status_code)
