"""The in-app inbox and what patients choose: unread count, mark read, links to the registration
or hold; channels turned off except for service messages; the language of pushed messages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from guahao.booking import services as booking
from guahao.his import services as his
from guahao.notifications import services as notifications
from guahao.notifications.models import Message, Preferences
from tests import factories as f
from tests.notifications.conftest import EMAIL, worker
from tests.web.test_pages import Browser

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]


def test_unread_count_mark_one_and_all_read(everywhere):
    registration = everywhere.book()
    everywhere.api.call("POST", f"/registrations/{registration.pk}/cancel", {})
    worker()
    api = everywhere.api
    _, inbox = api.call("GET", "/messages")
    assert [m["kind"] for m in inbox] == ["registration.cancelled", "blacklist.barred", "registration.booked"]
    assert api.call("GET", "/messages/unread") == (200, {"unread": 3})

    status, one = api.call("POST", f"/messages/{inbox[2]['id']}/read")
    assert (status, one["read"], one["registration_id"], one["link"]) == (
        200,
        True,
        str(registration.pk),
        f"/registrations/{registration.pk}/",
    )
    assert api.call("GET", "/messages/unread")[1] == {"unread": 2}
    assert api.call("POST", "/messages/read") == (200, {"marked": 2})
    assert api.call("GET", "/messages/unread")[1] == {"unread": 0}
    assert api.call("POST", "/messages/read") == (200, {"marked": 0})


def test_another_account_s_message_is_not_found_and_stays_unread(everywhere):
    everywhere.book()
    worker()
    mine = everywhere.api.call("GET", "/messages")[1][0]
    other = f.Api().login()
    assert other.call("POST", f"/messages/{mine['id']}/read")[0] == 404
    assert other.call("GET", "/messages") == (200, [])
    sms = Message.objects.get(channel="sms")
    assert other.call("POST", f"/messages/{sms.pk}/read")[0] == 404  # only inbox messages are read
    assert everywhere.api.call("GET", "/messages/unread")[1] == {"unread": 1}


def test_a_message_about_a_hold_links_to_the_hold(everywhere):
    hold = everywhere.hold()  # the hold path writes its event
    worker()
    [message] = everywhere.api.call("GET", "/messages")[1]
    assert (message["hold_id"], message["registration_id"], message["link"]) == (
        hold["id"],
        None,
        f"/holds/{hold['id']}/",
    )


def test_channels_turned_off_are_not_used_but_service_messages_go_everywhere(everywhere):
    api = everywhere.api
    status, prefs = api.call("PUT", "/messages/preferences", {"sms": False, "wechat": False, "email": False})
    assert status == 200 and (prefs["sms"], prefs["wechat"], prefs["email"], prefs["email_address"]) == (
        False,
        False,
        False,
        EMAIL,
    )
    assert "schedule.suspended" in prefs["service_messages"] and "registration.booked" not in prefs["service_messages"]
    everywhere.book()
    worker()
    assert list(Message.objects.filter(kind="registration.booked").values_list("channel", flat=True)) == ["inbox"]

    desk = booking.Actor.staff(get_user_model().objects.create_user("desk", is_staff=True))
    his.schedule_suspend(schedule=everywhere.schedule, reason="医生外出会诊", actor=desk)
    worker()
    told = sorted(Message.objects.filter(kind="schedule.suspended").values_list("channel", flat=True))
    assert told == ["email", "inbox", "sms", "wechat"]


def test_a_bad_address_or_language_is_refused_and_changes_nothing(everywhere):
    api = everywhere.api
    status, problem = api.call("PUT", "/messages/preferences", {"email_address": "not-an-address", "sms": False})
    assert (status, problem["code"], problem["field"]) == (422, "request.invalid", "email_address")
    status, problem = api.call("PUT", "/messages/preferences", {"language": "fr"})
    assert (status, problem["field"]) == (422, "language")
    prefs = Preferences.objects.get(account=everywhere.account)
    assert (prefs.sms, prefs.email_address, prefs.language) == (True, EMAIL, "zh-hans")


def test_pushed_messages_are_in_the_language_the_patient_chose(everywhere, capsys, mailoutbox):
    everywhere.api.call("PUT", "/messages/preferences", {"language": "en"})
    everywhere.book()
    worker()
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("[sms]") and "验证码" not in x]
    assert f"Registration booked: {everywhere.hospital.name_en} Cardiology 王建华, " in line
    assert mailoutbox[0].subject == f"Registration booked - {everywhere.hospital.name_en}"


def test_the_messages_page_links_each_message_and_saves_the_channels(everywhere):
    registration = everywhere.book()
    worker()
    browser = Browser().login(everywhere.account.phone)
    html = browser.get("/messages/")
    assert f'href="/registrations/{registration.pk}/"' in html and "查看挂号" in html
    browser.post("/messages/", {"sms": "on", "email_address": "new@example.com", "language": "en"})
    prefs = Preferences.objects.get(account=everywhere.account)
    assert (prefs.sms, prefs.wechat, prefs.email, prefs.email_address, prefs.language) == (
        True,
        False,
        False,
        "new@example.com",
        "en",
    )
    refused = browser.post("/messages/", {"email_address": "not-an-address"}, status=422)
    # as typed, to be corrected there
    assert 'name="email_address" value="not-an-address" autocomplete="email" class="invalid"' in refused
    assert Preferences.objects.get(account=everywhere.account).email_address == "new@example.com"  # unchanged


def test_a_cancellation_at_a_free_hospital_says_nothing_was_paid_not_that_money_goes_back(everywhere):
    registration = everywhere.book()  # the hospital takes nothing online
    assert everywhere.api.call("POST", f"/registrations/{registration.pk}/cancel", {})[0] == 200
    worker()
    told = Message.objects.get(account=everywhere.account, channel="inbox", kind="registration.cancelled")
    text = notifications.message_text(told, "zh-hans")[1]
    assert text.endswith("本次挂号未付费。") and "退回" not in text, text
    assert notifications.message_text(told, "en")[1].endswith("; nothing was paid.")
