from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from guahao.accounts.models import Account, Patient
from guahao.booking import services as booking
from guahao.booking.models import Registration
from guahao.catalog.models import Hospital
from guahao.core import clock, outbox
from guahao.notifications import delivery
from guahao.notifications import services as notifications
from guahao.notifications.kinds import KINDS
from guahao.notifications.models import HospitalChannels, WechatLink
from guahao.scheduling.models import Schedule
from tests import factories as f
from tests.notifications.fakes import Aliyun, AliyunHandler, Wechat, WechatHandler, serving

OPENID = "oPatient0123456789abcdefghij"
EMAIL = "patient@example.com"
WECHAT_FIELDS = {"thing1": "{hospital} {department}", "time2": "{date} {time}", "thing3": "{doctor}"}


@pytest.fixture
def wechat(settings) -> Iterator[Wechat]:
    state = Wechat()
    with serving(WechatHandler, state) as url:
        settings.WECHAT_API_URL = url
        yield state


@pytest.fixture
def aliyun(settings) -> Iterator[Aliyun]:
    state = Aliyun()
    with serving(AliyunHandler, state) as url:
        settings.SMS_BACKEND = "aliyun"
        settings.ALIYUN_SMS = {
            "access_key_id": state.access_key_id,
            "access_key_secret": state.access_key_secret,
            "endpoint": url,
            "sign_name": "挂号平台",
            "login_template": "SMS_LOGIN",
        }
        state.templates["SMS_LOGIN"] = ["code"]
        yield state


@dataclass
class Everywhere:
    """A hospital that sends every kind of message on every channel, and a patient who can
    receive them all."""

    hospital: Hospital
    schedule: Schedule
    api: f.Api
    account: Account
    patient: Patient
    wechat: Wechat

    def hold(self, schedule: Schedule | None = None) -> dict[str, Any]:
        status, hold = self.api.call(
            "POST", "/holds", {"schedule_id": str((schedule or self.schedule).pk), "patient_id": str(self.patient.pk)}
        )
        assert status == 201, hold
        return hold

    def book(self, schedule: Schedule | None = None) -> Registration:
        hold = self.hold(schedule)
        status, registration = self.api.call("POST", f"/holds/{hold['id']}/confirm", {})
        assert status == 201, registration
        return Registration.objects.get(pk=registration["id"])


def wechat_everything(hospital: Hospital, state: Wechat) -> HospitalChannels:
    config = HospitalChannels(
        hospital=hospital,
        sms_sign_name="仁和医院",
        wechat_app_id=state.app_id,
        wechat_templates={kind: {"template_id": f"T-{kind}", "fields": WECHAT_FIELDS} for kind in KINDS},
    )
    config.wechat_secret_set(state.secret)
    config.save()
    state.templates.update({f"T-{kind}": list(WECHAT_FIELDS) for kind in KINDS})
    return config


@pytest.fixture
def everywhere(wechat) -> Everywhere:
    h = f.hospital(blacklist_cancellations=1)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    wechat_everything(h, wechat)
    api = f.Api().login()
    account = Account.objects.get(pk=api.account_id)
    patient = Patient.objects.get(pk=api.add_patient())
    notifications.preferences_set(account=account, email_address=EMAIL)
    WechatLink.objects.create(account=account, app_id=wechat.app_id, openid=OPENID, linked_at=clock.now())
    wechat.subscribed.add(OPENID)
    return Everywhere(h, schedule, api, account, patient, wechat)


def worker() -> dict[str, int]:
    """What the worker does: events into messages, then every message due sent."""
    outbox.deliver_all()
    return delivery.messages_send_due()


SYSTEM_HIS = booking.Actor("system", "his")
