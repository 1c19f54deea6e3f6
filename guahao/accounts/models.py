from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guahao.accounts import phones
from guahao.accounts.roles import Role
from guahao.catalog.models import Hospital


class Account(models.Model):
    """The login of a patient or family: a mainland mobile number, sealed at rest and found by
    its keyed hash (``accounts.phones``)."""

    phone_encrypted = models.TextField(editable=False)
    phone_hash = models.CharField(max_length=64, unique=True, editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, editable=False)
    created_at = models.DateTimeField(_("created at"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    phone = phones.sealed_phone

    def __str__(self) -> str:
        return self.phone_masked


class SmsCode(models.Model):
    """A login code sent to a phone; only its hash is kept, and the phone's keyed hash."""

    phone_hash = models.CharField(max_length=64, db_index=True)
    phone_masked = models.CharField(max_length=20)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.phone_masked}"


class AuthToken(models.Model):
    key_hash = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(Account, models.CASCADE, related_name="tokens")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"token of account {self.account_id}"


class StaffToken(models.Model):
    """An API token of a staff user or a kiosk (check-in, integrations)."""

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="guahao_tokens")
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.label or f"token of user {self.user_id}"


class StaffProfile(models.Model):
    """A staff member's role and the hospital they work for. Only the platform admin has no
    hospital (and sees every one); every other role belongs to exactly one hospital."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="staff_profile", verbose_name=_("user")
    )
    hospital = models.ForeignKey(
        Hospital, models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("hospital")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        constraints = [
            models.CheckConstraint(
                condition=(Q(role=Role.PLATFORM_ADMIN) & Q(hospital__isnull=True))
                | (~Q(role=Role.PLATFORM_ADMIN) & Q(hospital__isnull=False)),
                name="staff_hospital_unless_platform_admin",
            )
        ]

    def __str__(self) -> str:
        return str(self.user)


class StaffRole(Group):
    """A role as the console shows it: its name in the reader's language."""

    class Meta:
        proxy = True
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return str(Role(self.name).label) if self.name in Role.values else self.name


class StaffLockout(AccessAttempt):
    """Failed staff logins by user name and address (django-axes), as the console lists them."""

    class Meta:
        proxy = True
        verbose_name = _("login lockout")
        verbose_name_plural = _("login lockouts")

    def __str__(self) -> str:
        return f"{self.username} {self.ip_address}"


class StaffEventKind(models.TextChoices):
    LOGIN = "login", _("Password accepted")
    OTP_PASSED = "otp_passed", _("Second factor passed")
    LOGIN_FAILED = "login_failed", _("Failed login")
    LOCKED_OUT = "locked_out", _("Locked out")
    LOCK_LIFTED = "lock_lifted", _("Lock lifted")
    OTP_ENROLLED = "otp_enrolled", _("Second factor enrolled")
    OTP_FAILED = "otp_failed", _("Wrong second-factor code")
    OTP_RESET = "otp_reset", _("Second factor reset")
    STAFF_CREATED = "staff_created", _("Staff member created")
    ROLE_CHANGED = "role_changed", _("Role or hospital changed")
    PERMISSIONS_CHANGED = "permissions_changed", _("Permissions of a role changed")
    STAFF_CHANGED = "staff_changed", _("Staff member changed")
    REFUSED = "refused", _("Change of role or hospital refused")


class StaffEvent(models.Model):
    """The audit log of staff access: logins, failures, lockouts, roles and permissions."""

    at = models.DateTimeField(_("at"), db_index=True)
    kind = models.CharField(_("kind"), max_length=30, choices=StaffEventKind.choices)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    target = models.CharField(_("staff member"), max_length=150, blank=True)
    hospital = models.ForeignKey(
        Hospital, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("hospital")
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("staff access event")
        verbose_name_plural = _("staff access log")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target}"


class Relation(models.TextChoices):
    SELF = "self", _("Self")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    OTHER = "other", _("Other")


class GuardianRelation(models.TextChoices):
    PARENT = "parent", _("Parent")
    GRANDPARENT = "grandparent", _("Grandparent")
    OTHER = "other", _("Other guardian")


class Gender(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class IdType(models.TextChoices):
    """The identity documents hospitals register patients by (rules in ``accounts.idcard``)."""

    RESIDENT = "resident", _("Resident identity card")
    PASSPORT = "passport", _("Passport")
    HK_MACAU = "hk_macau", _("Hong Kong/Macao travel permit")
    TAIWAN = "taiwan", _("Taiwan travel permit")
    FOREIGN_PERMANENT = "foreign_permanent", _("Foreign permanent residence ID card")


class Patient(models.Model):
    """A real-name person an account books for.

    The ID number is stored encrypted; ``id_number_hash`` (a keyed hash) finds the same person
    across accounts for limits and the blacklist, and makes a person unique within an account.
    A removed patient with registrations in the past stays (``removed_at``) for those records:
    hidden from the account, never bookable, and the same person may be added again.
    """

    account = models.ForeignKey(Account, models.CASCADE, related_name="patients", verbose_name=_("account"))
    name = models.CharField(_("name"), max_length=50)
    id_number_encrypted = models.TextField(editable=False)
    id_number_hash = models.CharField(max_length=64, db_index=True, editable=False)
    id_number_masked = models.CharField(_("ID number"), max_length=20, editable=False)
    id_type = models.CharField(_("ID type"), max_length=20, choices=IdType.choices, default=IdType.RESIDENT)
    birth_date = models.DateField(_("birth date"))
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices)
    phone_encrypted = models.TextField(editable=False)
    phone_hash = models.CharField(max_length=64, db_index=True, editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, editable=False)
    relation = models.CharField(_("relation"), max_length=10, choices=Relation.choices)
    # A child under 14 (PIPL art. 31) is added by a guardian, who is recorded; empty for others.
    guardian_name = models.CharField(_("guardian"), max_length=50, blank=True)
    guardian_relation = models.CharField(
        _("guardian's relation"), max_length=12, choices=GuardianRelation.choices, blank=True
    )
    created_at = models.DateTimeField(_("created at"))
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "id_number_hash"],
                condition=Q(removed_at__isnull=True),
                name="patient_once_per_account",
            ),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(relation="self", removed_at__isnull=True),
                name="patient_one_self_per_account",
            ),
            models.CheckConstraint(
                condition=Q(guardian_name="", guardian_relation="") | (~Q(guardian_name="") & ~Q(guardian_relation="")),
                name="patient_guardian_named_with_relation",
            ),
        ]

    phone = phones.sealed_phone

    def __str__(self) -> str:
        return f"{self.name} ({self.id_number_masked})"


class ConsentPurpose(models.TextChoices):
    PERSONAL_INFORMATION = "personal_information", _("Processing of personal information")


class Consent(models.Model):
    """A separate consent (PIPL art. 14, 29 and 31), given when the patient was added: which text
    (its version; ``api`` when an API client took it under its own terms), when, and by whom —
    the patient, or the guardian of a child under 14."""

    patient = models.ForeignKey(Patient, models.CASCADE, related_name="consents", verbose_name=_("patient"))
    account = models.ForeignKey(Account, models.CASCADE, related_name="+", verbose_name=_("account"))
    purpose = models.CharField(_("purpose"), max_length=30, choices=ConsentPurpose.choices)
    text_version = models.CharField(_("version of the text"), max_length=20)
    given_at = models.DateTimeField(_("given at"))
    given_by_guardian = models.BooleanField(_("given by the guardian"), default=False)
    channel = models.CharField(_("channel"), max_length=10)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["given_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "purpose", "text_version"], name="consent_once_per_text"),
            models.CheckConstraint(condition=~Q(text_version=""), name="consent_names_its_text"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ({self.text_version})"


class MedicalRecord(models.Model):
    """A patient's record in a hospital's HIS (建档)."""

    patient = models.ForeignKey(Patient, models.CASCADE, related_name="medical_records")
    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+")
    his_patient_id = models.CharField(max_length=64)
    card_number = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("medical record")
        verbose_name_plural = _("medical records")
        constraints = [models.UniqueConstraint(fields=["patient", "hospital"], name="record_once_per_hospital")]

    def __str__(self) -> str:
        return self.his_patient_id


class KioskDevice(models.Model):
    """A hospital's self-service kiosk (自助机), registered by its staff. The kiosk page knows the
    device by its token (only its keyed hash is kept; the token is shown once, when the device is
    added); a revoked device opens nothing. A kiosk acts for the patient standing at it, under the
    patient's own rules, and never with a staff member's rights."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+", verbose_name=_("hospital"))
    name = models.CharField(
        pgettext_lazy("not a person's", "name"), max_length=100, help_text=_("Where it stands, e.g. “Hall 1, kiosk 3”.")
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), editable=False)
    created_by = models.CharField(_("created by"), max_length=150, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.CharField(_("revoked by"), max_length=150, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("kiosk device")
        verbose_name_plural = _("kiosk devices")
        ordering = ["hospital", "name"]

    def __str__(self) -> str:
        return self.name
