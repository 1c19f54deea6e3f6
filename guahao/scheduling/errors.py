from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

SCHEDULE_INVALID = ProblemType("schedule.invalid", 422, _("The schedule is not valid"))
