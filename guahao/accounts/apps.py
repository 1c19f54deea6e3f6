from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "guahao.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Accounts and staff")

    def ready(self) -> None:
        # Logins, failed logins and lockouts reach us only as Django's and django-axes's auth
        # signals (there is no other hook in the login flow); each is written to the staff
        # access log by the service, nothing else happens here.
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        user_logged_in.connect(_logged_in, dispatch_uid="guahao.staff.login")
        user_login_failed.connect(_login_failed, dispatch_uid="guahao.staff.login_failed")
        user_locked_out.connect(_locked_out, dispatch_uid="guahao.staff.locked_out")
        # The roles are made by a migration; a database emptied since (flush) gets them back.
        post_migrate.connect(_roles_back, sender=self, dispatch_uid="guahao.staff.roles")


def _roles_back(sender: Any, apps: Any = None, **kwargs: Any) -> None:
    from django.apps import apps as installed

    from guahao.accounts.roles import roles_sync

    roles_sync(apps or installed, missing_only=True)


def _ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from guahao.accounts import staff
    from guahao.accounts.models import StaffEventKind

    if user.is_staff:
        staff.staff_login_recorded(kind=StaffEventKind.LOGIN, username=user.get_username(), ip=_ip(request))


def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    from guahao.accounts import staff
    from guahao.accounts.models import StaffEventKind

    staff.staff_login_recorded(
        kind=StaffEventKind.LOGIN_FAILED, username=str(credentials.get("username", ""))[:150], ip=_ip(request)
    )


def _locked_out(
    sender: Any, request: Any, username: str | None = None, ip_address: str | None = None, **kw: Any
) -> None:
    from guahao.accounts import staff
    from guahao.accounts.models import StaffEventKind

    staff.staff_login_recorded(
        kind=StaffEventKind.LOCKED_OUT, username=str(username or "")[:150], ip=ip_address or _ip(request)
    )
