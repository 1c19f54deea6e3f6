"""Every API error is application/problem+json with a stable ``code`` (API.md)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from guahao.core import errors
from guahao.core.problems import Problem, ProblemType


class ProblemOut(Schema):
    code: str
    title: str
    detail: str
    status: int
    field: str | None = None
    alternatives: list[dict[str, Any]] | None = None
    waitlist: dict[str, str] | None = None  # sold out, with a waitlist to join: {schedule_id, closes_at}
    hold: dict[str, Any] | None = None  # refused by a limit: the account's own hold in the way (HoldOut)


log = logging.getLogger(__name__)


class ProblemAPI(NinjaAPI):
    """The API whose OpenAPI document says what it serves: every refusal as
    application/problem+json (django-ninja documents every answer as application/json)."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    if str(status)[:1] in "45" and "content" in answer:
                        answer["content"] = {PROBLEM_JSON: next(iter(answer["content"].values()))}
        return schema


PROBLEM_JSON = "application/problem+json"


def problem_response(problem: Problem) -> HttpResponse:
    import json

    response = HttpResponse(
        json.dumps(problem.as_dict(), ensure_ascii=False),
        status=problem.status,
        content_type="application/problem+json; charset=utf-8",
    )
    response.problem_code = problem.code  # type: ignore[attr-defined]  # counted by the metrics as it is
    return response


# What the validation library says, in the reader's language: its own messages are English.
# (type of error → wording; the error's context fills the placeholders)
_WORDING: dict[str, Any] = {
    "missing": _("is required"),
    "extra_forbidden": _("is not a field of this request"),
    "int_parsing": _("must be a whole number"),
    "int_from_float": _("must be a whole number"),
    "int_type": _("must be a whole number"),
    "float_parsing": _("must be a number"),
    "float_type": _("must be a number"),
    "finite_number": _("must be a finite number"),
    "bool_parsing": _("must be true or false"),
    "bool_type": _("must be true or false"),
    "string_type": _("must be text"),
    "string_pattern_mismatch": _("does not have the expected form (%(pattern)s)"),
    "string_too_short": _("is too short (at least %(min_length)s characters)"),
    "string_too_long": _("is too long (at most %(max_length)s characters)"),
    "greater_than_equal": _("must be at least %(ge)s"),
    "greater_than": _("must be more than %(gt)s"),
    "less_than_equal": _("must be at most %(le)s"),
    "less_than": _("must be less than %(lt)s"),
    "literal_error": _("must be one of %(expected)s"),
    "enum": _("must be one of %(expected)s"),
    "list_type": _("must be a list"),
    "dict_type": _("must be an object"),
    "model_type": _("must be an object"),
    "date_from_datetime_parsing": _("a day is written YYYY-MM-DD"),
    "date_parsing": _("a day is written YYYY-MM-DD"),
    "time_parsing": _("a time of day is written HH:MM"),
    "datetime_parsing": _("is not a valid date and time"),
    "too_short": _("is too short"),
    "too_long": _("is too long"),
}


NOT_BLANK = r"\S"  # the pattern of a text that must have more than spaces in it
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # the pattern of a text without control characters (a NUL, a line feed)
# What a pattern means, said instead of the pattern (which says nothing to a reader).
_PATTERN_WORDING: dict[str, Any] = {
    NOT_BLANK: _("must not be blank"),
    PRINTABLE: _("must not contain control characters"),
}


def _worded(error: dict[str, Any]) -> str:
    """An error of the validation library, worded in the active language (our own validators'
    messages are translated; another type keeps the library's English)."""
    kind = str(error.get("type", ""))
    if kind == "value_error":
        raised = (error.get("ctx") or {}).get("error")
        return gettext(str(raised)) if raised is not None else str(error.get("msg", ""))
    if kind == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") in _PATTERN_WORDING:
        return str(_PATTERN_WORDING[error["ctx"]["pattern"]])
    wording = _WORDING.get(kind)
    if wording is None:
        return str(error.get("msg", ""))
    try:
        return str(wording) % {k: v for k, v in (error.get("ctx") or {}).items()}
    except (KeyError, TypeError, ValueError):
        return str(error.get("msg", ""))


def _field_of(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header", "payload")]
    return ".".join(loc) or "body"


def install(api: NinjaAPI) -> None:
    @api.exception_handler(Problem)
    def on_problem(request: HttpRequest, exc: Problem) -> HttpResponse:
        return problem_response(exc)

    @api.exception_handler(ValidationError)
    def on_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        if first.get("type") == "json_invalid":
            return problem_response(errors.MALFORMED.error())
        field = _field_of(first)
        return problem_response(errors.INVALID.error(detail=f"{field}: {_worded(first)}", field=field))

    @api.exception_handler(AuthenticationError)
    def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return problem_response(errors.NOT_LOGGED_IN.error())

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400:
            return problem_response(errors.MALFORMED.error())
        type_ = {401: errors.NOT_LOGGED_IN, 403: errors.FORBIDDEN, 404: errors.NOT_FOUND, 429: errors.RATE_LIMITED}.get(
            exc.status_code
        )
        if type_ is None:
            type_ = ProblemType("request.error", exc.status_code, str(exc))
        return problem_response(type_.error())

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return problem_response(errors.NOT_FOUND.error())

    @api.exception_handler(RequestDataTooBig)
    def on_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return problem_response(errors.TOO_LARGE.error())

    @api.exception_handler(Exception)
    def on_anything_else(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Logged with its traceback for us; the caller reads a problem, never a page of HTML.
        log.error("unhandled error answering %s %s", request.method, request.path, exc_info=exc)
        return problem_response(errors.SERVER_ERROR.error())


def documented(ok: dict[int, Any], *types: ProblemType, summary: str | None = None) -> dict[str, Any]:
    """Route options whose OpenAPI answer lists each refusal's status and stable code."""
    response: dict[int, Any] = dict(ok)
    lines = []
    for t in (errors.MALFORMED, errors.INVALID, *types):
        response.setdefault(t.status, ProblemOut)
        lines.append(f"- `{t.code}` ({t.status}): {t.title}")
    options: dict[str, Any] = {
        "response": response,
        "description": "Refusals (application/problem+json):\n\n" + "\n".join(lines),
    }
    if summary:
        options["summary"] = summary
    return options
