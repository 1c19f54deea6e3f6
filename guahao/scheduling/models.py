from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guahao.catalog.models import Campus, Department, Doctor, Hospital, Title


class Session(models.TextChoices):
    AM = "am", _("Morning")
    PM = "pm", _("Afternoon")
    EVENING = "evening", _("Evening")


def session_fits(session: str, start: dt.time) -> bool:
    """Whether a clinic starting at ``start`` is of that session, as patients read it: a
    morning clinic starts before noon, an afternoon one from noon to 18:00, an evening one from
    17:00 (上午 08:00-10:00 read as 下午 08:00-10:00 when a template said afternoon)."""
    if session == Session.AM:
        return start < dt.time(12, 0)
    if session == Session.PM:
        return dt.time(12, 0) <= start < dt.time(18, 0)
    if session == Session.EVENING:
        return start >= dt.time(17, 0)
    return True


SESSION_MISMATCH = _(
    "This start is not in the session chosen: a morning clinic starts before 12:00, an afternoon one from 12:00 to 18:00, an evening one from 17:00."
)


class ScheduleStatus(models.TextChoices):
    OPEN = "open", _("Open")
    SUSPENDED = "suspended", _("Suspended")


class Pool(models.TextChoices):
    ONSITE = "onsite", _("On site (window, kiosk)")
    PLATFORM = "platform", _("Online platform")
    # A phone desk's (call centre's) own share, when the rules give it one: only the phone
    # channel takes it; unused, it goes to the platform pool at the pool return.
    PHONE = "phone", _("Phone desk")


class SlotState(models.TextChoices):
    FREE = "free", _("Free")
    HELD = "held", _("Held")
    BOOKED = "booked", _("Booked")
    # Taken on another channel of a shared pool (known from the HIS): not ours to give.
    ELSEWHERE = "elsewhere", _("Taken elsewhere")
    # Taken out when staff lowered the capacity: never offered again (kept for the holds of the past).
    WITHDRAWN = "withdrawn", _("Withdrawn")
    # Given back while patients wait for the clinic: kept for the waitlist's next offer, not for
    # whoever asks first (the waitlist hands it on, or frees it when nobody is left waiting).
    RESERVED = "reserved", _("Kept for the waitlist")


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
    template = models.ForeignKey(
        "ScheduleTemplate",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="schedules",
        verbose_name=_("template"),
    )
    # When the unused slots of one pool went to the other at the rules' cutoff (once).
    pool_returned_at = models.DateTimeField(_("pool returned at"), null=True, blank=True)
    # Slots were made in the phone desk's pool (``Pool.PHONE``): read from the schedule's facts,
    # so a phone hold of a schedule without them goes straight to the platform pool.
    phone_pool = models.BooleanField(_("phone desk share"), default=False)
    # Patients on this clinic's waitlist (waiting or offered a slot), kept by the waitlist with
    # conditional updates: its places are never exceeded, and a slot given back while anyone is
    # on it is kept for them (``SlotState.RESERVED``).
    waitlist_active = models.PositiveIntegerField(_("on the waitlist"), default=0)
    # A lottery release (the rules' ``lottery_seconds``): when its draw was made. Until then no
    # slot of the clinic is held by the race.
    lottery_drawn_at = models.DateTimeField(_("lottery drawn at"), null=True, blank=True)

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
                violation_error_message=_(
                    "This doctor already has a clinic in this department on that day and session."
                ),
            ),
            # Generating twice (or two staff at once) never makes a template's day twice.
            models.UniqueConstraint(fields=["template", "date"], name="schedule_one_per_template_day"),
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
        # In the time zone of the page (the console's is the hospital's), never UTC.
        return f"{self.starts_at.astimezone(timezone.get_current_timezone()):%H:%M}"


class Slot(models.Model):
    """One bookable place with its visit number (就诊序号).

    ``state`` only changes through conditional updates (``… WHERE state = 'free'``) so two
    transactions can never both take it.
    """

    # No index of its own: the two below begin with the schedule, and each is in the order of
    # the numbers. With one of its own, once a million slots were stored, PostgreSQL's planner
    # took it for the hold's pick (the lowest free number), read every slot of the schedule and
    # its period, and sorted them: 1.3 ms per hold, against 0.05-0.2 ms by the numbers' order
    # (EXPLAIN inside the hold function on bench/release.py --growth's largest database).
    schedule = models.ForeignKey(Schedule, models.CASCADE, related_name="slots", db_index=False)
    period = models.ForeignKey(Period, models.CASCADE, related_name="slots")
    number = models.PositiveSmallIntegerField()
    pool = models.CharField(max_length=10, choices=Pool.choices)
    state = models.CharField(max_length=10, choices=SlotState.choices, default=SlotState.FREE)
    extra = models.BooleanField(default=False)  # an extra slot (加号) staff added

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


class PoolReturn(models.TextChoices):
    TO_ONSITE = "to_onsite", _("Unused platform slots go to the window")
    TO_PLATFORM = "to_platform", _("Unused window slots go online")


class WaitlistOrder(models.TextChoices):
    FIFO = "fifo", _("First come, first served")
    RANDOM = "random", _("A recorded draw among those waiting")


class WaitlistPayment(models.TextChoices):
    PREPAY = "prepay", _("Paid when joining, refunded if no slot comes")
    PAY_AFTER_HOLD = "pay_after_hold", _("Paid when a slot is offered, within the confirm window")


class LateCancelCounts(models.TextChoices):
    CANCELLATION = "cancellation", _("As a cancellation")
    NO_SHOW = "no_show", _("As a no-show")
    NOTHING = "nothing", _("Not at all")


class RiskAction(models.TextChoices):
    OFF = "off", _("Not checked")
    REFUSE = "refuse", _("Refused, with the reasons recorded")
    DRAW = "draw", _("Sent to the draw (the lottery, or the waitlist), never straight to a slot")


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
    phone_share_percent = models.PositiveSmallIntegerField(
        _("phone desk share (%)"),
        null=True,
        blank=True,
        validators=_range(0, 100),
        help_text=_(
            "Slots only the phone desk (call centre) books, taken from the window's; the phone desk also books "
            "the platform pool when its share is gone. Platform and phone shares together at most 100%."
        ),
    )
    pool_return_time = models.TimeField(
        _("pool return time (the day before)"),
        null=True,
        blank=True,
        help_text=_("At this time the day before the clinic, the free slots of one pool go to the other."),
    )
    pool_return = models.CharField(_("pool return"), max_length=20, choices=PoolReturn.choices, null=True, blank=True)
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
    late_cancel_counts_as = models.CharField(
        _("a late cancellation counts"),
        max_length=12,
        choices=LateCancelCounts.choices,
        null=True,
        blank=True,
        help_text=_("A registration staff cancel after the online cutoff at the patient's request."),
    )
    medical_record_mode = models.CharField(
        _("medical record"), max_length=20, choices=MedicalRecordMode.choices, null=True, blank=True
    )
    payment_required = models.BooleanField(_("payment required"), null=True, blank=True)
    waitlist_places = models.PositiveSmallIntegerField(
        _("waitlist places per clinic"),
        null=True,
        blank=True,
        validators=_range(0, 1000),
        help_text=_("0: no waitlist. Set on a doctor, a department or the hospital: the nearest one counts."),
    )
    waitlist_order = models.CharField(
        _("waitlist order"), max_length=10, choices=WaitlistOrder.choices, null=True, blank=True
    )
    waitlist_payment = models.CharField(
        _("waitlist payment"),
        max_length=20,
        choices=WaitlistPayment.choices,
        null=True,
        blank=True,
        help_text=_("Only where registrations are paid for; elsewhere a freed slot is booked at once."),
    )
    waitlist_deadline_time = models.TimeField(
        _("waitlist closes at (the day before)"),
        null=True,
        blank=True,
        help_text=_("Waiting entries expire at this time the day before the clinic."),
    )
    waitlist_confirm_minutes = models.PositiveSmallIntegerField(
        _("minutes to confirm an offer"), null=True, blank=True, validators=_range(5, 1440)
    )
    lottery_seconds = models.PositiveSmallIntegerField(
        _("lottery at release (seconds)"),
        null=True,
        blank=True,
        validators=_range(0, 3600),
        help_text=_(
            "0: slots go to whoever asks first. N: everyone who asks in the first N seconds after the release "
            "enters a recorded draw for the slots; then booking is as usual."
        ),
    )
    risk_action = models.CharField(
        _("suspected scripts"), max_length=10, choices=RiskAction.choices, null=True, blank=True
    )
    risk_holds_10min = models.PositiveSmallIntegerField(
        _("suspect: hold attempts in 10 minutes"), null=True, blank=True, validators=_range(2, 1000)
    )
    risk_departments_hour = models.PositiveSmallIntegerField(
        _("suspect: departments tried in an hour"), null=True, blank=True, validators=_range(2, 100)
    )
    risk_accounts_per_client = models.PositiveSmallIntegerField(
        _("suspect: accounts from one address or device in 10 minutes"),
        null=True,
        blank=True,
        validators=_range(2, 1000),
    )
    risk_new_patient_minutes = models.PositiveSmallIntegerField(
        _("suspect: patient added this many minutes before the release"),
        null=True,
        blank=True,
        validators=_range(0, 1440),
    )

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
            models.CheckConstraint(
                condition=Q(phone_share_percent__isnull=True) | Q(phone_share_percent__lte=100),
                name="ruleset_phone_share_0_to_100",
            ),
        ]

    def __str__(self) -> str:
        if self.doctor_id:
            return f"{self.hospital} · {self.doctor}"
        if self.department_id:
            return f"{self.hospital} · {self.department}"
        return str(self.hospital)

    def clean(self) -> None:
        """The platform's and the phone desk's shares together leave the window its part: at most
        100%, counting what this rule set inherits for the share it leaves empty."""
        super().clean()
        if self.department_id is not None and self.doctor_id is not None:
            raise ValidationError(
                {"doctor": _("A rule set is for the hospital, one department or one doctor: leave the other empty.")}
            )
        if self.cancel_policy == CancelPolicy.HOURS_BEFORE and self.cancel_hours_before is None:
            raise ValidationError(
                {
                    "cancel_hours_before": _(
                        "Say how many hours before the visit online cancellation closes (0: when it begins)."
                    )
                }
            )
        platform, phone = self.platform_share_percent, self.phone_share_percent
        if phone is None or not 0 <= phone <= 100 or (platform is not None and not 0 <= platform <= 100):
            return
        if platform is None and self.hospital_id is not None:
            from guahao.scheduling.rules import DEFAULTS, rules_for

            if self.doctor_id is not None and self.doctor is not None:
                inherited = rules_for(hospital=self.hospital, department=self.doctor.department)
            elif self.department_id is not None and self.department is not None:
                inherited = rules_for(hospital=self.hospital, department=self.department.parent)
            elif self.department_id is None and self.doctor_id is None:
                inherited = DEFAULTS
            else:
                inherited = rules_for(hospital=self.hospital)
            platform = inherited.platform_share_percent
        if platform is not None and platform + phone > 100:
            raise ValidationError(
                {
                    "phone_share_percent": _(
                        "The phone desk share (%(phone)d%%) and the platform pool share (%(platform)d%%) "
                        "together are more than 100%%."
                    )
                    % {"phone": phone, "platform": platform}
                }
            )


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class ScheduleTemplate(models.Model):
    """A weekly clinic (周排班模板): one doctor (or a general clinic) in one department on one weekday
    and session, from which schedules are generated for the days it is valid."""

    hospital = models.ForeignKey(
        Hospital, models.CASCADE, related_name="schedule_templates", verbose_name=_("hospital")
    )
    department = models.ForeignKey(
        Department, models.PROTECT, related_name="schedule_templates", verbose_name=_("department")
    )
    doctor = models.ForeignKey(
        Doctor, models.PROTECT, null=True, blank=True, related_name="schedule_templates", verbose_name=_("doctor")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    session = models.CharField(_("session"), max_length=10, choices=Session.choices)
    start = models.TimeField(_("starts at"))
    end = models.TimeField(_("ends at"))
    period_minutes = models.PositiveSmallIntegerField(
        _("period length (minutes)"), default=30, validators=_range(5, 240)
    )
    slots_per_period = models.PositiveSmallIntegerField(_("numbers per period"), default=3, validators=_range(1, 100))
    platform_share_percent = models.PositiveSmallIntegerField(
        _("platform pool share (%)"),
        null=True,
        blank=True,
        validators=_range(0, 100),
        help_text=_("Empty: the share in the hospital's rules."),
    )
    fee_title = models.CharField(
        _("fee title"),
        max_length=20,
        choices=Title.choices,
        blank=True,
        help_text=_("Empty: the doctor's title (a general clinic's fee without a doctor)."),
    )
    campus = models.ForeignKey(
        Campus, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("campus")
    )
    location = models.CharField(_("room"), max_length=100, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("schedule template")
        verbose_name_plural = _("schedule templates")
        ordering = ["department_id", "weekday", "start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="template_ends_after_start"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="template_valid_until_after_from",
            ),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="template_weekday_0_to_6"),
            models.CheckConstraint(
                condition=Q(period_minutes__gt=0) & Q(slots_per_period__gt=0), name="template_periods_not_empty"
            ),
        ]

    def __str__(self) -> str:
        who = self.doctor.name if self.doctor else str(_("General clinic"))
        return f"{self.department.name} {who} {self.get_weekday_display()} {self.get_session_display()}"

    def clean(self) -> None:
        """What the constraints refuse, said of the field to correct (a form shows it there). A
        doctor of another department is allowed: a doctor's clinic in 特需门诊 or a joint clinic."""
        super().clean()
        problems: dict[str, Any] = {}
        if self.start is not None and self.end is not None and self.end <= self.start:
            problems["end"] = _("The clinic must end after it starts.")
        if self.start is not None and self.session and not session_fits(self.session, self.start):
            problems["start"] = SESSION_MISMATCH
        if self.valid_from is not None and self.valid_until is not None and self.valid_until < self.valid_from:
            problems["valid_until"] = _("Must not be before the first day it is valid.")
        if problems:
            raise ValidationError(problems)

    @property
    def periods(self) -> int:
        start = dt.datetime.combine(dt.date(2000, 1, 1), self.start)
        minutes = (dt.datetime.combine(dt.date(2000, 1, 1), self.end) - start) // dt.timedelta(minutes=1)
        return -(-minutes // self.period_minutes)

    @property
    def capacity(self) -> int:
        return self.periods * self.slots_per_period


class CalendarDayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Public holiday")
    CLOSURE = "closure", _("Closure")


class CalendarDay(models.Model):
    """A day the hospital (or one department) holds no clinics: templates generate nothing then."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="calendar_days", verbose_name=_("hospital"))
    department = models.ForeignKey(
        Department,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="calendar_days",
        verbose_name=_("department"),
        help_text=_("Empty: the whole hospital."),
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=CalendarDayKind.choices, default=CalendarDayKind.HOLIDAY)
    name = models.CharField(pgettext_lazy("not a person's", "name"), max_length=100)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("hospital calendar")
        ordering = ["date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "date"], condition=Q(department__isnull=True), name="calendar_one_per_hospital_day"
            ),
            models.UniqueConstraint(
                fields=["department", "date"],
                condition=Q(department__isnull=False),
                name="calendar_one_per_department_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class ScheduleEvent(models.Model):
    """What staff did to one schedule, who and why (the schedule's audit trail)."""

    schedule = models.ForeignKey(Schedule, models.CASCADE, related_name="events", verbose_name=_("schedule"))
    at = models.DateTimeField(_("at"))
    kind = models.CharField(_("kind"), max_length=30)
    actor = models.CharField(_("by"), max_length=150)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("schedule change")
        verbose_name_plural = _("schedule changes")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind}"
