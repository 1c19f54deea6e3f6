"""Requests to the JSON API that are refused before any view reads them: a body over the size
limit (413), a body that is not JSON (415) and a JSON body that is not an object (422), all as
problem+json. A payment provider's
notification is exempt from the JSON rule: Alipay posts a form."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from guahao.api.problems import problem_response
from guahao.core import errors

API = "/api/"
FORM_POSTED = ("/api/v1/payments/notify/",)


class ApiBody:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API) and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return problem_response(errors.MALFORMED.error())
            if length > settings.API_MAX_BODY_BYTES:
                return problem_response(
                    errors.TOO_LARGE.error(
                        detail=f"{length} bytes; at most {settings.API_MAX_BODY_BYTES}",
                        limit=settings.API_MAX_BODY_BYTES,
                    )
                )
            kind = request.content_type or ""
            json_body = kind == "application/json" or kind.endswith("+json")
            if length and not json_body and not request.path.startswith(FORM_POSTED):
                return problem_response(errors.MEDIA_TYPE.error())
            if length and json_body and not _object(request.body):
                # Every body the API documents is an object ([1] was read as no choice at all).
                return problem_response(errors.INVALID.error(detail="the body is a JSON object", field="body"))
        return self.get_response(request)


def _object(body: bytes) -> bool:
    """Whether a JSON body is an object (or empty), by its first character: what is not JSON at
    all is left to the parser's own answer."""
    start = body.lstrip()[:1]
    return start in (b"", b"{") or start not in b'["-0123456789tfn'
