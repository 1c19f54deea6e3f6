from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guahao.catalog.models import Campus, Department, Doctor, Hospital


class Session(models.TextChoices):
    AM = "am", _("Morning")
    PM = "pm", _("Afternoon")
    EVENING = "evening", _("Evening")


class ScheduleStatus(models.TextChoices):
    OPEN = "open", _("Open")
    SUSPENDED = "suspended", _("Suspended")


class Pool(models.TextChoices):
    ONSITE = "onsite", _("On site (window, kiosk)")
    PLATFORM = "platform", _("Online platform")


class SlotState(models.TextChoices):
    FREE = "free", _("Free")
    HELD = "held", _("Held")
    BOOKED = "booked", _("Booked")
    # Taken on another channel of a shared pool (known from the HIS): not ours to give.
    ELSEWHERE = "elsewhere", _("Taken elsewhere")


class Schedule(models.Model):
    """One doctor (or a general clinic, doctor empty) in one department on one date and session."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="schedules", verbose_name=_("hospital"))
    campus = models.ForeignKey(
        Campus, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("campus")
    )
    department = models.ForeignKey(Department, models.PROTECT, related_name="schedules", verbose_name=_("department"))
    doctor = models.ForeignKey(
        Doctor, models.PROTECT, null=True, blank=True, related_name="schedules", verbose_name=_("doctor")
    )
    date = models.DateField(_("date"), db_index=True)
    session = models.CharField(_("session"), max_length=10, choices=Session.choices)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(_("status"), max_length=10, choices=ScheduleStatus.choices, default=ScheduleStatus.OPEN)
    registration_fee_fen = models.PositiveIntegerField(_("registration fee (fen)"), default=0)
    consultation_fee_fen = models.PositiveIntegerField(_("consultation fee (fen)"), default=0)
    location = models.CharField(_("room"), max_length=100, blank=True)
    suspended_reason = models.CharField(_("suspension reason"), max_length=200, blank=True)
    his_id = models.CharField(_("HIS schedule id"), max_length=64, blank=True, db_index=True)

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["date", "starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="schedule_ends_after_start"),
            models.UniqueConstraint(
                fields=["department", "doctor", "date", "session"],
                condition=Q(doctor__isnull=False),
                name="schedule_one_per_doctor_session",
            ),
        ]
        indexes = [models.Index(fields=["department", "date"])]

    def __str__(self) -> str:
        who = self.doctor.name if self.doctor else str(_("General clinic"))
        return f"{self.department.name} {who} {self.date} {self.get_session_display()}"

    @property
    def fee_fen(self) -> int:
        return self.registration_fee_fen + self.consultation_fee_fen


class Period(models.Model):
    """A time window inside a schedule (e.g. 08:00-08:30) holding numbered slots."""

    schedule = models.ForeignKey(Schedule, models.CASCADE, related_name="periods")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "starts_at"], name="period_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.starts_at:%H:%M}"


class Slot(models.Model):
    """One bookable place with its visit number (就诊序号).

    ``state`` only changes through conditional updates (``… WHERE state = 'free'``) so two
    transactions can never both take it.
    """

    schedule = models.ForeignKey(Schedule, models.CASCADE, related_name="slots")
    period = models.ForeignKey(Period, models.CASCADE, related_name="slots")
    number = models.PositiveSmallIntegerField()
    pool = models.CharField(max_length=10, choices=Pool.choices)
    state = models.CharField(max_length=10, choices=SlotState.choices, default=SlotState.FREE)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "number"], name="slot_unique_number"),
        ]
        indexes = [models.Index(fields=["schedule", "pool", "state", "number"], name="slot_free_lookup")]

    def __str__(self) -> str:
        return f"#{self.number}"


class MedicalRecordMode(models.TextChoices):
    REQUIRED = "required", _("An existing hospital record is required")
    AUTO_CREATE = "auto_create", _("A record is created when the patient is added")
    AT_VISIT = "at_visit", _("The record is created at the hospital")


class CancelPolicy(models.TextChoices):
    DAY_BEFORE = "day_before", _("Until the end of the day before the visit")
    HOURS_BEFORE = "hours_before", _("Until some hours before the visit")


def _range(low: int, high: int) -> list:
    return [MinValueValidator(low), MaxValueValidator(high)]


class RuleSet(models.Model):
    """The booking rules of a hospital, or overrides for one department or one doctor.

    A field left empty inherits: doctor, then the department and its ancestors, then the
    hospital, then the platform default (``guahao.scheduling.rules.DEFAULTS``).
    """

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="rule_sets", verbose_name=_("hospital"))
    department = models.OneToOneField(
        Department, models.CASCADE, null=True, blank=True, related_name="rule_set", verbose_name=_("department")
    )
    doctor = models.OneToOneField(
        Doctor, models.CASCADE, null=True, blank=True, related_name="rule_set", verbose_name=_("doctor")
    )

    release_time = models.TimeField(_("daily release time"), null=True, blank=True)
    days_ahead = models.PositiveSmallIntegerField(
        _("days bookable ahead"), null=True, blank=True, validators=_range(1, 60)
    )
    platform_share_percent = models.PositiveSmallIntegerField(
        _("platform pool share (%)"), null=True, blank=True, validators=_range(0, 100)
    )
    hold_minutes = models.PositiveSmallIntegerField(_("hold minutes"), null=True, blank=True, validators=_range(5, 30))
    max_active_holds = models.PositiveSmallIntegerField(
        _("active holds per account"), null=True, blank=True, validators=_range(1, 5)
    )
    max_per_patient_department_day = models.PositiveSmallIntegerField(
        _("registrations per patient, department and day"), null=True, blank=True, validators=_range(1, 10)
    )
    max_per_account_hospital_day = models.PositiveSmallIntegerField(
        _("registrations per account, hospital and day"), null=True, blank=True, validators=_range(1, 20)
    )
    cancel_policy = models.CharField(
        _("cancellation cutoff"), max_length=20, choices=CancelPolicy.choices, null=True, blank=True
    )
    cancel_hours_before = models.PositiveSmallIntegerField(
        _("cancel until hours before"), null=True, blank=True, validators=_range(0, 168)
    )
    blacklist_cancellations = models.PositiveSmallIntegerField(
        _("cancellations that bar"), null=True, blank=True, validators=_range(1, 100)
    )
    blacklist_cancellation_days = models.PositiveSmallIntegerField(
        _("within days (cancellations)"), null=True, blank=True, validators=_range(1, 365)
    )
    blacklist_no_shows = models.PositiveSmallIntegerField(
        _("no-shows that bar"), null=True, blank=True, validators=_range(1, 100)
    )
    blacklist_no_show_days = models.PositiveSmallIntegerField(
        _("within days (no-shows)"), null=True, blank=True, validators=_range(1, 365)
    )
    blacklist_days = models.PositiveSmallIntegerField(
        _("barred for days"), null=True, blank=True, validators=_range(1, 3650)
    )
    medical_record_mode = models.CharField(
        _("medical record"), max_length=20, choices=MedicalRecordMode.choices, null=True, blank=True
    )
    payment_required = models.BooleanField(_("payment required"), null=True, blank=True)

    class Meta:
        verbose_name = _("rule set")
        verbose_name_plural = _("rule sets")
        constraints = [
            models.CheckConstraint(
                condition=~Q(department__isnull=False, doctor__isnull=False), name="ruleset_one_scope"
            ),
            models.UniqueConstraint(
                fields=["hospital"],
                condition=Q(department__isnull=True, doctor__isnull=True),
                name="ruleset_one_per_hospital",
            ),
            models.CheckConstraint(
                condition=Q(hold_minutes__isnull=True) | Q(hold_minutes__gte=5, hold_minutes__lte=30),
                name="ruleset_hold_minutes_5_to_30",
            ),
        ]

    def __str__(self) -> str:
        if self.doctor_id:
            return f"{self.hospital} · {self.doctor}"
        if self.department_id:
            return f"{self.hospital} · {self.department}"
        return str(self.hospital)
