from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from guahao.core.problems import Problem, ProblemType

MALFORMED = ProblemType("request.malformed", 400, _("The request could not be read"))
INVALID = ProblemType("request.invalid", 422, _("A field is invalid"))
DATE_RANGE = ProblemType("request.date_range", 422, _("The range of days is not allowed"))
NOT_LOGGED_IN = ProblemType("auth.required", 401, _("Please log in"))
FORBIDDEN = ProblemType("auth.forbidden", 403, _("This is not allowed for you"))
NOT_FOUND = ProblemType("not_found", 404, _("Not found"))
METHOD_NOT_ALLOWED = ProblemType("request.method", 405, _("This address does not take that method"))
RATE_LIMITED = ProblemType("rate_limited", 429, _("Too many requests; please wait and try again"))
TOO_LARGE = ProblemType("request.too_large", 413, _("The request is too large"))
MEDIA_TYPE = ProblemType("request.media_type", 415, _("Send the request as JSON (Content-Type: application/json)"))
SERVER_ERROR = ProblemType("server.error", 500, _("Something went wrong on our side; please try again"))


# A field refused by a rule written here (not by the schema), worded as the schema's refusals
# are (``api.problems``): "field: rule", the rule in the reader's language.
REQUIRED = _("is required")
NOT_AN_ID = _("is not an id")


def field_refused(field: str, rule: str | Promise, type_: ProblemType = INVALID) -> Problem:
    return type_.error(detail=f"{field}: {rule}", field=field)


def between(low: int, high: int) -> str:
    return gettext("must be from %(low)s to %(high)s") % {"low": low, "high": high}


def one_of(*choices: str) -> str:
    return gettext("must be one of: %(choices)s") % {"choices": ", ".join(choices)}
