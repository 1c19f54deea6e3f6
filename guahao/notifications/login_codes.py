"""Login codes by SMS (accounts' ``CodeSender`` port): printed with the console backend, else
Aliyun's login template under the platform's signature."""

from __future__ import annotations

from django.conf import settings

from guahao.accounts.services import mask_phone


class LoginCodesBySms:
    def login_code(self, *, phone: str, code: str) -> None:
        if settings.SMS_BACKEND == "aliyun":
            from guahao.notifications.channels.sms.aliyun import sms_send

            conf = settings.ALIYUN_SMS
            sms_send(
                phone=phone, sign_name=conf["sign_name"], template_code=conf["login_template"], params={"code": code}
            )
            return
        # The console backend stands in for an SMS gateway in the demo and in tests.
        print(f"[sms] to {mask_phone(phone)}: 您的挂号登录验证码是 {code}，5分钟内有效。", flush=True)  # noqa: T201
