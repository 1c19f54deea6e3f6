"""Console pages for the HIS integration: each hospital's connection (platform staff), the
write-backs to the HIS with the ones that keep failing first, and the changes the HIS reported.

Sending a write-back again goes through the HIS services, which record who asked in the
order's audit trail.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminPasswordWidget

from guahao.booking import services as booking
from guahao.console.base import ReadOnlyAdmin, ScopedAdmin, apply_each, is_platform_staff
from guahao.his import check, outbox, sync
from guahao.his import services as his
from guahao.his.interface import HisError, HisRefused
from guahao.his.models import HisCall, HisConnection, HisEvent


class HisConnectionForm(forms.ModelForm):
    new_key = forms.CharField(
        label=_("new signing key"),
        required=False,
        min_length=16,
        strip=True,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        help_text=_(
            "Shared with this hospital's HIS alone: it signs the platform's requests and checks the events "
            "the HIS pushes. Stored sealed and never shown again. Empty keeps the current key (the platform's "
            "GUAHAO_HIS_KEY until one is set)."
        ),
    )

    class Meta:
        model = HisConnection
        fields: list[str] = []  # the admin below lists them (its URL field built the console's way)


@admin.register(HisConnection)
class HisConnectionAdmin(ScopedAdmin):
    form = HisConnectionForm
    fields = ["hospital", "mode", "base_url", "hospital_code", "is_active", "new_key", "own_key"]
    fields += ["synced_at", "sync_error", "change_seq"]
    list_display = ["hospital", "mode", "hospital_code", "own_key", "is_active", "synced_at", "sync_error"]
    list_display += ["change_seq"]
    list_filter = ["mode", "is_active"]
    readonly_fields = ["own_key", "synced_at", "sync_error", "change_seq"]
    actions = ["sync_now", "check_now"]

    @admin.display(description=_("own signing key"), boolean=True)
    def own_key(self, obj: HisConnection) -> bool:
        return bool(obj.key_sealed)

    def save_model(self, request: HttpRequest, obj: HisConnection, form: Any, change: bool) -> None:
        if form.cleaned_data.get("new_key"):
            obj.signing_key_set(form.cleaned_data["new_key"])
        super().save_model(request, obj, form, change)

    # The connection (address, mode, keys) is the platform's to set; a hospital admin reads it.
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_platform_staff(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_staff(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_staff(request) and super().has_delete_permission(request, obj)

    def _each(self, request: HttpRequest, queryset: QuerySet, run: Any) -> None:
        for connection in queryset.select_related("hospital"):
            try:
                self.message_user(request, f"{connection.hospital}: {run(connection)}", messages.INFO)
            except (HisError, HisRefused) as exc:
                self.message_user(request, f"{connection.hospital}: {exc}", messages.ERROR)

    @admin.action(description=_("Sync the selected hospitals from their HIS now"), permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, sync.hospital_sync)

    @admin.action(description=_("Compare the selected hospitals with their HIS"), permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        def differences(connection: HisConnection) -> str:
            found = check.differences(connection)
            return "; ".join(found[:20]) if found else str(_("no differences"))

        self._each(request, queryset, differences)


class NeedsAttention(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Refused, or still failing after several attempts"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(outbox.failing()) if self.value() == "yes" else queryset


@admin.register(HisCall)
class HisCallAdmin(ReadOnlyAdmin):
    list_display = ["kind", "ref", "status", "attempts", "last_error", "next_at", "registration", "hospital"]
    list_display += ["created_at", "done_at"]
    list_filter = [NeedsAttention, "status", "kind", "hospital"]
    search_fields = ["ref", "registration__registration_number"]
    list_select_related = ["registration", "hospital"]
    actions = ["send_again"]

    @admin.action(description=_("Send the selected write-backs again now"), permissions=["act"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(self, request, queryset, lambda call: his.call_retry(call=call, actor=actor), str(_("Sent again")))


@admin.register(HisEvent)
class HisEventAdmin(ReadOnlyAdmin):
    list_display = ["type", "event_id", "outcome", "received_at", "hospital"]
    list_filter = ["type", "outcome", "hospital"]
    search_fields = ["event_id"]
