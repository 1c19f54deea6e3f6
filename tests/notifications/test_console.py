"""The console: dead letters listed and sent again (by whom is kept); a hospital words a kind its
own way, checked when saved and previewed in both languages; its senders' settings."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from guahao.notifications.models import HospitalChannels, Message, MessageTemplate
from tests import factories as f
from tests.notifications.conftest import worker

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]


def console_of(username: str, role: str, hospital) -> Client:
    f.staff_member(username, role, hospital)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert client.login(username=username, password="pw-for-tests")
    return client


def test_dead_letters_are_listed_and_an_operator_sends_them_again(everywhere):
    everywhere.wechat.subscribed.clear()
    everywhere.book()
    worker()
    dead = Message.objects.get(channel="wechat")
    assert dead.status == "failed"
    url = reverse("admin:notifications_message_changelist")

    viewer = console_of("viewer", "viewer", everywhere.hospital)
    listing = viewer.get(url + "?given_up=yes")
    assert list(listing.context["cl"].queryset) == [dead]
    viewer.post(url, {"action": "send_again", "_selected_action": [dead.pk]})
    dead.refresh_from_db()
    assert (dead.status, dead.resent_by) == ("failed", "")  # a viewer changes nothing

    everywhere.wechat.subscribed.add("oPatient0123456789abcdefghij")  # the patient accepted the messages
    operator = console_of("desk", "operator", everywhere.hospital)
    done = operator.post(url, {"action": "send_again", "_selected_action": [dead.pk]}, follow=True)
    assert "已重新发起: 1" in done.content.decode()
    dead.refresh_from_db()
    assert (dead.status, dead.resent_by) == ("sent", "desk")
    assert len(everywhere.wechat.sent) == 1
    assert operator.get(url + "?given_up=yes").context["cl"].queryset.count() == 0
    page = operator.get(reverse("admin:notifications_message_change", args=[dead.pk])).content.decode()
    assert "预约成功" in page and everywhere.account.phone not in page


def test_a_hospital_words_a_kind_its_own_way_checked_when_saved_and_previewed(everywhere):
    everywhere.book()
    worker()
    assert everywhere.api.call("GET", "/messages")[1][0]["title"] == "预约成功"  # built in
    admin = console_of("boss", "hospital_admin", everywhere.hospital)
    add = reverse("admin:notifications_messagetemplate_add")
    form = {"hospital": everywhere.hospital.pk, "kind": "registration.booked", "language": "zh-hans"}
    refused = admin.post(add, form | {"title": "挂号成功", "body": "{department} {docter} 就诊序号 {slot}"})
    assert refused.status_code == 200 and "{docter}" in refused.content.decode()
    assert not MessageTemplate.objects.exists()

    admin.post(add, form | {"title": "挂号成功", "body": "{department} {doctor}，就诊序号 {slot}。祝早日康复。"})
    assert MessageTemplate.objects.count() == 1
    [message] = everywhere.api.call("GET", "/messages")[1]  # worded when read: the new wording at once
    assert (message["title"], message["body"]) == ("挂号成功", "心血管内科 王建华，就诊序号 1。祝早日康复。")
    everywhere.api.language = "en"
    assert everywhere.api.call("GET", "/messages")[1][0]["title"] == "Registration booked"  # English: built-in

    preview = admin.get(reverse("admin:notifications_messagetemplate_preview")).content.decode()
    assert "心血管内科 王建华，就诊序号 3。祝早日康复。" in preview  # the hospital's own, with example facts
    assert "Renhe Hospital Cardiology Wang Jianhua, 2026-11-23 08:00, visit number 3" in preview
    assert "blacklist.barred" in preview and "waitlist.offered" in preview


def test_a_hospital_s_senders_are_checked_and_its_wechat_secret_kept_sealed(everywhere):
    config = HospitalChannels.objects.get(hospital=everywhere.hospital)
    admin = console_of("boss", "hospital_admin", everywhere.hospital)
    url = reverse("admin:notifications_hospitalchannels_change", args=[config.pk])
    form = {
        "hospital": everywhere.hospital.pk,
        "sms_sign_name": "仁和医院",
        "wechat_app_id": config.wechat_app_id,
        "wechat_templates": "{}",
        "reminder_time": "19:30",
    }
    refused = admin.post(
        url, form | {"sms_templates": '{"registration.booked": {"code": "SMS_1", "params": {"a": "{when}"}}}'}
    )
    assert refused.status_code == 200 and "{when}" in refused.content.decode()
    assert HospitalChannels.objects.get(pk=config.pk).reminder_time is None  # nothing changed

    done = admin.post(
        url,
        form
        | {
            "sms_templates": '{"registration.booked": {"code": "SMS_1", "params": {"a": "{date} {time}"}}}',
            "new_wechat_secret": "a-new-secret-0123456789",
        },
    )
    assert done.status_code == 302
    config.refresh_from_db()
    assert config.sms_templates == {"registration.booked": {"code": "SMS_1", "params": {"a": "{date} {time}"}}}
    assert config.wechat_secret() == "a-new-secret-0123456789"
    assert "a-new-secret-0123456789" not in config.wechat_secret_sealed
    assert "a-new-secret-0123456789" not in admin.get(url).content.decode()
