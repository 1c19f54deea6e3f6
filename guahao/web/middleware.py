from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import translation


class PatientLanguage:
    """The patient web app reads in zh-Hans unless the patient chose English with its switch (the
    language cookie), whatever the phone's own language; the API and the console follow
    Accept-Language. Goes after LocaleMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if not request.path.startswith(("/api/", "/console/")) and not chosen:
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class ContentSecurityPolicy(CSPMiddleware):
    """The patient web app (and the API, its docs included) under ``CONTENT_SECURITY_POLICY``: our
    own scripts and styles alone, no inline ones. The hospital console's pages come from
    django-unfold, whose Alpine.js evaluates its ``x-data`` expressions (``unsafe-eval``) and whose
    templates carry ``style`` attributes (``unsafe-inline`` for styles): ``/console/`` alone gets
    ``CONSOLE_CONTENT_SECURITY_POLICY``, which allows those two and still no script from elsewhere
    nor any inline ``<script>``."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None and request.path_info.startswith("/console/"):
            parts.config = settings.CONSOLE_CONTENT_SECURITY_POLICY["DIRECTIVES"]
        return parts
