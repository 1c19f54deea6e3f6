"""Console pages of staff access: staff members with their role and hospital, the roles'
permissions (platform admin), the staff access log, and lockouts (platform admin lifts them).

A role or hospital is given only through ``accounts.staff.staff_role_set``, which refuses what
the staff member may not give (their own role, a platform role, another hospital) and records
every change.
"""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.widgets import UnfoldAdminPasswordWidget

from guahao.accounts import staff
from guahao.accounts.lockouts import lockout_of
from guahao.accounts.models import StaffEvent, StaffEventKind, StaffLockout, StaffProfile, StaffRole
from guahao.accounts.roles import Role
from guahao.accounts.scope import PLATFORM, staff_scope
from guahao.catalog.models import Hospital
from guahao.console.base import ReadOnlyAdmin, ScopedAdmin, apply_each
from guahao.console.labels import person_name
from guahao.core.problems import Problem

User = get_user_model()

# Django's own pages of users and groups, django-otp's of devices and django-axes's of attempts
# show every hospital's staff: the pages below replace them (a device is reset from its staff
# member's page).
for _model in (User, Group, TOTPDevice, AccessAttempt):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class StaffForm(forms.ModelForm):
    role = forms.ChoiceField(label=_("role"), choices=Role.choices)
    hospital = forms.ModelChoiceField(label=_("hospital"), queryset=Hospital.objects.none(), required=False)
    new_password = forms.CharField(
        label=_("password"),
        required=False,
        strip=False,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        help_text=_("Required for a new staff member; empty keeps the current password."),
    )

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "is_active"]

    by: Any = None  # the staff member filling the form (set on the class the console makes for them)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = staff_scope(self.by)
        if self.instance.pk is not None and self.instance.pk == getattr(self.by, "pk", None) and not scope.is_platform:
            del self.fields["role"], self.fields["hospital"]  # never one's own role or hospital
            return
        hospital: Any = self.fields["hospital"]
        hospital.queryset = scope.narrow(Hospital.objects.all(), "pk")
        if not scope.is_platform:
            hospital.required, hospital.empty_label = True, None
            allowed = [c for c in Role.choices if c[0] not in staff.ADMIN_ROLES]  # the platform's to give
            self.fields["role"].choices = allowed  # type: ignore[attr-defined]
        profile = StaffProfile.objects.filter(user_id=self.instance.pk).first() if self.instance.pk else None
        if profile is not None:
            self.initial.setdefault("role", profile.role)
            self.initial.setdefault("hospital", profile.hospital_id)
        elif scope.hospital_id is not None:
            self.initial.setdefault("hospital", scope.hospital_id)

    def clean_new_password(self) -> str:
        password = self.cleaned_data.get("new_password", "")
        if not password and not self.instance.pk:
            raise forms.ValidationError(_("A new staff member needs a password."))
        if password:
            password_validation.validate_password(password, self.instance)
        return password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "role" in self.fields and "role" in data:
            try:
                staff.staff_role_check(
                    by=self.by,
                    user=self.instance if self.instance.pk else None,
                    hospital=data.get("hospital"),
                    role=data["role"],
                )
            except Problem as problem:
                self.add_error(problem.extra.get("field", "role"), str(problem.as_dict()["detail"]))
                target = data.get("username") or self.instance.get_username()
                staff.staff_role_refused(by=self.by, target=target, rule=problem.code, role=data["role"])
        return data


class RoleFilter(admin.SimpleListFilter):
    title = _("role")
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        scope = staff_scope(request.user)
        return [c for c in Role.choices if scope.is_platform or c[0] != Role.PLATFORM_ADMIN]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(staff_profile__role=self.value()) if self.value() else queryset


@admin.register(User)
class StaffAdmin(ScopedAdmin):
    hospital_path = "staff_profile__hospital"
    form = StaffForm
    list_display = ["username", "full_name", "role", "hospital", "is_active", "second_factor", "last_login"]
    list_filter = ["is_active", RoleFilter]
    search_fields = ["username", "first_name", "last_name", "email"]
    actions = ["reset_second_factor"]
    verbose_name = _("staff member")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(is_staff=True).select_related("staff_profile__hospital")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Another admin's page is read-only but for a platform admin (accounts.staff.staff_is_peer).
        peer = obj is not None and staff.staff_is_peer(by=request.user, user=obj)
        return not peer and super().has_change_permission(request, obj)

    def _own(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and obj.pk == request.user.pk and not staff_scope(request.user).is_platform

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if self._own(request, obj):  # never one's own role or hospital
            return ["username", "first_name", "last_name", "email", "new_password", "role_shown", "hospital_shown"]
        fields = ["username", "first_name", "last_name", "email", "is_active", "role", "hospital", "new_password"]
        return fields if obj is not None else [f for f in fields if f != "is_active"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["role_shown", "hospital_shown"] if self._own(request, obj) else []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.by = request.user
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        staff.staff_member_save(
            by=request.user,
            user=obj,
            password=data.get("new_password", ""),
            role=data.get("role"),
            hospital=data.get("hospital"),
            changed=[f for f in form.changed_data if f != "new_password"],
            ip=request.META.get("REMOTE_ADDR"),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a staff member who leaves is made inactive: the audit log keeps their name

    @admin.display(description=_("name"))
    def full_name(self, obj: Any) -> str:
        return person_name(obj.first_name, obj.last_name)

    @admin.display(description=_("role"))
    def role(self, obj: Any) -> str:
        profile = getattr(obj, "staff_profile", None)
        return profile.get_role_display() if profile else "—"

    @admin.display(description=_("role"))
    def role_shown(self, obj: Any) -> str:
        return self.role(obj)

    @admin.display(description=_("hospital"))
    def hospital(self, obj: Any) -> str:
        profile = getattr(obj, "staff_profile", None)
        return str(profile.hospital) if profile and profile.hospital else str(_("All hospitals"))

    @admin.display(description=_("hospital"))
    def hospital_shown(self, obj: Any) -> str:
        return self.hospital(obj)

    @admin.display(description=_("second factor"), boolean=True)
    def second_factor(self, obj: Any) -> bool:
        return staff.otp_device_of(obj) is not None

    @admin.action(description=_("Reset the second factor (they enrol again)"), permissions=["change"])
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet) -> None:
        ip = request.META.get("REMOTE_ADDR")
        apply_each(self, request, queryset, lambda u: staff.otp_reset(by=request.user, user=u, ip=ip), str(_("Reset")))


@admin.register(StaffRole)
class RoleAdmin(ScopedAdmin):
    """The roles and their permissions: the platform admin's alone; every change is logged."""

    hospital_path = PLATFORM
    list_display = ["__str__", "name"]
    fields = ["name", "permissions"]
    readonly_fields = ["name"]
    filter_horizontal = ["permissions"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "permissions":
            field.label_from_instance = _permission_label
        return field

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # the roles are fixed (accounts.roles); their permissions may be tuned

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        before = set(form.instance.permissions.values_list("codename", flat=True))
        super().save_related(request, form, formsets, change)
        after = set(form.instance.permissions.values_list("codename", flat=True))
        if before != after:
            staff.staff_event_record(
                kind=StaffEventKind.PERMISSIONS_CHANGED,
                actor=request.user,
                target=form.instance.name,
                ip=request.META.get("REMOTE_ADDR"),
                added=sorted(after - before),
                removed=sorted(before - after),
            )


@admin.register(StaffEvent)
class StaffEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "actor", "target", "hospital", "ip", "what"]
    list_filter = ["kind", "hospital"]
    search_fields = ["actor", "target", "ip"]
    date_hierarchy = "at"
    fields = ["at", "kind", "actor", "target", "hospital", "ip", "what"]
    readonly_fields = fields

    @admin.display(description=_("detail"))
    def what(self, obj: StaffEvent) -> str:
        shown = []
        for key, value in sorted(obj.detail.items()):
            if key in ("role", "before_role") and value in Role.values:
                value = Role(value).label
            shown.append(f"{DETAIL_NAMES.get(key, key)}: {value if value not in (None, '') else '—'}")
        return "; ".join(shown)


DETAIL_NAMES = {
    "role": _("role"),
    "before_role": _("role before"),
    "before_hospital": _("hospital before"),
    "fields": _("fields"),
    "added": _("added"),
    "removed": _("removed"),
    "rule": _("rule"),
    "address": _("IP address"),
}


ACTIONS = {"view": _("view"), "add": _("add"), "change": _("change"), "delete": _("delete")}


def _permission_label(permission: Any) -> str:
    action = permission.codename.split("_", 1)[0]
    model = permission.content_type.model_class()
    what = model._meta.verbose_name if model is not None else permission.content_type.model
    app = model._meta.app_config.verbose_name if model is not None else permission.content_type.app_label
    if action not in ACTIONS:  # a model's own permission (refund, attendance): its own wording
        return f"{app} · {what} · {gettext(permission.name)}"  # stored as written: worded on reading
    return f"{app} · {what} · {ACTIONS[action]}"


@admin.register(StaffLockout)
class LockoutAdmin(ReadOnlyAdmin):
    """Failed staff logins by user name and address; at the limits, that login is locked."""

    hospital_path = PLATFORM
    list_display = ["user_name", "address", "failures", "locked", "last_attempt"]
    fields = ["user_name", "address", "failures", "locked", "last_attempt"]
    readonly_fields = fields
    search_fields = ["username", "ip_address"]
    actions = ["lift"]

    @admin.display(description=_("user name"), ordering="username")
    def user_name(self, obj: AccessAttempt) -> str:
        return obj.username or ""

    @admin.display(description=_("IP address"), ordering="ip_address")
    def address(self, obj: AccessAttempt) -> str:
        return obj.ip_address or ""

    @admin.display(description=_("wrong passwords"), ordering="failures_since_start")
    def failures(self, obj: AccessAttempt) -> int:
        return obj.failures_since_start

    @admin.display(description=_("last attempt"), ordering="attempt_time")
    def last_attempt(self, obj: AccessAttempt) -> Any:
        return obj.attempt_time

    @admin.display(description=_("locked"))
    def locked(self, obj: AccessAttempt) -> str:
        return {"user": str(_("this user name")), "address": str(_("this address"))}.get(lockout_of(obj), "—")

    def has_act_permission(self, request: HttpRequest) -> bool:
        return staff_scope(request.user).is_platform

    @admin.action(description=_("Lift the selected locks"), permissions=["act"])
    def lift(self, request: HttpRequest, queryset: QuerySet) -> None:
        ip = request.META.get("REMOTE_ADDR")
        apply_each(
            self,
            request,
            queryset,
            lambda a: staff.staff_lock_lift(by=request.user, username=a.username, ip_address=a.ip_address, ip=ip),
            str(_("Lifted")),
        )
