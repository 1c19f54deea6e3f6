from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

PROVIDER_FAILED = ProblemType(
    "payment.provider_failed", 502, _("The payment service did not answer properly; please try again")
)
PROVIDER_TIMEOUT = ProblemType("payment.provider_timeout", 504, _("The payment service timed out; please try again"))
PROVIDER_UNKNOWN = ProblemType("payment.provider_unknown", 404, _("No such payment provider"))
SIGNATURE_INVALID = ProblemType("payment.signature_invalid", 401, _("The notification's signature is not valid"))
NOTIFICATION_MISMATCH = ProblemType(
    "payment.notification_mismatch", 400, _("The notification does not match the order (merchant or amount)")
)
PAYMENT_UNKNOWN = ProblemType("payment.unknown", 400, _("The notification names an order we do not have"))
REFUND_NOT_FAILED = ProblemType("refund.not_failed", 409, _("Only a failed refund can be tried again"))
METHOD_UNAVAILABLE = ProblemType(
    "payment.method_unavailable", 422, _("This payment method is not offered; please choose another")
)
REFUND_EXISTS = ProblemType("refund.exists", 409, _("This payment is already being refunded or was refunded"))
REFUND_NOT_WINDOW = ProblemType(
    "refund.not_window", 409, _("Only a refund of money taken at the window is paid out at the window")
)
REFUND_PAID_OUT = ProblemType(
    "refund.already_paid_out", 409, _("This refund was already paid out or is no longer waiting to be paid out")
)
DIFFERENCE_HANDLED = ProblemType(
    "reconciliation.already_handled", 409, _("This reconciliation difference was already marked handled")
)
DIFFERENCE_NOTE_REQUIRED = ProblemType(
    "reconciliation.note_required", 422, _("Say what was done about it: the note is kept with the difference")
)
