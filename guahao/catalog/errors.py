from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

DEPARTMENT_TOO_DEEP = ProblemType("department.too_deep", 422, _("Departments are at most three levels deep"))
DEPARTMENT_NOT_LEAF = ProblemType(
    "department.not_bookable", 409, _("Book at a sub-department, not at a department group")
)
