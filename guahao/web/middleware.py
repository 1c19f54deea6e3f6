from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
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


class PostOnly:
    """A page's action opened as a page (a bookmarked or typed ``/holds/5/release``, a link
    shared from a phone) gets a page of ours that says nothing was done and links to the page the
    action belongs to, instead of a browser's blank 405. The status stays 405 with its ``Allow``
    header; the API and the console answer as before. Goes after ``PatientLanguage``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or request.method not in ("GET", "HEAD")
            or request.path_info.startswith(("/api/", "/console/"))
            or response.content
        ):
            return response
        if request.path_info.startswith("/kiosk/"):
            return redirect("kiosk:menu")  # a kiosk stays the kiosk (its menu, or its start screen)
        page = render(request, "405.html", {"page": _page_of(request.path_info)}, status=405)
        if "Allow" in response:
            page["Allow"] = response["Allow"]
        return page


def _page_of(path: str) -> str:
    """The nearest page above an action's address: ``/holds/5/release`` → ``/holds/5/``,
    ``/waitlist/5/leave`` → ``/waitlist/``."""
    parts = path.strip("/").split("/")[:-1]
    while parts:
        above = "/" + "/".join(parts) + "/"
        try:
            resolve(above)
            return above
        except Resolver404:
            parts.pop()
    return "/"


class ContentSecurityPolicy(CSPMiddleware):
    """The patient web app (and the API, its docs included) under ``CONTENT_SECURITY_POLICY``: our
    own scripts and styles alone, no inline ones. The hospital console's pages come from
    django-unfold, whose Alpine.js evaluates its ``x-data`` expressions (``unsafe-eval``) and whose
    templates carry ``style`` attributes (``unsafe-inline`` for styles): ``/console/`` alone gets
    ``CONSOLE_CONTENT_SECURITY_POLICY``, which allows those two and still no script from elsewhere
    nor any inline ``<script>``.

    A response with no policy of its own (no decorator, no nonce asked for) gets one of four
    headers built once per process (policy or report-only, console or not): building one costs
    more than the rest of a small API answer."""

    _built: dict[tuple[Any, ...], str] = {}
    _OWN = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in self._OWN
        ):
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (404, 500):
            return response
        console = request.path_info.startswith("/console/")
        for report_only, header, setting in (
            (False, HEADER, "CONTENT_SECURITY_POLICY"),
            (True, HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            configured = getattr(settings, setting, None)  # the settings' own object: its id is stable
            config = configured or {}
            key = (report_only, console, id(configured), id(settings.CONSOLE_CONTENT_SECURITY_POLICY))
            policy = self._built.get(key)
            if policy is None:
                parts = self.get_policy_parts(request, response, report_only)
                policy = self._built[key] = build_policy(**asdict(parts), report_only=report_only)
            exempt = getattr(response, "_csp_exempt_ro" if report_only else "_csp_exempt", False)
            excluded = request.path_info.startswith(tuple(config.get("EXCLUDE_URL_PREFIXES") or ()))
            if policy and header not in response and not exempt and not excluded:
                response[header] = policy
        # As django-csp does: a nonce asked for after the header was written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None and request.path_info.startswith("/console/"):
            parts.config = settings.CONSOLE_CONTENT_SECURITY_POLICY["DIRECTIVES"]
        return parts
