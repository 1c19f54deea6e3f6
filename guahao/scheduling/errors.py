from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

SCHEDULE_INVALID = ProblemType("schedule.invalid", 422, _("The schedule is not valid"))
TEMPLATE_INVALID = ProblemType("schedule_template.invalid", 422, _("The schedule template is not valid"))
CAPACITY_BELOW_BOOKED = ProblemType(
    "schedule.capacity_below_booked",
    409,
    _("The capacity cannot go below the numbers already held or booked"),
)
SCHEDULE_CLASH = ProblemType("schedule.clash", 409, _("The doctor (or the room) already has a clinic at that time"))
SCHEDULE_NOT_SUSPENDED = ProblemType("schedule.not_suspended", 409, _("Only a suspended clinic can be re-opened"))
SCHEDULE_CLOSED = ProblemType("schedule.closed", 409, _("This clinic is suspended or over: nothing can be added"))
