"""Requests to the JSON API that are refused before any view reads them: a body over the size
limit (413) and a body that is not JSON (415), both as problem+json. A payment provider's
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
        return self.get_response(request)
