"""SMS through Aliyun (阿里云短信服务, the ``alibabacloud-dysmsapi20170525`` SDK).

A message goes out as the hospital's approved template (``TemplateCode``, the English one for
an English reader when the hospital has one) with its variables filled from the message's facts
(``TemplateParam``), under the hospital's signature (``SignName``). ``OutId`` carries our message
id, so after a worker died while sending, ``QuerySendDetails`` tells whether Aliyun has it.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings

from guahao.notifications.channels import ChannelError
from guahao.notifications.channels.sms import params_of, template_of

if TYPE_CHECKING:
    from guahao.notifications.channels import Outgoing
    from guahao.notifications.models import HospitalChannels

log = logging.getLogger(__name__)

# Aliyun's answers that trying again will not change (the number, the signature, the template
# or our key are wrong); anything else (flow control, a balance to top up, the service) may pass later.
PERMANENT = {
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.MOBILE_COUNT_OVER_LIMIT",
    "isv.SMS_SIGNATURE_ILLEGAL",
    "isv.SMS_TEMPLATE_ILLEGAL",
    "isv.TEMPLATE_MISSING_PARAMETERS",
    "isv.TEMPLATE_PARAMS_ILLEGAL",
    "isv.INVALID_PARAMETERS",
    "isv.INVALID_JSON_PARAM",
    "isv.PARAM_LENGTH_LIMIT",
    "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.SMS_SIGN_ILLEGAL",
    "isv.DENY_IP_RANGE",
    "isv.ACCOUNT_NOT_EXISTS",
    "isv.ACCOUNT_ABNORMAL",
    "InvalidAccessKeyId.NotFound",
    "SignatureDoesNotMatch",
    "MissingPhoneNumbers",
}
DELIVERED = 3  # QuerySendDetails' SendStatus: 1 waiting for the receipt, 2 failed, 3 delivered


def client() -> Any:
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi import models as open_api

    conf = django_settings.ALIYUN_SMS
    endpoint = conf["endpoint"]
    protocol = "https"
    if "://" in endpoint:
        protocol, endpoint = endpoint.split("://", 1)
    return Client(
        open_api.Config(
            access_key_id=conf["access_key_id"],
            access_key_secret=conf["access_key_secret"],
            endpoint=endpoint.rstrip("/"),
            protocol=protocol,
            connect_timeout=3000,
            read_timeout=10000,
        )
    )


def _call(method: str, request: Any) -> dict[str, Any]:
    """One SDK call; its answer's body, or ``ChannelError`` saying whether a retry can help."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

    try:
        response = getattr(client(), method)(request)
    except AlibabaCloudException as exc:
        code = str(getattr(exc, "code", "") or "")
        raise ChannelError(f"aliyun {code}", permanent=code in PERMANENT) from None
    except Exception as exc:  # noqa: BLE001 - the SDK's transport errors have no common class
        raise ChannelError(f"aliyun unreachable: {type(exc).__name__}", unreachable=True) from None
    return dict(response.body.to_map())


def sms_send(*, phone: str, sign_name: str, template_code: str, params: dict[str, str], out_id: str = "") -> str:
    """Send one templated SMS; Aliyun's BizId."""
    from alibabacloud_dysmsapi20170525 import models

    body = _call(
        "send_sms",
        models.SendSmsRequest(
            phone_numbers=phone,
            sign_name=sign_name,
            template_code=template_code,
            template_param=json.dumps(params, ensure_ascii=False),
            out_id=out_id or None,
        ),
    )
    code = str(body.get("Code", ""))
    if code != "OK":
        raise ChannelError(f"aliyun {code}", permanent=code in PERMANENT)
    return str(body.get("BizId", ""))


class AliyunSms:
    name = "sms"

    def reachable(self, *, settings: HospitalChannels | None, kind: str) -> bool:
        return bool(settings and settings.sms_sign_name and template_of(settings, kind))

    def _template(self, out: Outgoing) -> tuple[str, dict[str, str]]:
        template = template_of(out.settings, out.kind)
        if template is None or out.settings is None or not out.settings.sms_sign_name:
            raise ChannelError("the hospital has no SMS signature or template for this kind", permanent=True)
        code = str(template.get("code_en") or template["code"]) if out.language == "en" else str(template["code"])
        return code, params_of(template, out.facts)

    def send(self, out: Outgoing) -> str:
        code, params = self._template(out)
        assert out.settings is not None
        return sms_send(
            phone=out.to, sign_name=out.settings.sms_sign_name, template_code=code, params=params, out_id=_out_id(out)
        )

    def sent_already(self, out: Outgoing) -> str | None:
        from alibabacloud_dysmsapi20170525 import models

        if not out.sent_on:
            return None
        page = 1
        while page <= 10:
            body = _call(
                "query_send_details",
                models.QuerySendDetailsRequest(
                    phone_number=out.to, send_date=out.sent_on.replace("-", ""), page_size=50, current_page=page
                ),
            )
            if body.get("Code") != "OK":
                raise ChannelError(f"aliyun {body.get('Code')}")
            found = ((body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO")) or []
            for detail in found:
                if detail.get("OutId") == _out_id(out) and int(detail.get("SendStatus") or 0) != 2:
                    return f"out_id:{_out_id(out)}"
            if len(found) < 50:
                return None
            page += 1
        return None


def _out_id(out: Outgoing) -> str:
    return f"guahao-{out.message_id}"
