"""What every console page shares: rows, choices and filters narrowed to the staff member's
hospitals (through ``accounts.scope``, the one place that decides it), another hospital's row
answered 404, read-only lists, and actions applied row by row with each refusal shown."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from unfold.admin import ModelAdmin

from guahao.accounts.scope import PLATFORM, StaffScope, staff_scope
from guahao.catalog.models import Hospital
from guahao.core.problems import Problem


def hospital_path_of(model: type[models.Model]) -> str | None:
    """How rows of ``model`` lead to their hospital: the path its console page declares, else a
    ``hospital`` field; a model with neither belongs to the platform."""
    if model is Hospital:
        return "pk"
    registered = admin.site._registry.get(model)
    if isinstance(registered, ScopedAdmin):
        return registered.hospital_path
    if any(f.name == "hospital" for f in model._meta.get_fields()):
        return "hospital"
    return PLATFORM


class ScopedAdmin(ModelAdmin):
    """Rows, choices of foreign keys and filters limited to the staff member's hospitals.

    ``hospital_path`` leads from a row to its hospital; ``None`` makes the page the platform's
    (hospital staff neither see nor open it).
    """

    hospital_path: str | None = "hospital"

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
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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


class ReadOnlyAdmin(ScopedAdmin):
    """Rows nobody edits by hand; actions that act on them through a service ask
    ``permissions=["act"]``: the role's change permission of the model."""

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
