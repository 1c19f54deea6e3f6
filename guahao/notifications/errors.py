from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

NOT_RESENDABLE = ProblemType(
    "message.not_resendable", 409, _("Only a message that failed or was not sent can be sent again")
)
WECHAT_NOT_CONFIGURED = ProblemType("wechat.not_configured", 409, _("This hospital does not send messages on WeChat"))
WECHAT_CODE_INVALID = ProblemType("wechat.code_invalid", 422, _("WeChat did not accept this authorisation code"))
WECHAT_FAILED = ProblemType("wechat.failed", 502, _("WeChat could not be reached; please try again"))
