from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

SLOT_UNAVAILABLE = ProblemType("slot.unavailable", 409, _("No slot is free for this choice"))
SCHEDULE_SUSPENDED = ProblemType("schedule.suspended", 409, _("This clinic has been suspended"))
SCHEDULE_NOT_RELEASED = ProblemType("schedule.not_released", 409, _("These slots are not released yet"))
SCHEDULE_ENDED = ProblemType("schedule.ended", 409, _("This session is over"))
PERIOD_MISMATCH = ProblemType("period.invalid", 422, _("The period does not belong to this schedule"))
HOLD_LIMIT = ProblemType(
    "rule.active_holds", 409, _("You already hold as many slots as allowed; finish or release one first")
)
ONE_PER_DEPARTMENT = ProblemType(
    "rule.one_per_department_per_day", 409, _("This patient already has a registration in this department on that day")
)
ACCOUNT_DAILY_LIMIT = ProblemType(
    "rule.per_account_per_day", 409, _("This account has reached its registrations at this hospital for that day")
)
BLACKLISTED = ProblemType("rule.blacklisted", 403, _("This patient is barred from online booking"))
RECORD_REQUIRED = ProblemType(
    "rule.medical_record_required", 409, _("This hospital needs a medical record (建档) before booking online")
)
HOLD_EXPIRED = ProblemType("hold.expired", 409, _("The hold has expired; the slot was released"))
HOLD_NOT_ACTIVE = ProblemType("hold.not_active", 409, _("The hold is no longer active"))
PAYMENT_REQUIRED = ProblemType(
    "payment.method_required", 422, _("This hospital charges a fee: choose how to pay (wechat, alipay or card)")
)
CANCEL_TOO_LATE = ProblemType(
    "rule.cancel_cutoff", 409, _("It is too late to cancel online; please go to the hospital's window")
)
BAD_TRANSITION = ProblemType("registration.state", 409, _("The registration is not in a state that allows this"))
CHECKIN_WRONG_DAY = ProblemType("checkin.wrong_day", 409, _("Check-in is only possible on the day of the visit"))
CHECKIN_UNKNOWN = ProblemType("checkin.unknown", 404, _("No registration has this number"))
REASON_REQUIRED = ProblemType("staff.reason_required", 422, _("Give a reason: it is kept in the order's audit trail"))
NO_SHOW_TOO_EARLY = ProblemType("no_show.too_early", 409, _("A no-show can only be marked from the day of the visit"))
BAR_NOT_ACTIVE = ProblemType("blacklist.not_active", 409, _("This bar has already been lifted"))
LOTTERY_OPEN = ProblemType(
    "lottery.open",
    409,
    _("This clinic's slots are drawn among everyone who asks in the first moments after the release"),
)
LOTTERY_DRAWING = ProblemType(
    "lottery.drawing", 409, _("The draw for this clinic's slots is being made; try again in a moment")
)
RISK_SUSPECTED = ProblemType(
    "risk.suspected",
    403,
    _("These attempts look automated: try again later, or book at the hospital's window"),
)
DEPARTMENT_SEX = ProblemType("rule.department_sex", 409, _("This department does not see patients of this sex"))
DEPARTMENT_AGE = ProblemType("rule.department_age", 409, _("This department does not see patients of this age"))
RESCHEDULE_OTHER_DEPARTMENT = ProblemType(
    "reschedule.other_department", 422, _("A registration can only be moved to another clinic of its department")
)
RESCHEDULE_SAME_SLOT = ProblemType(
    "reschedule.same_clinic", 422, _("Choose another clinic or another period than the one already booked")
)
RESCHEDULE_FEE_DIFFERS = ProblemType(
    "reschedule.fee_differs",
    409,
    _("A paid registration can only be moved to a clinic with the same fee; cancel it and book the other clinic"),
)
RESCHEDULE_NOT_HERE = ProblemType(
    "reschedule.realtime_his",
    409,
    _("This hospital's registrations cannot be moved online; cancel and book again, or ask at the window"),
)
RELIEF_OWN_REQUEST = ProblemType(
    "relief.own_request", 403, _("A relief slot is approved by another staff member than the one who asked")
)
RELIEF_ASKER_KEYS = ProblemType(
    "relief.asker_keys",
    403,
    _(
        "You made the asker's account, set their password or reset their second factor, so you could"
        " have asked as them: another admin approves this relief slot"
    ),
)
RELIEF_DECIDED = ProblemType("relief.decided", 409, _("This relief request has already been decided"))
RATING_NOT_VISITED = ProblemType(
    "rating.not_visited", 409, _("A doctor can be rated only after the visit (checked in or visited)")
)
RATING_EXISTS = ProblemType("rating.exists", 409, _("This registration has already been rated"))
RATING_NO_DOCTOR = ProblemType(
    "rating.no_doctor", 409, _("This registration was at a general clinic, without a doctor to rate")
)
RATING_SCORE = ProblemType("rating.score", 422, _("The score is a whole number from 1 to 5"))
RATING_DECIDED = ProblemType("rating.decided", 409, _("This rating has already been reviewed"))
