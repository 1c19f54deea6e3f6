"""A patient using the app in English gets their text messages in English, until they choose."""

from __future__ import annotations

import pytest

from guahao.notifications import services as notifications
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def _language(browser: Browser) -> str:
    from guahao.accounts import phones
    from guahao.accounts.models import Account

    return notifications.preferences_of(Account.objects.get(phones.matching(browser.phone))).language


def test_messages_follow_the_apps_language_until_the_patient_chooses_theirs():
    english = Browser(language="en").login()
    assert _language(english) == "en"  # signed in using the app in English

    chinese = Browser().login()
    assert _language(chinese) == "zh-hans"
    chinese.client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert _language(chinese) == "en"  # switched while signed in

    chooser = Browser().login()
    chooser.post("/messages/", {"language": "zh-hans", "sms": "on"})  # chosen on the messages page
    chooser.client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert _language(chooser) == "zh-hans"  # their choice stands
