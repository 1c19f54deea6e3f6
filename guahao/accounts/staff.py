"""Services of staff access: roles and hospitals of staff members, the second factor, and the
audit log of logins, lockouts, roles and permissions (``StaffEvent``).

Who may give which role: a platform admin any role at any hospital; a hospital admin the
hospital roles at their own hospital. Nobody but a platform admin changes their own role or
hospital, and only a platform admin makes platform admins.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guahao.accounts import errors
from guahao.accounts.models import StaffEvent, StaffEventKind, StaffProfile
from guahao.accounts.roles import Role
from guahao.accounts.scope import staff_scope
from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.core.audit import audit_record


def staff_event_record(
    *,
    kind: str,
    actor: Any = None,
    target: str = "",
    hospital_id: int | None = None,
    ip: str | None = None,
    **detail: Any,
) -> StaffEvent:
    name = actor.get_username() if hasattr(actor, "get_username") else str(actor or "")
    event = StaffEvent.objects.create(
        at=clock.now(), kind=kind, actor=name, target=target, hospital_id=hospital_id, ip=ip or None, detail=detail
    )
    if kind in STAFF_ACTIONS and name:  # one staff member acting on another: in the audit log too
        before = {k.removeprefix("before_"): v for k, v in detail.items() if k.startswith("before_")}
        after = {k: v for k, v in detail.items() if not k.startswith("before_") and k != "user_id"}
        audit_record(
            actor=name,
            action=f"staff.{kind}",
            target_type="staff",
            target=target,
            hospital_id=hospital_id,
            before=before,
            after=after,
        )
    return event


# Access events that are one staff member's action on another's account (the others are logins).
STAFF_ACTIONS = {"lock_lifted", "otp_reset", "staff_created", "role_changed", "permissions_changed", "staff_changed"}


ADMIN_ROLES = (Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN)


def staff_is_peer(*, by: Any, user: Any) -> bool:
    """``user`` is another admin (hospital or platform) and ``by`` is not a platform admin: then
    ``by`` may not change them (their password, second factor, role or being active). Otherwise
    one hospital admin could take another's account over, or make a second admin of their own
    to approve what needs an admin other than the asker."""
    if user is None or user.pk is None or user.pk == getattr(by, "pk", None) or staff_scope(by).is_platform:
        return False
    return StaffProfile.objects.filter(user_id=user.pk, role__in=ADMIN_ROLES).exists() or bool(user.is_superuser)


def staff_change_check(*, by: Any, user: Any) -> None:
    if staff_is_peer(by=by, user=user):
        raise errors.STAFF_PEER.error()


def staff_role_check(*, by: Any, user: Any, hospital: Hospital | None, role: str) -> None:
    """Refuses (naming the rule) a role or hospital ``by`` may not give ``user``."""
    scope = staff_scope(by)
    if role not in Role.values:
        raise errors.STAFF_ROLE_NOT_ALLOWED.error(field="role")
    staff_change_check(by=by, user=user)
    own = user is not None and user.pk is not None and user.pk == getattr(by, "pk", None)
    if role == Role.HOSPITAL_ADMIN and not scope.is_platform and not own:
        raise errors.STAFF_ROLE_NOT_ALLOWED.error(field="role")
    if role == Role.PLATFORM_ADMIN:
        if not scope.is_platform:
            raise errors.STAFF_ROLE_NOT_ALLOWED.error(field="role")
        if hospital is not None:
            raise errors.STAFF_HOSPITAL_REQUIRED.error(
                detail=_("A platform admin works for no one hospital"), field="hospital"
            )
        return
    if hospital is None:
        raise errors.STAFF_HOSPITAL_REQUIRED.error(field="hospital")
    if not scope.allows(hospital.pk) or not (scope.is_platform or scope.role == Role.HOSPITAL_ADMIN):
        raise errors.STAFF_HOSPITAL_NOT_YOURS.error(field="hospital")
    if user is not None and user.pk == getattr(by, "pk", None) and not scope.is_platform:
        profile = StaffProfile.objects.filter(user=user).first()
        if profile is None or (profile.role, profile.hospital_id) != (role, hospital.pk):
            raise errors.STAFF_OWN_ROLE.error(field="role")


@transaction.atomic
def staff_role_set(*, by: Any, user: Any, hospital: Hospital | None, role: str, ip: str | None = None) -> StaffProfile:
    """Give ``user`` ``role`` at ``hospital`` (checked by ``staff_role_check``), recorded in the
    audit log. The user is marked staff and put in the role's group alone."""
    staff_role_check(by=by, user=user, hospital=hospital, role=role)
    profile = StaffProfile.objects.filter(user=user).first()
    before = (profile.role, profile.hospital_id) if profile else None
    if profile is None:
        profile = StaffProfile.objects.create(user=user, hospital=hospital, role=role)
    else:
        StaffProfile.objects.filter(pk=profile.pk).update(hospital=hospital, role=role)
        profile.refresh_from_db()
    if not user.is_staff:
        type(user).objects.filter(pk=user.pk).update(is_staff=True)
        user.is_staff = True
    user.groups.set([Group.objects.get(name=role)])
    if before != (role, profile.hospital_id):
        staff_event_record(
            kind=StaffEventKind.ROLE_CHANGED,
            actor=by,
            target=user.get_username(),
            hospital_id=profile.hospital_id,
            ip=ip,
            role=role,
            before_role=before[0] if before else None,
            before_hospital=before[1] if before else None,
        )
    return profile


@transaction.atomic
def staff_member_save(
    *,
    by: Any,
    user: Any,
    password: str = "",
    role: str | None = None,
    hospital: Hospital | None = None,
    changed: list[str] | tuple[str, ...] = (),
    ip: str | None = None,
) -> Any:
    """Create or change a staff member as the console's form filled them in: always staff, the
    password set when given, the role and hospital given only through ``staff_role_set`` (not at
    all on one's own page), each change in the access log."""
    created = user.pk is None
    staff_change_check(by=by, user=user)
    user.is_staff = True
    if password:
        user.set_password(password)
    user.save()
    if role is not None:
        staff_role_set(by=by, user=user, hospital=hospital, role=role, ip=ip)
    fields = [f for f in changed if f not in ("role", "hospital")] + (["password"] if password else [])
    if created or fields:
        staff_event_record(
            kind=StaffEventKind.STAFF_CREATED if created else StaffEventKind.STAFF_CHANGED,
            actor=by,
            target=user.get_username(),
            hospital_id=staff_hospital_of(user),
            ip=ip,
            fields=fields,
            user_id=user.pk,
        )
    return user


def staff_keys_set_by(*, by: str, asker: str) -> bool:
    """Whether ``by`` (a user name) ever made ``asker``'s account, set its password or reset its
    second factor. Then ``by`` could have signed in as ``asker``: a request ``asker`` made is not
    a second person's, and ``by`` may not approve it. Matched by the account's id as well as its
    name, so a renamed account is still found."""
    from django.contrib.auth import get_user_model

    if not by or not asker:
        return False
    asker_id = get_user_model().objects.filter(username=asker).values_list("pk", flat=True).first()
    whose = Q(target=asker) | (Q(detail__user_id=asker_id) if asker_id is not None else Q(pk__in=[]))
    events = StaffEvent.objects.filter(
        whose,
        actor=by,
        kind__in=[StaffEventKind.STAFF_CREATED, StaffEventKind.OTP_RESET, StaffEventKind.STAFF_CHANGED],
    ).values_list("kind", "detail")
    return any(
        kind != StaffEventKind.STAFF_CHANGED or "password" in detail.get("fields", []) for kind, detail in events
    )


def staff_role_refused(*, by: Any, target: str, rule: str, role: str) -> None:
    """A role or hospital someone asked for and was refused: in the access log too."""
    staff_event_record(
        kind=StaffEventKind.REFUSED,
        actor=by,
        target=target,
        hospital_id=staff_scope(by).hospital_id,
        rule=rule,
        role=role,
    )


def otp_passed(request: Any) -> bool:
    """Whether this session has shown the second factor, or may go without one."""
    user: Any = request.user
    if user.is_verified():
        return True
    return settings.STAFF_OTP == "optional" and otp_device_of(user) is None


def session_staff(request: Any) -> Any:
    """The staff member whose console session this request carries: active, staff, with a role
    and past the second factor (the console's own test, also for the staff API); else None."""
    user: Any = getattr(request, "user", None)
    if user is None or not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if not staff_scope(user).role:  # staff without a role see nothing
        return None
    return user if otp_passed(request) else None


def keeps_till(user: Any) -> bool:
    """Whether the staff member takes money at the window (a till of their own): they collect it
    and pay refunds back there. The platform's staff never do."""
    return bool(user.has_perm("payments.add_payment")) and not staff_scope(user).is_platform


def otp_device_of(user: Any, *, confirmed: bool = True) -> Any:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).first()


def otp_enrol_start(*, user: Any) -> Any:
    """The unconfirmed TOTP device the enrolment page shows as a QR code (one per user)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = otp_device_of(user, confirmed=False)
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def _otp_check(device: Any, *, user: Any, token: str, ip: str | None) -> None:
    """Refuses a wrong code (recorded), and any code while django-otp makes one wait after wrong
    ones (1, 2, 4 … seconds), saying how long."""
    if device is not None:
        allowed, why = device.verify_is_allowed()
        if not allowed and why and why.get("locked_until"):
            # django-otp's own timestamps: the wait it set after the last wrong code.
            wait = max(1, math.ceil((why["locked_until"] - device.throttling_failure_timestamp).total_seconds()))
            raise errors.OTP_WAIT.error(
                detail=_("After a wrong code, wait %(seconds)d seconds before the next one.") % {"seconds": wait},
                field="otp_token",
            )
    if device is None or not device.verify_token(token.strip()):
        _own_event(StaffEventKind.OTP_FAILED, user, ip)
        raise errors.OTP_WRONG.error(field="otp_token")


def _own_event(kind: str, user: Any, ip: str | None) -> None:
    """What a staff member did about their own login, under their hospital."""
    staff_event_record(kind=kind, actor=user, target=user.get_username(), hospital_id=staff_hospital_of(user), ip=ip)


def otp_enrol_confirm(*, user: Any, token: str, ip: str | None = None) -> Any:
    """Confirm the enrolment with a code from the app; the device then guards every login."""
    device = otp_device_of(user, confirmed=False)
    _otp_check(device, user=user, token=token, ip=ip)
    with transaction.atomic():
        type(device).objects.filter(user=user, confirmed=True).delete()
        type(device).objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        _own_event(StaffEventKind.OTP_ENROLLED, user, ip)
        _own_event(StaffEventKind.OTP_PASSED, user, ip)
    return device


def otp_verify(*, user: Any, token: str, ip: str | None = None) -> Any:
    """The second step of a login: the code the enrolled app shows now."""
    device = otp_device_of(user)
    _otp_check(device, user=user, token=token, ip=ip)
    _own_event(StaffEventKind.OTP_PASSED, user, ip)
    return device


def otp_reset(*, by: Any, user: Any, ip: str | None = None) -> None:
    """Remove a staff member's second factor (lost phone): they enrol again at their next login."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    staff_change_check(by=by, user=user)
    TOTPDevice.objects.filter(user=user).delete()
    staff_event_record(
        kind=StaffEventKind.OTP_RESET,
        actor=by,
        target=user.get_username(),
        hospital_id=staff_hospital_of(user),
        ip=ip,
        user_id=user.pk,
    )


def staff_hospital_of(user: Any) -> int | None:
    return StaffProfile.objects.filter(user=user).values_list("hospital_id", flat=True).first()


def staff_lock_lift(*, by: Any, username: str, ip_address: str | None, ip: str | None = None) -> int:
    """Lift a lockout (of a user name, an address, or both as recorded); audited."""
    from axes.utils import reset

    lifted = reset(username=username or None, ip=ip_address or None)
    from django.contrib.auth import get_user_model

    locked = get_user_model().objects.filter(username=username).first() if username else None
    staff_event_record(
        kind=StaffEventKind.LOCK_LIFTED,
        actor=by,
        target=username,
        hospital_id=staff_hospital_of(locked) if locked else None,
        ip=ip,
        address=ip_address or "",
    )
    return lifted


def staff_login_recorded(*, kind: str, username: str, ip: str | None, **detail: Any) -> None:
    """A login, failed login or lockout of the console, in the audit log (the user may not exist)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    staff_event_record(
        kind=kind,
        actor=username,
        target=username,
        hospital_id=staff_hospital_of(user) if user else None,
        ip=ip,
        **detail,
    )
