"""What every console page shares: rows limited to the staff member's hospital, read-only
lists, and actions applied row by row with each refusal shown."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from guahao.accounts.services import staff_hospital_id
from guahao.catalog.models import Campus, Department, Doctor, Hospital
from guahao.core.problems import Problem


class ScopedAdmin(ModelAdmin):
    """Limits rows (and choices of hospital-owned foreign keys) to the staff member's hospital."""

    hospital_path = "hospital"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        scope = staff_hospital_id(request.user)
        return qs if scope is None else qs.filter(**{f"{self.hospital_path}_id": scope})

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")  # an address typed without one
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        scope = staff_hospital_id(request.user)
        if scope is not None:
            model = db_field.related_model
            if model is Hospital:
                kwargs["queryset"] = Hospital.objects.filter(pk=scope)
            elif model in (Campus, Department, Doctor):
                kwargs["queryset"] = model.objects.filter(hospital_id=scope)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(ScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def is_platform_staff(request: HttpRequest) -> bool:
    return request.user.is_staff and staff_hospital_id(request.user) is None


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
