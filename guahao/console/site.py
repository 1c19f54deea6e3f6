"""The console's admin site: a staff member gets in with a role, a password and, where required,
a code from their authenticator app (TOTP, django-otp)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.sites import UnfoldAdminSite

from guahao.accounts import staff
from guahao.accounts.scope import staff_scope


class ConsoleSite(UnfoldAdminSite):
    index_template = "console/dashboard.html"
    site_title = _("Guahao console")
    index_title = _("Today")

    def has_permission(self, request: HttpRequest) -> bool:
        return staff.session_staff(request) is not None

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        user: Any = request.user
        if request.method == "GET" and user.is_authenticated and user.is_staff and not staff.otp_passed(request):
            return HttpResponseRedirect(self.otp_url(request))
        return super().login(request, extra_context)

    def otp_url(self, request: HttpRequest) -> str:
        name = "otp" if staff.otp_device_of(request.user) else "otp_enrol"
        url = reverse(f"{self.name}:{name}")
        following = request.GET.get("next")
        return f"{url}?next={following}" if following and following.startswith("/") else url

    def get_urls(self) -> list:
        from guahao.console import desk, otp, stats

        return [
            path("otp/", otp.verify, {"site": self}, name="otp"),
            path("otp/enrol/", otp.enrol, {"site": self}, name="otp_enrol"),
            path("stats/", self.admin_view(stats.stats_view), {"site": self}, name="stats"),
            path("desk/", self.admin_view(desk.desk_view), {"site": self}, name="desk"),
            path("till/", self.admin_view(desk.till_view), {"site": self}, name="till"),
            *super().get_urls(),
        ]

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """The day so far at the staff member's hospital, each figure linking to its list,
        above the console's pages."""
        from guahao.console import dashboard

        day = dashboard.day_of(request)
        context = {
            "day": day,
            "figures": dashboard.figures(day),
            "clinics": dashboard.clinics_today(day),
            "may_see_stats": request.user.has_perm("booking.view_registration"),
            # the desk works for one hospital: the platform admin opens it with ?hospital=
            "may_book": request.user.has_perm("booking.add_registration") and not staff_scope(request.user).is_platform,
            "may_till": staff.keeps_till(request.user),
            "title": _("Today"),
            **(extra_context or {}),
        }
        return super().index(request, context)
