"""Staff roles: who may do what in the console and the staff API.

Each role is a Django group (created by a migration) holding its permissions; a staff member has
exactly one role at one hospital (``StaffProfile``), except the platform admin, who has none and
sees every hospital. Permissions come from the role alone (``backends.RoleBackend``): a group or
a permission given to a user by other means grants nothing.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", _("Platform admin")
    HOSPITAL_ADMIN = "hospital_admin", _("Hospital admin")
    OPERATOR = "operator", _("Operator")
    FINANCE = "finance", _("Finance")
    VIEWER = "viewer", _("Viewer")
    WINDOW_CLERK = "window_clerk", _("Window clerk")
    CALL_CENTRE = "call_centre", _("Call centre")


# What each hospital role may do, by model ("app_label.model": actions). The platform admin has
# every permission. A model missing here is not open to hospital staff at all.
_HOSPITAL_WORK = {
    "catalog.hospital": "view",
    "catalog.campus": "view",
    "catalog.department": "view",
    "catalog.doctor": "view",
    "catalog.fee": "view",
    "scheduling.schedule": "view",
    "scheduling.ruleset": "view",
    "scheduling.scheduletemplate": "view",
    "scheduling.calendarday": "view",
    "scheduling.scheduleevent": "view",
    "booking.registration": "view",
    "booking.hold": "view",
    "booking.bookingevent": "view",
    "booking.blacklistentry": "view",
    "accounts.patient": "view",
    "his.hiscall": "view",
    "his.hisevent": "view",
    "payments.payment": "view",
    "payments.refund": "view",
    "payments.failedrefund": "view",
    "payments.reconciliationrun": "view",
    "payments.reconciliationdifference": "view",
    "notifications.message": "view",
    "notifications.messagetemplate": "view",
    "core.auditentry": "view",
    "waitlist.waitlistentry": "view",
    "waitlist.waitlistdraw": "view",
    "waitlist.waitlistevent": "view",
    "booking.reliefgrant": "view",
    "booking.rating": "view",
}

ROLE_PERMISSIONS: dict[str, dict[str, str]] = {
    Role.VIEWER: dict(_HOSPITAL_WORK),
    Role.OPERATOR: {
        **_HOSPITAL_WORK,
        "scheduling.schedule": "view add change",
        "scheduling.scheduletemplate": "view add change",
        "scheduling.calendarday": "view add change",
        "booking.registration": "view change refund attendance",
        "booking.blacklistentry": "view add change",
        "his.hiscall": "view change",
        "notifications.message": "view change",
        "waitlist.waitlistentry": "view change",  # remove an entry, with a reason
        "booking.reliefgrant": "view add",
        "booking.rating": "view change",  # publish or reject patients' ratings
    },
    Role.FINANCE: {
        **_HOSPITAL_WORK,
        "payments.refund": "view change",
        "payments.failedrefund": "view change",
        "payments.reconciliationdifference": "view change",  # marks one handled, with a note
    },
    # Book on a patient's behalf (find or add the patient by real name and ID number, hold, and
    # take the fee at the window or send a payment link), cancel, move, check in and refund at the
    # window (退费, from the till); not mark visits and no-shows (an undone no-show lifts a bar).
    Role.WINDOW_CLERK: {
        **_HOSPITAL_WORK,
        "booking.registration": "view add change refund",
        "booking.hold": "view add",
        "accounts.patient": "view add",
        "payments.payment": "view add",
        "booking.reliefgrant": "view add",
    },
    Role.CALL_CENTRE: {
        **_HOSPITAL_WORK,
        "booking.registration": "view add change",
        "booking.hold": "view add",
        "accounts.patient": "view add",
        "booking.reliefgrant": "view add",
    },
    Role.HOSPITAL_ADMIN: {
        **_HOSPITAL_WORK,
        "catalog.hospital": "view change",
        "catalog.campus": "view add change delete",
        "catalog.department": "view add change delete",
        "catalog.doctor": "view add change delete",
        "catalog.fee": "view add change delete",
        "scheduling.schedule": "view add change",
        "scheduling.scheduletemplate": "view add change delete",
        "scheduling.calendarday": "view add change delete",
        "scheduling.ruleset": "view add change delete",
        "booking.registration": "view change refund attendance",
        "booking.blacklistentry": "view add change",
        "his.hisconnection": "view",
        "his.hiscall": "view change",
        "payments.refund": "view change",
        "payments.failedrefund": "view change",
        "auth.user": "view add change",
        "accounts.staffevent": "view",
        "notifications.message": "view change",
        "notifications.messagetemplate": "view add change delete",
        "notifications.hospitalchannels": "view add change",
        "waitlist.waitlistentry": "view change",
        "booking.reliefgrant": "view add change",  # approves another's request
        "booking.rating": "view change",
        "accounts.kioskdevice": "view add change",  # registers the hospital's kiosks, revokes them
    },
}


def roles_sync(apps, *, missing_only: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Create each role's group with exactly the permissions above (every one for the platform
    admin). Takes an app registry (a migration's historical one). ``missing_only``: leave the
    roles that exist as the platform admin tuned them; only the platform admin gains the
    permissions of new models."""
    from django.contrib.auth.management import create_permissions
    from django.db.migrations.state import StateApps

    for config in apps.get_app_configs():
        if isinstance(apps, StateApps):  # a migration's registry: its apps carry no models module
            config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    every = list(Permission.objects.select_related("content_type"))
    # (app label, model, codename) → permission: one query, however many roles and models
    # (a database emptied by a test's flush gets its roles back this way, many times a run).
    by_name = {(p.content_type.app_label, p.content_type.model, p.codename): p for p in every}
    for role in Role.values:
        group, created = Group.objects.get_or_create(name=role)
        if role == Role.PLATFORM_ADMIN:
            group.permissions.set(every)
            continue
        if missing_only and not created:
            continue
        wanted = []
        for label, actions in ROLE_PERMISSIONS[role].items():
            app_label, model = label.split(".")
            for action in actions.split():
                found = by_name.get((app_label, model, f"{action}_{model}"))
                if found is not None:
                    wanted.append(found)
        group.permissions.set(wanted)


def roles_grant(apps, *, models: list[str], roles: list[str] | None = None) -> None:  # type: ignore[no-untyped-def]
    """Give each role (or each of ``roles``) the permissions listed above for ``models`` (new
    kinds of rows), adding to what the platform admin tuned rather than resetting the roles."""
    from django.contrib.auth.management import create_permissions
    from django.db.migrations.state import StateApps

    for config in apps.get_app_configs():
        if isinstance(apps, StateApps):
            config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in roles or Role.values:
        group, _created = Group.objects.get_or_create(name=role)
        for label in models:
            app_label, model = label.split(".")
            of_model = Permission.objects.filter(content_type__app_label=app_label, content_type__model=model)
            if role == Role.PLATFORM_ADMIN:
                group.permissions.add(*of_model)
                continue
            actions = ROLE_PERMISSIONS[role].get(label, "").split()
            group.permissions.add(*of_model.filter(codename__in=[f"{a}_{model}" for a in actions]))
