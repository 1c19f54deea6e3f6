"""Requests to the JSON API that are answered before any view reads them: a body over the size
limit (413), a body that is not JSON (415) and a JSON body that is not an object (422), all as
problem+json (a payment provider's notification is exempt from the JSON rule: Alipay posts a
form); and, at release time, holds on a schedule this process knows every patient is refused
now, sold out above all (``RefusedForEveryone``)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _

from guahao.accounts import services as accounts
from guahao.api import schemas
from guahao.api.problems import PROBLEM_JSON, problem_response
from guahao.booking import gate
from guahao.booking import services as booking
from guahao.core import clock, errors
from guahao.core.problems import Problem
from guahao.scheduling import facts
from guahao.scheduling.rules import waitlist_deadline

API = "/api/"
FORM_POSTED = ("/api/v1/payments/notify/",)


class ApiBody:
    """Also: an address under /api/ that does not exist, or does not take the method, is
    answered as problem+json too (not Django's HTML pages). These answers come before the
    language middleware, so each is worded in the request's own language here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API):
            return self.get_response(request)
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            with translation.override(translation.get_language_from_request(request)):
                refused = _body_refused(request)
                if refused is not None:
                    return problem_response(refused)
        response = self.get_response(request)
        if response.status_code in (404, 405) and not response.get("Content-Type", "").startswith(PROBLEM_JSON):
            kind = errors.NOT_FOUND if response.status_code == 404 else errors.METHOD_NOT_ALLOWED
            with translation.override(translation.get_language_from_request(request)):
                answer = problem_response(kind.error())
            if "Allow" in response:
                answer["Allow"] = response["Allow"]
            return answer
        return response


def _body_refused(request: HttpRequest) -> Problem | None:
    """A body the API will not read: too large, not JSON, JSON that does not parse, or JSON that
    is not an object. Every body is read here, so an action whose endpoint takes no body (a
    cancellation) is not done when what was sent is broken."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return errors.MALFORMED.error()
    if length > settings.API_MAX_BODY_BYTES:
        limit = settings.API_MAX_BODY_BYTES
        return errors.TOO_LARGE.error(
            detail=_("%(n)s bytes; at most %(limit)s") % {"n": length, "limit": limit}, limit=limit
        )
    kind = request.content_type or ""
    json_body = kind == "application/json" or kind.endswith("+json")
    if length and not json_body and not request.path.startswith(FORM_POSTED):
        return errors.MEDIA_TYPE.error()
    if length and json_body:
        raw = request.body
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: arrays or objects nested a thousand deep
            return errors.MALFORMED.error(detail=_("The body is not valid JSON."), field="body")
        if b"\\ud" in raw.lower() and not _sound_text(body):
            # A lone half of a surrogate pair ("\ud800") parses, but is no character: no database
            # can store it.
            return errors.MALFORMED.error(detail=_("The body is not valid JSON."), field="body")
        if not isinstance(body, dict):
            # Every body the API documents is an object ([1] was read as no choice at all).
            return errors.INVALID.error(detail=_("The body must be a JSON object."), field="body")
    return None


def _sound_text(body: object) -> bool:
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


HOLDS = "/api/v1/holds"


@dataclass(frozen=True)
class _Kept:
    code: str
    status: int
    facts: object  # the schedule's facts the refusal was made from (``scheduling.facts``)
    until: float  # monotonic
    closes: dt.datetime | None  # the waitlist it offers closes then
    content: bytes
    headers: tuple[tuple[str, str], ...]
    route: object  # the request's ResolverMatch, for the metrics


# (schedule id, language) → the refusal kept in this process
_kept: dict[tuple[int, str], _Kept] = {}


class RefusedForEveryone:
    """Seed 003's static sold-out page: a hold on a schedule that every patient would be refused
    now (``booking.services.refused_for_everyone``: sold out, by this process's gate a moment
    ago; suspended; not released yet; over) is answered with a kept copy of the refusal the
    hold path gave a moment ago (the same alternatives, waitlist offer, release time, language
    and headers) before anything else of the patient is read: only the token, which a crowd's
    patients have kept in this process (no database, no Redis). A request with no live bearer
    token still gets 401, one with an ``Idempotency-Key`` or a period goes the whole way (a
    lost answer may be found there), and a copy lives while the same
    refusal stands, no longer than the alternatives it shows are kept (``gate.LOCAL_SECONDS``),
    nor past a waitlist's closing, nor past a change of the schedule's facts."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        asked = _hold_asked(request) if request.method == "POST" and request.path_info == HOLDS else None
        if asked is None:
            return self.get_response(request)
        kept = _kept.get(asked)
        if kept is not None and kept.until > time.monotonic() and (kept.closes is None or clock.now() < kept.closes):
            known = facts.schedule_facts(asked[0])
            if (
                known is kept.facts
                and known is not None
                and booking.refused_for_everyone(schedule=known.schedule, rules=known.rules) == kept.code
                and accounts.account_for_token(_bearer(request)) is not None  # else 401 on the whole way
            ):
                return _replayed(request, kept)
        response = self.get_response(request)
        code = getattr(response, "problem_code", None)
        if code is not None and not response.cookies:
            self._keep(asked, code, request, response)
        return response

    def _keep(self, asked: tuple[int, str], code: str, request: HttpRequest, response: HttpResponse) -> None:
        known = facts.schedule_facts(asked[0])
        if known is None or booking.refused_for_everyone(schedule=known.schedule, rules=known.rules) != code:
            return  # a refusal of this patient, or by the database: nothing to say for everyone
        # A sold-out refusal offers the waitlist until it closes, and no longer.
        closes = waitlist_deadline(known.schedule, known.rules) if known.rules.waitlist_places > 0 else None
        if len(_kept) > 5000:
            _kept.clear()
        _kept[asked] = _Kept(
            code=code,
            status=response.status_code,
            facts=known,
            until=time.monotonic() + gate.LOCAL_SECONDS,
            closes=closes if closes is not None and clock.now() < closes else None,
            content=response.content,
            headers=tuple(response.items()),
            route=getattr(request, "resolver_match", None),
        )


def _hold_asked(request: HttpRequest) -> tuple[int, str] | None:
    """(schedule id, language) of a hold that may be answered from a kept refusal: a bearer
    token (checked when a copy is replayed), no ``Idempotency-Key``, a valid body naming no period."""
    if not _bearer(request):
        return None
    if "HTTP_IDEMPOTENCY_KEY" in request.META:
        return None
    try:
        body = schemas.HoldIn.model_validate_json(request.body)
    except ValueError:
        return None
    request.hold_in = body  # type: ignore[attr-defined]  # read once: the hold lane takes it
    if body.period_id is not None:
        return None
    return int(body.schedule_id), translation.get_language_from_request(request)


def _bearer(request: HttpRequest) -> str:
    bearer = request.META.get("HTTP_AUTHORIZATION", "").split(" ")
    return " ".join(bearer[1:]) if len(bearer) >= 2 and bearer[0].lower() == "bearer" else ""


def _replayed(request: HttpRequest, kept: _Kept) -> HttpResponse:
    response = HttpResponse(kept.content, status=kept.status)
    for name, value in kept.headers:
        response[name] = value
    response.problem_code = kept.code  # type: ignore[attr-defined]
    request.resolver_match = kept.route  # type: ignore[assignment]
    return response


# What an API request with a bearer token and no cookie needs none of: with no cookie there is
# no session, no logged-in staff user (nor its second factor, idle logout or time zone), no
# message, nothing for CSRF to protect and no login for the lockout to count; and nothing under
# /api/ is a static file.
COOKIE_ONLY = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "guahao.console.middleware.StaffIdle",
        "guahao.console.middleware.StaffTimezone",
        "django.contrib.messages.middleware.MessageMiddleware",
        "axes.middleware.AxesMiddleware",
        "guahao.web.middleware.PostOnly",  # the web app's pages only
    }
)


class BearerLane:
    """Middleware: an API request that carries a bearer token and no cookie (a phone's, a
    partner's) goes through the middleware after this one except ``COOKIE_ONLY``: the same
    security headers, language and URL handling, without the steps that serve cookies. At
    release time a winning hold spends a tenth less of the server's time so."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.core.handlers.base import BaseHandler
        from django.core.handlers.exception import convert_exception_to_response
        from django.utils.module_loading import import_string

        self.get_response = get_response
        after = settings.MIDDLEWARE[settings.MIDDLEWARE.index(f"{__name__}.{type(self).__name__}") + 1 :]
        # A handler of its own with the lane's middleware, built as Django builds its own chain.
        handler: Any = BaseHandler()  # its private lists are Django's own way to fill them
        handler._view_middleware = []
        handler._template_response_middleware = []
        handler._exception_middleware = []
        lane: Any = convert_exception_to_response(self._holds_or_view(handler._get_response))
        for path in reversed([m for m in after if m not in COOKIE_ONLY]):
            middleware = import_string(path)(lane)
            if hasattr(middleware, "process_view"):
                handler._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                handler._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                handler._exception_middleware.append(middleware.process_exception)
            lane = convert_exception_to_response(middleware)
        self.lane: Callable[[HttpRequest], HttpResponse] = lane

    @staticmethod
    def _holds_or_view(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
        """Where the lane ends: a hold goes straight to ``v1.holds_create_direct`` when it takes
        it; everything else to its view, found by its URL."""
        from guahao.api import v1

        def holds_or_view(request: HttpRequest) -> HttpResponse:
            if request.method == "POST" and request.path_info == HOLDS:
                answered = v1.holds_create_direct(request, _bearer(request))
                if answered is not None:
                    return answered
            return view(request)

        return holds_or_view

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.path_info.startswith(API)
            and not request.COOKIES
            and request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
        ):
            return self.lane(request)
        return self.get_response(request)
