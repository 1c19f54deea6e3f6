from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

NOTICE_NOT_READ = ProblemType("web.notice_not_read", 422, _("Please read the booking notice and tick that you have"))
