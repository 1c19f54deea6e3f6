"""On-site resilience (seed 004: on-site booking, payment and check-in "不受外网网络影响"): with the
payment provider and the SMS provider stopped, the window books and takes cash, patients check
in, and a paid registration is cancelled at the window; what needs the outside (the online
refund, the patients' SMS) waits however long the outage lasts and is sent once it ends, each
thing once."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import pytest

from guahao.accounts.services import staff_token_create
from guahao.booking import services as booking
from guahao.booking.models import Registration
from guahao.core import clock, outbox
from guahao.notifications import delivery
from guahao.notifications.kinds import KINDS
from guahao.notifications.models import HospitalChannels, Message
from guahao.payments import services as payments
from guahao.payments.models import Refund
from tests import factories as f
from tests.notifications.fakes import Aliyun, AliyunHandler, serving
from tests.processes import FAST, PAYSIM_ENV, paysim_process, post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _fast(paysim_url: str) -> None:
    request = urllib.request.Request(f"{paysim_url}/control", data=json.dumps(FAST).encode(), method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310


def _reach(settings, paysim_url: str, sms: Aliyun, sms_url: str) -> None:
    settings.PAYSIM_URL = paysim_url
    settings.ALIYUN_SMS = {
        "access_key_id": sms.access_key_id,
        "access_key_secret": sms.access_key_secret,
        "endpoint": sms_url,
        "sign_name": "挂号平台",
        "login_template": "SMS_LOGIN",
    }


def _worker() -> None:
    outbox.deliver_all()
    delivery.messages_send_due()
    payments.payments_check()


def test_the_window_and_check_in_go_on_with_the_outside_down_and_nothing_is_lost(settings, live_server, tmp_path):
    settings.PUBLIC_URL = live_server.url
    settings.PAYSIM_MCH_ID = PAYSIM_ENV["GUAHAO_PAYSIM_MCH_ID"]
    settings.PAYSIM_KEY = PAYSIM_ENV["GUAHAO_PAYSIM_KEY"]
    settings.SMS_QUIET_HOURS = None  # the outage is walked through whatever hour the suite runs at
    sms = Aliyun()
    h = f.hospital(payment_required=True)
    codes = {kind: f"SMS_{i}" for i, kind in enumerate(KINDS)}
    HospitalChannels.objects.create(
        hospital=h,
        sms_sign_name="仁和医院",
        sms_templates={kind: {"code": code, "params": {}} for kind, code in codes.items()},
    )
    sms.templates.update({code: [] for code in codes.values()} | {"SMS_LOGIN": ["code"]})
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=50)
    clerk = f.Api()
    clerk.token = staff_token_create(user=f.staff_member("clerk1", "window_clerk", h))
    store = tmp_path / "paysim.sqlite3"
    app = f.Api().login()  # logged in before the SMS provider is set (its code is then shown to the test)
    settings.SMS_BACKEND = "aliyun"

    # While the outside is up, a patient books in the app and pays online.
    with paysim_process(store) as paysim_url, serving(AliyunHandler, sms) as sms_url:
        _fast(paysim_url)
        _reach(settings, paysim_url, sms, sms_url)
        _, hold = app.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": app.add_patient()})
        _, started = app.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
        assert post(started["pay_url"] + "/pay") == 200
        paid = wait_for(lambda: Registration.objects.filter(status="booked").first())
        _worker()
    assert isinstance(paid, Registration)
    sent_before = len(sms.sent)

    # The outside is gone (both providers stopped): the window goes on.
    walk_in = {"name": "李秀英", "id_number": f.id_number("19560312"), "phone": f.phone()}
    status, made = clerk.call("POST", "/staff/desk/holds", {"schedule_id": clinic.pk, "channel": "window", **walk_in})
    assert status == 201, made
    status, booked = clerk.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    assert status == 201 and booked["status"] == "booked", booked
    with clock.travel(clinic.starts_at - dt.timedelta(minutes=20)):  # the walk-in comes back on the day
        status, checked = clerk.call("POST", "/checkin", {"registration_number": booked["registration_number"]})
    assert status == 200, checked
    assert Registration.objects.get(pk=booked["id"]).status == "checked_in"
    # A payment link needs the provider to open the order: the desk is told, the hold stays for cash.
    second = {"name": "王芳", "id_number": f.id_number("19800101"), "phone": f.phone()}
    status, other = clerk.call("POST", "/staff/desk/holds", {"schedule_id": clinic.pk, "channel": "window", **second})
    assert status == 201, other
    status, problem = clerk.call("POST", f"/staff/desk/holds/{other['hold']['id']}/link", {})
    assert (status, problem["code"]) == (502, "payment.provider_failed"), problem
    assert clerk.call("POST", f"/staff/desk/holds/{other['hold']['id']}/collect", {"method": "card"})[0] == 201
    window = booking.Actor.staff(f.staff_member("clerk2", "window_clerk", h))
    cancelled = payments.registration_cancel(registration=paid, actor=window)
    assert cancelled.status == "refunding"  # the refund is asked for once the provider is back

    # Hours of outage: the worker keeps trying; nothing is given up on, nothing reaches anyone.
    start = clock.now()
    for minutes in range(0, 6 * 60, 30):  # every half hour: more tries than a message has when it fails
        with clock.travel(start + dt.timedelta(minutes=minutes)):
            _worker()
    assert not Message.objects.filter(status="failed").exists()
    assert Message.objects.filter(channel="sms", status="pending").count() >= 2  # the walk-in's and the canceller's
    assert Refund.objects.get(payment__registration=paid).status == "pending"
    assert len(sms.sent) == sent_before

    # The outside is back: the refund goes through and every SMS is sent, once.
    with paysim_process(store) as paysim_url, serving(AliyunHandler, sms) as sms_url:
        _fast(paysim_url)
        _reach(settings, paysim_url, sms, sms_url)
        back = start + dt.timedelta(hours=6, minutes=5)

        def refunded() -> bool:
            with clock.travel(back):
                _worker()
            return Registration.objects.get(pk=paid.pk).status == "refunded"

        wait_for(refunded)
        with clock.travel(back + dt.timedelta(minutes=5)):
            _worker()
    sms_messages = Message.objects.filter(channel="sms")
    assert set(sms_messages.values_list("status", flat=True)) == {"sent"}
    assert len(sms.sent) == sent_before + sms_messages.filter(sent_at__gte=start).count()
    assert len({s["out_id"] for s in sms.sent}) == len(sms.sent)  # no SMS twice
    told = {s["phone"] for s in sms.sent[sent_before:]}
    assert walk_in["phone"] in told and paid.account.phone in told
    refund = Refund.objects.get(payment__registration=paid)
    assert refund.status == "succeeded" and Refund.objects.filter(payment__registration=paid).count() == 1
    assert Registration.objects.get(pk=booked["id"]).status == "checked_in"
