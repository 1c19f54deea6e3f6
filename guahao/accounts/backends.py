"""Permissions come from the staff member's role alone.

Django's ModelBackend also grants the permissions of every group a user is in and of the user
itself; here only the group of the role on the user's ``StaffProfile`` counts, so a permission
or group given some other way (a shell, an old fixture) opens nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission

from guahao.accounts.models import StaffProfile


class RoleBackend(ModelBackend):
    def _get_user_permissions(self, user_obj: Any) -> Any:
        return Permission.objects.none()

    def _get_group_permissions(self, user_obj: Any) -> Any:
        profile = StaffProfile.objects.filter(user=user_obj).first()
        if profile is None:
            return Permission.objects.none()
        return Permission.objects.filter(group__name=profile.role)
