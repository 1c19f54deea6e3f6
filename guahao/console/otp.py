"""The second step of a staff login: a code from the authenticator app (TOTP), enrolled the first
time by scanning a QR code; and the page a locked-out login gets."""

from __future__ import annotations

from typing import Any

import segno
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_otp import login as otp_login

from guahao.accounts import staff
from guahao.core.problems import Problem


def _next(request: HttpRequest, site: Any) -> str:
    following = request.POST.get("next") or request.GET.get("next") or ""
    if following and url_has_allowed_host_and_scheme(following, allowed_hosts={request.get_host()}):
        return following
    return reverse(f"{site.name}:index")


def _signed_in_staff(request: HttpRequest, site: Any) -> HttpResponse | None:
    user: Any = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return HttpResponseRedirect(reverse(f"{site.name}:login"))
    return None


def _submit(request: HttpRequest, site: Any, check: Any) -> tuple[str, HttpResponse | None]:
    """A posted code: checked by the service; passed, the session counts as verified and goes on."""
    if request.method != "POST":
        return "", None
    try:
        device = check(user=request.user, token=request.POST.get("otp_token", ""), ip=request.META.get("REMOTE_ADDR"))
    except Problem as problem:
        return str(problem.as_dict()["detail"]), None
    otp_login(request, device)
    return "", HttpResponseRedirect(_next(request, site))


def verify(request: HttpRequest, site: Any) -> HttpResponse:
    if (refused := _signed_in_staff(request, site)) is not None:
        return refused
    if request.method == "POST" and request.POST.get("cancel"):  # log out (from enrolment too)
        logout(request)
        return HttpResponseRedirect(reverse(f"{site.name}:login"))
    if staff.otp_device_of(request.user) is None:
        return HttpResponseRedirect(reverse(f"{site.name}:otp_enrol"))
    error, done = _submit(request, site, staff.otp_verify)
    if done is not None:
        return done
    context = {**site.each_context(request), "title": _("Second factor"), "error": error}
    context["next"] = _next(request, site)
    return TemplateResponse(request, "console/otp_verify.html", context)


def enrol(request: HttpRequest, site: Any) -> HttpResponse:
    if (refused := _signed_in_staff(request, site)) is not None:
        return refused
    if staff.otp_device_of(request.user) is not None:
        return HttpResponseRedirect(reverse(f"{site.name}:otp"))
    device = staff.otp_enrol_start(user=request.user)
    error, done = _submit(request, site, staff.otp_enrol_confirm)
    if done is not None:
        return done
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    context = {
        **site.each_context(request),
        "title": _("Set up the second factor"),
        "error": error,
        "qr": segno.make(device.config_url, error="m").svg_inline(
            scale=4, title=_("QR code for the authenticator app")
        ),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "next": _next(request, site),
    }
    return TemplateResponse(request, "console/otp_enrol.html", context)


def locked_out(request: HttpRequest, credentials: dict | None = None, *args: Any, **kwargs: Any) -> HttpResponse:
    """What django-axes answers a login that is locked out (429)."""
    from django.contrib import admin

    context = {**admin.site.each_context(request), "title": _("Locked out")}
    return render(request, "console/locked_out.html", context, status=429)
