"""The web app's frame: branded error pages in both languages, a favicon and a web app manifest,
search first on a hospital's page, registrations grouped with the upcoming ones first."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from guahao.accounts import consent, phones
from guahao.accounts.models import Account
from guahao.booking import services as booking
from guahao.scheduling.models import RuleSet
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("language", "says"), [("zh-hans", "没有找到这个页面"), ("en", "This page does not exist")])
def test_an_unknown_page_is_ours_in_the_readers_language(language, says):
    browser = Browser(language)
    html = browser.get("/hospitals/999999/", status=404)
    assert says in html and "web/app.css" in html
    assert html.count("<html") == 1 and "Not Found" not in html


def test_the_favicon_and_the_manifest_are_served():
    client = Client()
    icon = client.get("/favicon.ico", follow=True)
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
    page = client.get("/").content.decode()
    assert 'rel="manifest"' in page and 'rel="icon"' in page
    manifest = client.get("/static/web/manifest.webmanifest")
    data = json.loads(b"".join(manifest.streaming_content))
    assert data["start_url"] == "/" and data["icons"][0]["src"] == "icon.svg"


def test_search_comes_before_the_notice_and_cancelling_until_the_visit_is_not_0_hours():
    h = f.hospital(cancel_policy="hours_before", cancel_hours_before=0)
    h.notice = "请携带身份证原件就诊。"
    h.save()
    html = Browser().get(f"/hospitals/{h.pk}/")
    assert html.index('role="search"') < html.index("请携带身份证原件就诊。")
    assert "就诊开始前均可在线取消。" in html and "0 小时" not in html


@pytest.mark.clock("10:00")
def test_registrations_are_grouped_with_the_soonest_upcoming_first():
    browser = Browser("en").login()
    browser.post(
        "/patients/",
        {
            "consent_version": consent.TEXT_VERSION,
            "name": "张伟",
            "id_number": f.id_number(),
            "phone": browser.phone,
            "relation": "self",
        },
    )
    h = f.hospital()
    RuleSet.objects.filter(hospital=h).update(max_per_account_hospital_day=5)
    account = Account.objects.get(phones.matching(browser.phone))
    patient = account.patients.get()
    deps = [f.department(h, name=n) for n in ("内科", "外科", "眼科")]
    later = f.schedule(deps[0], day=f.today() + dt.timedelta(days=3))
    sooner = f.schedule(deps[1], day=f.today() + dt.timedelta(days=1))
    gone = f.schedule(deps[2], day=f.today() + dt.timedelta(days=2))
    booked = {}
    for name, s in (("later", later), ("sooner", sooner), ("gone", gone)):
        booked[name] = booking.hold_confirm(hold=booking.hold_create(account=account, patient=patient, schedule=s))
    booking.registration_cancel(registration=booked["gone"], actor=booking.Actor.patient(account))
    html = browser.get("/registrations/")
    upcoming = html.split('id="upcoming"')[1].split('id="past"')[0]
    past = html.split('id="past"')[1]
    assert upcoming.index(f"/registrations/{booked['sooner'].pk}/") < upcoming.index(
        f"/registrations/{booked['later'].pk}/"
    )
    assert f"/registrations/{booked['gone'].pk}/" in past and f"/registrations/{booked['gone'].pk}/" not in upcoming


@pytest.mark.parametrize(
    ("language", "says"), [("zh-hans", "系统出了点问题"), ("en", "Something went wrong on our side")]
)
def test_a_server_error_is_ours_in_the_readers_language(language, says):
    from django.test import RequestFactory
    from django.utils import translation
    from django.views.defaults import server_error

    with translation.override(language):
        response = server_error(RequestFactory().get("/registrations/"))
    html = response.content.decode()
    assert response.status_code == 500 and says in html and "web/app.css" in html
    assert "<script" not in html and "style=" not in html
