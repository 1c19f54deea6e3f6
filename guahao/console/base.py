"""What every console page shares: rows, choices and filters narrowed to the staff member's
hospitals (through ``accounts.scope``, the one place that decides it), another hospital's row
answered 404, read-only lists, and actions applied row by row with each refusal shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.admin.utils import display_for_field, display_for_value, label_for_field, lookup_field
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.utils.html import strip_tags
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from guahao.accounts.scope import PLATFORM, StaffScope, staff_scope
from guahao.catalog.models import Doctor, Hospital
from guahao.console import exports
from guahao.console.exports import table_response
from guahao.core.amounts import yuan_shown
from guahao.core.audit import audit_record
from guahao.core.problems import Problem


def in_yuan(name: Any) -> Any:
    return f"yuan__{name}" if isinstance(name, str) and name.endswith("_fen") else name


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, QuerySet)):
        return [str(v) for v in value]
    return str(value)


EXPORT_LIMIT = 100_000  # rows in one file; a larger list is narrowed by its filters first


def hospital_path_of(model: type[models.Model]) -> str | None:
    """How rows of ``model`` lead to their hospital: the path its console page declares, else a
    ``hospital`` field; a model with neither belongs to the platform."""
    if model is Hospital:
        return "pk"
    registered = admin.site._registry.get(model)
    if isinstance(registered, ScopedAdmin):
        return registered.hospital_path
    if any(f.name in ("hospital", "hospital_id") for f in model._meta.get_fields()):
        return "hospital"
    return PLATFORM


class ScopedAdmin(ModelAdmin):
    """Rows, choices of foreign keys and filters limited to the staff member's hospitals.

    ``hospital_path`` leads from a row to its hospital; ``None`` makes the page the platform's
    (hospital staff neither see nor open it).
    """

    hospital_path: str | None = "hospital"
    change_list_template = "console/change_list.html"

    def __getattr__(self, name: str) -> Any:
        """``yuan__<field>_fen``: a column or read-only field that shows fen as 元 (¥12.50),
        labelled as the field without its "(fen)"."""
        if not name.startswith("yuan__"):
            raise AttributeError(name)
        field = name.removeprefix("yuan__")

        def shown(obj: Any) -> str:
            return yuan_shown(getattr(obj, field))

        label = str(self.model._meta.get_field(field).verbose_name)
        shown.short_description = label.replace(" (fen)", "").replace("（分）", "")  # type: ignore[attr-defined]
        shown.admin_order_field = field  # type: ignore[attr-defined]
        return shown

    def scope(self, request: HttpRequest) -> StaffScope:
        return staff_scope(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope(request).narrow(super().get_queryset(request), self.hospital_path)

    def _platform_only_refuses(self, request: HttpRequest) -> bool:
        return self.hospital_path is PLATFORM and not self.scope(request).is_platform

    def has_module_permission(self, request: HttpRequest) -> bool:
        return not self._platform_only_refuses(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._platform_only_refuses(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return not self._platform_only_refuses(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._platform_only_refuses(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._platform_only_refuses(request) and super().has_delete_permission(request, obj)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # Another hospital's row (or none at all) is not found, as in the staff API: not a
        # redirect that tells it exists.
        raise Http404

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")  # an address typed without one
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        model = db_field.related_model
        qs = kwargs.get("queryset")
        if qs is None:
            qs = model._default_manager.all()
        kwargs["queryset"] = self.scope(request).narrow(qs, hospital_path_of(model))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._choices(db_field, request, kwargs)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Doctor:
            # A doctor is chosen by name and department: namesakes apart, and a doctor of another
            # department (a 特需门诊 clinic is one) chosen knowingly.
            field.queryset = field.queryset.select_related("department").order_by("department__name", "name", "pk")
            field.label_from_instance = lambda d: f"{d.name} · {d.department.name}"
        return field

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        """A filter by a related row offers only the rows the list shows (never another
        hospital's names)."""
        narrowed: list[Any] = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if field.is_relation:
                    narrowed.append((item, RelatedOnlyFieldListFilter))
                    continue
            narrowed.append(item)
        return narrowed

    # --- the audit log: what staff add, change or delete on a console form ---------------------

    SECRET_FIELDS = ("key", "password", "secret", "token")

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        request._console_changes = {  # type: ignore[attr-defined]
            name: [_plain(form.initial.get(name)), _plain(form.cleaned_data.get(name))]
            for name in form.changed_data
            if not any(word in name for word in self.SECRET_FIELDS)
        }
        return super().save_form(request, form, change)

    def _audit(self, request: HttpRequest, obj: Any, action: str) -> None:
        if obj is None or obj.pk is None or self.model is get_user_model():
            return  # staff members' changes are recorded by accounts.staff with their roles
        hospital_id = obj.pk if isinstance(obj, Hospital) else getattr(obj, "hospital_id", None)
        changes: dict[str, list[Any]] = getattr(request, "_console_changes", {})
        audit_record(
            actor=request.user.get_username(),
            action=action,
            target_type=self.opts.model_name,
            target_id=obj.pk,
            target=str(obj)[:100],
            hospital_id=hospital_id,
            before={k: v[0] for k, v in changes.items()} if action == "console.changed" else {},
            after={k: v[1] for k, v in changes.items()},
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "console.added")
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "console.changed")
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "console.deleted")
        return super().log_deletions(request, queryset)

    # --- export: every list, as filtered and searched on the page, as CSV or Excel ----------------

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        export = self.admin_site.admin_view(self.export_view)
        return [path("export/<str:fmt>/", export, name="{}_{}_export".format(*info)), *super().get_urls()]

    def export_columns(self, request: HttpRequest) -> list[str]:
        return [name for name in self.get_list_display(request) if name != "action_checkbox"]

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """The list's columns as shown (choices worded, money in 元, times local, personal data
        masked) for every row its filters and search keep, not only the page shown."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        columns = self.export_columns(request)
        headers = [label_for_field(name, self.model, self) for name in columns]

        def cells(obj: Any) -> list[Any]:
            out = []
            for name in columns:
                field, _attr, value = lookup_field(name, obj, self)
                if isinstance(value, bool):  # a page's tick or cross, in words
                    out.append(str(_("Yes") if value else _("No")))
                    continue
                if isinstance(value, dt.datetime | dt.date) and not getattr(field, "choices", None):
                    out.append(exports.moment(value))  # sortable, on the staff member's clock
                    continue
                if field is None:
                    shown = display_for_value(value, "", boolean=bool(getattr(_attr, "boolean", False)))
                elif isinstance(field, models.ForeignKey):
                    shown = "" if value is None else str(value)
                else:
                    shown = display_for_field(value, field, "")
                out.append(exports.number_or_text(strip_tags(str(shown))))
            return out

        rows = (cells(obj) for obj in changelist.queryset[:EXPORT_LIMIT])
        return table_response(headers=headers, rows=rows, name=self.opts.model_name, fmt=fmt)


class ReadOnlyAdmin(ScopedAdmin):
    """Rows nobody edits by hand; actions that act on them through a service ask
    ``permissions=["act"]``: the role's change permission of the model. Amounts kept in fen
    read in 元."""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [in_yuan(name) for name in super().get_fields(request, obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [in_yuan(name) for name in super().get_readonly_fields(request, obj)]

    def has_act_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        allowed = request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")
        return not self._platform_only_refuses(request) and allowed

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def is_platform_staff(request: HttpRequest) -> bool:
    return staff_scope(request.user).is_platform


def apply_each(
    modeladmin: ModelAdmin, request: HttpRequest, queryset: Iterable[Any], action: Callable[[Any], object], done: str
) -> None:
    ok = 0
    for obj in queryset:
        try:
            action(obj)
            ok += 1
        except Problem as problem:
            modeladmin.message_user(request, f"{obj}: {problem.as_dict()['detail']}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}", messages.SUCCESS)
