"""Console page of the hospital's self-service kiosks: a hospital admin adds a device (its
token is shown once, on the page that follows, and kept nowhere but as a keyed hash), sees when
each was last used, and revokes one (taken away, or its token seen by others)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from guahao.accounts import kiosks
from guahao.accounts.models import KioskDevice
from guahao.console.base import ScopedAdmin


@admin.register(KioskDevice)
class KioskDeviceAdmin(ScopedAdmin):
    list_display = ["name", "hospital", "state", "created_at", "created_by", "last_seen_at", "revoked_at"]
    list_filter = ["hospital"]
    search_fields = ["name"]
    actions = ["revoke"]
    fields = ["hospital", "name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return ["hospital", "name", "created_at", "created_by", "last_seen_at", "revoked_at", "revoked_by"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if obj is None else self.get_readonly_fields(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        hospital = self.scope(request).hospital_id
        return {"hospital": hospital} if hospital else {}

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, kept: the audit log names it

    @admin.display(description=_("state"))
    def state(self, obj: KioskDevice) -> str:
        return str(_("Revoked") if obj.revoked_at else _("In use"))

    def save_model(self, request: HttpRequest, obj: KioskDevice, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a device changes but its revocation (the action)
        device, key = kiosks.kiosk_device_create(hospital=obj.hospital, name=obj.name, by=request.user.get_username())
        obj.pk, obj.created_at, obj.key_hash = device.pk, device.created_at, device.key_hash
        request._kiosk_token = key  # type: ignore[attr-defined]

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # kiosks.kiosk_device_create wrote the audit entry

    def response_add(self, request: HttpRequest, obj: KioskDevice, post_url_continue: Any = None) -> HttpResponse:
        """The token, this once: to type into the kiosk's set-up page (or open its set-up link)."""
        key = getattr(request, "_kiosk_token", "")
        setup = request.build_absolute_uri(reverse("kiosk:setup"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Kiosk %(name)s added") % {"name": obj.name},
            "device": obj,
            "token": key,
            "setup_url": setup,
            "list_url": reverse("admin:accounts_kioskdevice_changelist"),
            "opts": self.opts,
        }
        return TemplateResponse(request, "console/kiosk_token.html", context)

    @admin.action(description=_("Revoke the selected kiosks (their tokens open nothing)"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        for device in queryset:
            kiosks.kiosk_device_revoke(device=device, by=by)
        self.message_user(request, _("Revoked: %(n)d") % {"n": queryset.count()}, messages.SUCCESS)
