"""A message is sent once whatever the worker does: fails, runs on two workers at once, or is
killed (kill -9) between its claim and the send, or between the send and its record."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from guahao.accounts.models import Account
from guahao.core import clock
from guahao.notifications import delivery
from guahao.notifications import services as notifications
from guahao.notifications.models import HospitalChannels, Message, WechatLink
from tests import factories as f
from tests.booking.test_concurrency import race
from tests.crash import CrashPoints
from tests.notifications.conftest import OPENID, wechat_everything, worker
from tests.processes import free_port

pytestmark = pytest.mark.clock("10:00")


def wechat_of(everywhere) -> Message:
    return Message.objects.get(account=everywhere.account, kind="registration.booked", channel="wechat")


@pytest.mark.django_db
def test_a_failing_channel_is_tried_again_with_back_off_then_given_up_and_sent_again_by_staff(everywhere):
    everywhere.wechat.fail_next = [-1] * delivery.MAX_ATTEMPTS  # "system busy", six times
    everywhere.book()
    started = clock.now()

    worker()
    message = wechat_of(everywhere)
    assert (message.status, message.attempts, message.last_error) == ("pending", 1, "wechat errcode -1")
    assert message.next_at == message.claimed_at + dt.timedelta(seconds=30)
    assert worker() == {} and wechat_of(everywhere).attempts == 1  # not due again yet

    waits = []
    while wechat_of(everywhere).status == "pending":
        message = wechat_of(everywhere)
        waits.append(round((message.next_at - message.claimed_at).total_seconds()))
        with clock.travel(message.next_at):
            worker()
    assert waits == [30, 120, 600, 1800, 3600]
    message = wechat_of(everywhere)
    assert (message.status, message.attempts) == ("failed", 6)
    assert list(Message.objects.filter(delivery.dead_letters())) == [message]
    assert everywhere.wechat.sent == []
    assert clock.now() - started < dt.timedelta(minutes=1)  # the clock moved only inside the travels

    again = notifications.message_send_again(message=message, by="desk")
    assert (again.status, again.resent_by, again.attempts) == ("sent", "desk", 1)
    assert [m["template_id"] for m in everywhere.wechat.sent] == ["T-registration.booked"]
    assert not Message.objects.filter(delivery.dead_letters()).exists()


@pytest.mark.django_db
def test_a_provider_that_cannot_be_reached_uses_up_no_try_until_the_outage_outlasts_the_patience(everywhere, settings):
    settings.WECHAT_API_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens: the outside is down
    everywhere.book()
    worker()
    message = wechat_of(everywhere)
    assert (message.status, message.attempts) == ("pending", 0)
    assert message.last_error.startswith("wechat unreachable")
    assert message.next_at == message.claimed_at + delivery.OUTAGE_RETRY
    tries = 0
    while wechat_of(everywhere).status == "pending" and tries < 2 * delivery.MAX_ATTEMPTS:
        with clock.travel(wechat_of(everywhere).next_at):
            worker()
        tries += 1
    assert (wechat_of(everywhere).status, wechat_of(everywhere).attempts) == ("pending", 0)  # more tries than it has

    with clock.travel(message.created_at + delivery.OUTAGE_PATIENCE):
        worker()
    message = wechat_of(everywhere)
    assert message.status == "failed" and message.attempts == 1  # given up on: staff see it
    assert list(Message.objects.filter(delivery.dead_letters())) == [message]


@pytest.mark.django_db
def test_a_refusal_that_no_retry_can_change_is_a_dead_letter_at_once(everywhere):
    everywhere.wechat.subscribed.clear()  # the patient never accepted the hospital's messages
    everywhere.book()
    worker()
    message = wechat_of(everywhere)
    assert (message.status, message.attempts, message.last_error) == ("failed", 1, "wechat errcode 43101")


@pytest.mark.django_db
def test_only_a_message_given_up_can_be_sent_again(everywhere):
    everywhere.book()
    worker()
    sent = wechat_of(everywhere)
    with pytest.raises(Exception) as refused:
        notifications.message_send_again(message=sent, by="desk")
    assert refused.value.as_dict()["code"] == "message.not_resendable"
    sent.refresh_from_db()
    assert (sent.status, sent.resent_by, len(everywhere.wechat.sent)) == ("sent", "", 1)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_message_once(everywhere):
    accounts = []
    for _ in range(8):
        account = f.account()
        WechatLink.objects.create(
            account=account, app_id=everywhere.wechat.app_id, openid=f"o{account.pk:027d}", linked_at=clock.now()
        )
        everywhere.wechat.subscribed.add(f"o{account.pk:027d}")
        accounts.append(account)
        with transaction.atomic():
            notifications.notice(
                account_id=account.pk,
                kind="blacklist.lifted",
                key=f"test:{account.pk}",
                hospital_id=everywhere.hospital.pk,
                facts={"hospital": everywhere.hospital.name, "patient": "李秀英"},
            )

    results = race([delivery.messages_send_due for _ in range(4)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.get("sent", 0) for r in results) == 8 * 2  # WeChat and SMS of each
    assert sorted(m["touser"] for m in everywhere.wechat.sent) == sorted(f"o{a.pk:027d}" for a in accounts)
    assert set(Message.objects.exclude(channel="inbox").values_list("status", "attempts")) == {("sent", 1)}


POINTS = {
    "before_send": "guahao.notifications.channels.wechat:WechatSubscription.send",
    "before_record": "guahao.notifications.delivery:_record_sent",
}


def killed_worker(crash_points: CrashPoints, where: str) -> None:
    """A worker in its own process, killed with SIGKILL once it reaches ``where``."""
    # Quiet hours off: whatever hour the test runs at, the SMS goes now.
    with crash_points.job(
        "guahao.notifications.delivery:messages_send_due", POINTS[where], overrides={"SMS_QUIET_HOURS": None}
    ):
        pass


def _due_long_ago() -> None:
    # Due whatever the hour.
    Message.objects.exclude(channel="inbox").update(next_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_between_its_claim_and_the_send_leaves_the_message_to_the_next_one_which_sends_it_once(
    wechat, crash_points
):
    h = f.hospital()
    wechat_everything(h, wechat)
    account = f.account()
    WechatLink.objects.create(account=account, app_id=wechat.app_id, openid=OPENID, linked_at=clock.now())
    wechat.subscribed.add(OPENID)
    with transaction.atomic():
        notifications.notice(
            account_id=account.pk, kind="blacklist.lifted", key="test", hospital_id=h.pk, facts={"hospital": h.name}
        )
    Message.objects.filter(channel="sms").delete()  # WeChat's alone here
    _due_long_ago()

    killed_worker(crash_points, "before_send")

    message = Message.objects.get(channel="wechat")
    assert (message.status, message.attempts, wechat.sent) == ("sending", 1, [])  # claimed, never sent
    # Its claim holds while the dead worker might still send: asked just after the claim, nothing.
    with clock.travel(message.claimed_at + dt.timedelta(seconds=1)):
        assert worker() == {} and wechat.sent == []
    with clock.travel(message.claimed_at + delivery.LEASE + dt.timedelta(seconds=1)):
        assert worker() == {"sent": 1}
        assert worker() == {}
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert [m["touser"] for m in wechat.sent] == [OPENID]  # once


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_aliyun_took_the_sms_but_before_recording_it_does_not_make_it_send_twice(
    aliyun, crash_points
):
    h = f.hospital()
    HospitalChannels.objects.create(
        hospital=h,
        sms_sign_name="仁和医院",
        sms_templates={"blacklist.lifted": {"code": "SMS_LIFTED", "params": {"hospital": "{hospital}"}}},
    )
    aliyun.templates["SMS_LIFTED"] = ["hospital"]
    account = f.account()
    with transaction.atomic():
        notifications.notice(
            account_id=account.pk, kind="blacklist.lifted", key="test", hospital_id=h.pk, facts={"hospital": h.name}
        )
    _due_long_ago()

    killed_worker(crash_points, "before_record")

    message = Message.objects.get(channel="sms")
    assert message.status == "sending" and [s["out_id"] for s in aliyun.sent] == [f"guahao-{message.pk}"]
    with clock.travel(message.claimed_at + delivery.LEASE + dt.timedelta(seconds=1)):
        assert worker() == {"sent": 1}  # Aliyun has it (QuerySendDetails by our OutId): recorded
    message.refresh_from_db()
    assert (message.status, message.provider_ref) == ("sent", f"out_id:guahao-{message.pk}")
    assert len(aliyun.sent) == 1  # the patient got one SMS
    assert Account.objects.get(pk=account.pk).phone == aliyun.sent[0]["phone"]
