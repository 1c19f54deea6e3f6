"""The real adapters against fakes of the providers' HTTP APIs, which check each request as the
provider would: Aliyun SMS (signature V3, signature name, template and its variables) and
WeChat (access token, template, the patient's subscription, each field's size)."""

from __future__ import annotations

import pytest

from guahao.accounts import phones
from guahao.accounts.models import Account, SmsCode
from guahao.core import clock
from guahao.notifications import services as notifications
from guahao.notifications.models import HospitalChannels, Message, WechatLink
from tests import factories as f
from tests.notifications.conftest import worker

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]

BOOKED_TEMPLATE = {
    "code": "SMS_BOOKED",
    "code_en": "SMS_BOOKED_EN",
    "params": {"dept": "{department} {doctor}", "time": "{date} {time}", "no": "{slot}"},
}


@pytest.fixture
def hospital_on_aliyun(aliyun):
    h = f.hospital()
    HospitalChannels.objects.create(
        hospital=h, sms_sign_name="仁和医院", sms_templates={"registration.booked": BOOKED_TEMPLATE}
    )
    aliyun.templates |= {"SMS_BOOKED": ["dept", "time", "no"], "SMS_BOOKED_EN": ["dept", "time", "no"]}
    return h


def logged_in(aliyun) -> f.Api:
    """A patient logged in with the code the fake Aliyun delivered to their phone."""
    api, phone = f.Api(), f.phone()
    api.call("POST", "/auth/sms-code", {"phone": phone})
    code = aliyun.sent.pop()["params"]["code"]
    _, body = api.call("POST", "/auth/login", {"phone": phone, "code": code})
    api.token, api.account_id = body["token"], body["account_id"]
    return api


def book(h, api):
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    patient_id = api.add_patient()
    _, hold = api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    status, registration = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, registration
    return api, schedule, registration


def test_a_booking_goes_out_as_the_hospital_s_aliyun_template_under_its_signature(hospital_on_aliyun, aliyun):
    api, schedule, _ = book(hospital_on_aliyun, logged_in(aliyun))
    worker()
    sms = Message.objects.get(channel="sms", kind="registration.booked")
    assert aliyun.sent == [
        {
            "phone": sms.account.phone,
            "sign": "仁和医院",
            "template": "SMS_BOOKED",
            "params": {"dept": "心血管内科 王建华", "time": f"{schedule.date} 08:00", "no": "1"},
            "out_id": f"guahao-{sms.pk}",
            "biz_id": "1^0",
        }
    ]
    assert (sms.status, sms.provider_ref, sms.to_masked) == (
        "sent",
        "1^0",
        f"{sms.account.phone[:3]}****{sms.account.phone[-4:]}",
    )


def test_an_english_reader_gets_the_english_template_with_english_names(hospital_on_aliyun, aliyun):
    api = logged_in(aliyun)
    notifications.preferences_set(account=Account.objects.get(pk=api.account_id), language="en")
    book(hospital_on_aliyun, api)
    worker()
    assert [(s["template"], s["params"]["dept"]) for s in aliyun.sent] == [("SMS_BOOKED_EN", "Cardiology 王建华")]


def test_a_kind_the_hospital_has_no_sms_template_for_is_not_sent_by_sms(hospital_on_aliyun, aliyun):
    api, _, registration = book(hospital_on_aliyun, logged_in(aliyun))
    worker()  # the booked SMS goes (once cancelled, it no longer would)
    api.call("POST", f"/registrations/{registration['id']}/cancel", {})
    worker()
    assert Message.objects.filter(kind="registration.cancelled", channel="sms").count() == 0
    assert Message.objects.filter(kind="registration.cancelled", channel="inbox").count() == 1
    assert [s["template"] for s in aliyun.sent] == ["SMS_BOOKED"]


def test_a_wrong_key_is_refused_by_aliyun_and_given_up_at_once(hospital_on_aliyun, aliyun, settings):
    api = logged_in(aliyun)
    settings.ALIYUN_SMS = settings.ALIYUN_SMS | {"access_key_secret": "not-the-secret"}
    book(hospital_on_aliyun, api)
    worker()
    sms = Message.objects.get(channel="sms")
    assert (sms.status, sms.attempts, sms.last_error) == ("failed", 1, "aliyun SignatureDoesNotMatch")
    assert aliyun.sent == []


def test_aliyun_s_flow_control_is_waited_out(hospital_on_aliyun, aliyun):
    api = logged_in(aliyun)
    aliyun.fail_next = ["isv.BUSINESS_LIMIT_CONTROL"]
    book(hospital_on_aliyun, api)
    worker()
    sms = Message.objects.get(channel="sms")
    assert (sms.status, sms.last_error) == ("pending", "aliyun isv.BUSINESS_LIMIT_CONTROL")
    with clock.travel(sms.next_at):
        worker()
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, len(aliyun.sent)) == ("sent", 2, 1)


def test_login_codes_go_by_aliyun_under_the_platform_s_signature(aliyun, api):
    phone = f.phone()
    status, answer = api.call("POST", "/auth/sms-code", {"phone": phone})
    assert status == 200 and answer["dev_code"] is None  # the code is on the phone only
    [sent] = aliyun.sent
    assert (sent["phone"], sent["sign"], sent["template"]) == (phone, "挂号平台", "SMS_LOGIN")
    status, _ = api.call("POST", "/auth/login", {"phone": phone, "code": sent["params"]["code"]})
    assert status == 200


def test_a_login_code_aliyun_refuses_is_a_502_and_can_be_asked_again_at_once(aliyun, api):
    phone = f.phone()
    aliyun.fail_next = ["isv.AMOUNT_NOT_ENOUGH"]
    status, problem = api.call("POST", "/auth/sms-code", {"phone": phone})
    assert (status, problem["code"]) == (502, "sms.failed")
    assert not SmsCode.objects.filter(phones.matching(phone)).exists()  # withdrawn: not "too soon" next time
    status, _ = api.call("POST", "/auth/sms-code", {"phone": phone})
    assert status == 200 and len(aliyun.sent) == 1


# --- WeChat ---------------------------------------------------------------------------------------


def test_the_access_token_is_kept_and_asked_again_once_wechat_drops_it(everywhere):
    everywhere.book()
    other = f.schedule(f.department(everywhere.hospital, name="消化内科"))
    everywhere.book(other)
    worker()
    assert (len(everywhere.wechat.sent), everywhere.wechat.token_requests) == (2, 1)

    everywhere.wechat.expire_tokens()  # WeChat answers 40001 to the kept token
    everywhere.api.call(
        "POST", f"/registrations/{Message.objects.filter(channel='wechat').first().registration_id}/cancel", {}
    )
    worker()
    # the cancellation and the bar it earns at this hospital: one new token for both
    assert (len(everywhere.wechat.sent), everywhere.wechat.token_requests) == (4, 2)
    assert set(Message.objects.filter(channel="wechat").values_list("status", flat=True)) == {"sent"}


def test_fields_are_cut_to_what_wechat_accepts_for_their_type(everywhere):
    long_name = "心血管内科高血压与心力衰竭专病门诊"
    department = f.department(everywhere.hospital, name=long_name)
    everywhere.book(f.schedule(department))
    worker()
    [sent] = everywhere.wechat.sent
    assert sent["data"]["thing1"]["value"] == f"{everywhere.hospital.name} {long_name}"[:19] + "…"
    assert len(sent["data"]["thing1"]["value"]) == 20
    assert sent["data"]["thing3"] == {"value": "普通门诊"}  # a general clinic has no doctor
    assert sent["page"].endswith(f"/registrations/{Message.objects.filter(channel='wechat').get().registration_id}/")


def test_a_patient_links_wechat_with_the_code_of_its_web_authorisation(everywhere):
    WechatLink.objects.all().delete()
    everywhere.wechat.codes["CODE-1"] = "oLinkedByCode000000000000000"
    hospital = str(everywhere.hospital.pk)

    status, problem = everywhere.api.call("POST", "/messages/wechat", {"hospital_id": hospital, "code": "WRONG"})
    assert (status, problem["code"]) == (422, "wechat.code_invalid")
    assert not WechatLink.objects.exists()

    status, answer = everywhere.api.call("POST", "/messages/wechat", {"hospital_id": hospital, "code": "CODE-1"})
    assert (status, answer) == (200, {"linked": True})
    link = WechatLink.objects.get()
    assert (link.account_id, link.openid) == (everywhere.account.pk, "oLinkedByCode000000000000000")

    plain = f.hospital()
    status, problem = everywhere.api.call("POST", "/messages/wechat", {"hospital_id": str(plain.pk), "code": "X"})
    assert (status, problem["code"]) == (409, "wechat.not_configured")
