"""The audit log: every staff action (orders, bars, clinics, staff and roles, console edits) with
who, when, what, on which row, before and after, and why; searchable by who and what, filtered
by action and day, exportable like every list."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guahao.accounts.roles import Role
from guahao.booking.models import BlacklistEntry, HoldStatus, RegistrationStatus
from guahao.console.base import ReadOnlyAdmin
from guahao.console.labels import event_label, person_name
from guahao.core.amounts import yuan_shown
from guahao.core.models import AuditEntry
from guahao.payments.models import Method


def _shown(values: dict[str, Any], model: Any = None) -> str:
    """Before or after as staff read them: keys by their names (the row's own fields' too), money
    in 元, states and choices by their labels, moments on the hospital's clock."""

    def field(k: str) -> Any:
        try:
            return model._meta.get_field(k) if model is not None else None
        except FieldDoesNotExist:  # a key that is no field of the row (a form's, an event's)
            return None

    def one(k: str, v: Any) -> str:
        if v is None or v == "":
            return "—"
        if k.endswith("_fen") and isinstance(v, int):
            return yuan_shown(v)  # money as staff read it, not fen
        choices = dict(getattr(field(k), "choices", None) or [])
        if choices and v in choices:
            return str(choices[v])
        if isinstance(v, str):
            moment = _moment(v)
            return moment or str(STATUSES.get(v, v))
        return json.dumps(v, ensure_ascii=False)

    def name(k: str) -> str:
        known = KEYS.get(k) or getattr(field(k), "verbose_name", None)
        return str(known) if known else k

    return "; ".join(f"{name(k)}: {one(k, v)}" for k, v in values.items())


def _moment(text: str) -> str:
    """An ISO date-time as recorded (UTC) on the current time zone's clock; "" if it is none."""
    if len(text) < 16 or text[4:5] != "-" or "T" not in text:
        return ""
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        return ""
    shown = at.astimezone(timezone.get_current_timezone()) if timezone.is_aware(at) else at
    return shown.strftime("%Y-%m-%d %H:%M")


def _model_of(target_type: str) -> Any:
    if target_type == "blacklist":
        return BlacklistEntry
    return next((m for m in apps.get_models() if m._meta.model_name == target_type), None)


# How the recorded keys and states read (other keys are a form's fields, named as recorded).
KEYS = {"status": _("status"), "until": _("until"), "lifted_at": _("lifted at"), "appeal": _("patient's appeal")}
KEYS |= {"from": _("from"), "value": _("before"), "role": _("role"), "hospital": _("hospital")}
KEYS |= {"amount_fen": _("amount"), "slot_number": _("visit number"), "channel": _("channel")}
KEYS |= {"method": _("payment method"), "out_trade_no": _("order number")}
STATUSES = dict(RegistrationStatus.choices) | dict(HoldStatus.choices) | dict(Role.choices) | dict(Method.choices)


class ActionFilter(admin.SimpleListFilter):
    """The actions recorded, each by its name in the reader's language."""

    title = _("what")
    parameter_name = "action"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        recorded = model_admin.get_queryset(request).values_list("action", flat=True).distinct().order_by("action")
        return sorted(((a, event_label(a)) for a in recorded), key=lambda pair: pair[1])

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    hospital_path = "hospital"
    list_display = ["at", "actor_shown", "what", "target", "before_shown", "after_shown", "reason"]
    list_filter = [ActionFilter, "target_type", "at"]
    search_fields = ["actor", "target", "reason"]
    search_help_text = _("Staff member (user name or name), registration number, patient's name or reason")
    date_hierarchy = "at"
    fields = ["at", "actor_shown", "what", "kind_of_row", "target", "before_shown", "after_shown", "reason"]
    readonly_fields = fields

    def get_queryset(self, request: Any) -> Any:
        """Each entry with the name its staff member entered (the entry keeps their user name)."""
        user = get_user_model().objects.filter(username=OuterRef("actor"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                actor_first=Subquery(user.values("first_name")[:1]), actor_last=Subquery(user.values("last_name")[:1])
            )
        )

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> tuple[Any, bool]:
        """Also by the staff member's name as entered (王芳, or either part of it)."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return found, duplicates
        named = (
            get_user_model()
            .objects.annotate(
                family_first=Concat("last_name", "first_name"), given_first=Concat("first_name", "last_name")
            )
            .filter(
                Q(first_name__icontains=term)
                | Q(last_name__icontains=term)
                | Q(family_first__icontains=term.replace(" ", ""))
                | Q(given_first__icontains=term.replace(" ", ""))
            )
            .values("username")
        )
        return found | queryset.filter(actor__in=named), duplicates

    @admin.display(description=AuditEntry._meta.get_field("actor").verbose_name, ordering="actor")
    def actor_shown(self, obj: AuditEntry) -> str:
        """王芳 (wangfang): the name entered, then the user name it was recorded under."""
        name = person_name(getattr(obj, "actor_first", ""), getattr(obj, "actor_last", ""))
        return f"{name} ({obj.actor})" if name else obj.actor

    @admin.display(description=_("kind of row"), ordering="target_type")
    def kind_of_row(self, obj: AuditEntry) -> str:
        model = _model_of(obj.target_type)
        if obj.target_type == "staff":
            return str(_("staff member"))
        if obj.target_type == "blacklist":
            return str(BlacklistEntry._meta.verbose_name)
        return str(model._meta.verbose_name) if model is not None else obj.target_type

    @admin.display(description=_("what"), ordering="action")
    def what(self, obj: AuditEntry) -> str:
        return event_label(obj.action)

    @admin.display(description=_("before"))
    def before_shown(self, obj: AuditEntry) -> str:
        return _shown(obj.before, _model_of(obj.target_type))

    @admin.display(description=_("after"))
    def after_shown(self, obj: AuditEntry) -> str:
        return _shown(obj.after, _model_of(obj.target_type))

    def change_view(self, request: Any, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        """The entry's page, titled in the reader's words and the hospital's time (not the codes)."""
        obj = self.get_object(request, object_id)
        if obj is not None:
            at = obj.at.astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M")
            title = f"{at} {self.actor_shown(obj)} {event_label(obj.action)} {obj.target}"
            extra_context = {**(extra_context or {}), "title": title, "subtitle": None}
        return super().change_view(request, object_id, form_url, extra_context)
