from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account, Patient
from guahao.catalog.models import Department, Doctor, Hospital
from guahao.scheduling.models import Period, Schedule, Slot


class HoldStatus(models.TextChoices):
    HELD = "held", _("Held")
    CONFIRMED = "confirmed", _("Confirmed")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


class RegistrationStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CHECKED_IN = "checked_in", _("Checked in")
    VISITED = "visited", _("Visited")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDING = "refunding", _("Refunding")
    REFUNDED = "refunded", _("Refunded")
    NO_SHOW = "no_show", _("No-show")
    # Moved to another slot (改约): the registration it became is ``moved_to``.
    MOVED = "moved", _("Rescheduled")


# A registration in one of these states owns its slot and counts against the patient's limits.
ACTIVE_REGISTRATION = [
    RegistrationStatus.BOOKED,
    RegistrationStatus.CHECKED_IN,
    RegistrationStatus.VISITED,
    RegistrationStatus.NO_SHOW,
]


class Hold(models.Model):
    """A slot locked for one patient while they confirm and pay.

    Kept after it ends (confirmed, released, expired) for audit and statistics; only a
    confirmed hold becomes a registration.
    """

    # The account and the person are found by the indexes below that begin with them: an index of
    # either alone would be one more written by every hold, at release time above all.
    account = models.ForeignKey(
        Account, models.PROTECT, related_name="holds", verbose_name=_("account"), db_index=False
    )
    patient = models.ForeignKey(Patient, models.PROTECT, related_name="holds", verbose_name=_("patient"))
    person_hash = models.CharField(max_length=64)
    hospital = models.ForeignKey(Hospital, models.PROTECT, related_name="+", verbose_name=_("hospital"))
    department = models.ForeignKey(Department, models.PROTECT, related_name="+", verbose_name=_("department"))
    schedule = models.ForeignKey(Schedule, models.PROTECT, related_name="holds", verbose_name=_("schedule"))
    period = models.ForeignKey(Period, models.PROTECT, related_name="+", verbose_name=_("period"))
    slot = models.ForeignKey(Slot, models.PROTECT, related_name="holds", verbose_name=_("slot"))
    visit_date = models.DateField(_("visit date"))
    status = models.CharField(_("status"), max_length=10, choices=HoldStatus.choices, default=HoldStatus.HELD)
    registration_fee_fen = models.PositiveIntegerField(_("registration fee (fen)"))
    consultation_fee_fen = models.PositiveIntegerField(_("consultation fee (fen)"))
    payment_required = models.BooleanField(_("payment required"))
    created_at = models.DateTimeField(_("created at"))
    # Found by the index of (status, expires_at): every query of it asks for a status.
    expires_at = models.DateTimeField(_("expires at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    # Realtime HIS hospitals: the reference of the HIS lock behind this hold (read from the hold,
    # never searched for, so not indexed).
    his_lock_ref = models.CharField(max_length=64, blank=True)
    # The registration number the HIS was asked to register this hold under (asked again with
    # the same number after a lost answer).
    his_registration_ref = models.CharField(max_length=20, blank=True)
    # Where it was asked for: app, wechat, window, phone, kiosk, sms, partner:<platform>.
    channel = models.CharField(_("channel"), max_length=40, default="app")

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        constraints = [
            # The last line of defence: one slot, one live hold.
            models.UniqueConstraint(fields=["slot"], condition=Q(status="held"), name="hold_one_live_per_slot"),
        ]
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["status", "expires_at"]),
            # The limits a hold is checked against (booking.locks.COUNTS), one index each.
            models.Index(fields=["person_hash", "department", "visit_date"], name="hold_person_department_day"),
            models.Index(fields=["account", "hospital", "visit_date"], name="hold_account_hospital_day"),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} ({self.status})"

    @property
    def fee_fen(self) -> int:
        return self.registration_fee_fen + self.consultation_fee_fen


class Registration(models.Model):
    """A confirmed booking with its registration number; the visit number is the slot's number."""

    hold = models.OneToOneField(Hold, models.PROTECT, related_name="registration")
    registration_number = models.CharField(_("registration number"), max_length=20, unique=True)
    account = models.ForeignKey(Account, models.PROTECT, related_name="registrations", verbose_name=_("account"))
    patient = models.ForeignKey(Patient, models.PROTECT, related_name="registrations", verbose_name=_("patient"))
    person_hash = models.CharField(max_length=64, db_index=True)
    hospital = models.ForeignKey(Hospital, models.PROTECT, related_name="registrations", verbose_name=_("hospital"))
    department = models.ForeignKey(
        Department, models.PROTECT, related_name="registrations", verbose_name=_("department")
    )
    doctor = models.ForeignKey(
        Doctor, models.PROTECT, null=True, blank=True, related_name="registrations", verbose_name=_("doctor")
    )
    schedule = models.ForeignKey(Schedule, models.PROTECT, related_name="registrations", verbose_name=_("schedule"))
    period = models.ForeignKey(Period, models.PROTECT, related_name="+")
    slot = models.ForeignKey(Slot, models.PROTECT, related_name="registrations")
    slot_number = models.PositiveSmallIntegerField(_("visit number"))
    visit_date = models.DateField(_("visit date"), db_index=True)
    status = models.CharField(
        _("status"), max_length=12, choices=RegistrationStatus.choices, default=RegistrationStatus.BOOKED
    )
    registration_fee_fen = models.PositiveIntegerField(_("registration fee (fen)"))
    consultation_fee_fen = models.PositiveIntegerField(_("consultation fee (fen)"))
    insurance = models.BooleanField(_("medical insurance"), default=False)
    booked_at = models.DateTimeField(_("booked at"))
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.CharField(_("cancelled by"), max_length=10, blank=True)
    # Cancelled by the clinic's suspension (停诊): its reason, kept for the patient's page (the
    # clinic's own reason is cleared if it opens again).
    suspension_reason = models.CharField(_("suspension reason"), max_length=200, blank=True, default="")
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    # Where it was booked (the hold's channel); it may be cancelled on any channel.
    channel = models.CharField(_("channel"), max_length=40, default="app")
    # Cancelled by staff after the patient's online cutoff, at the patient's request: counted
    # towards the blacklist as the hospital's rules say (``late_cancel_counts_as``).
    late_cancel = models.BooleanField(_("late cancellation"), default=False)
    # Rescheduled (改约): the registration that took this one's place, and when.
    moved_to = models.OneToOneField(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="moved_from",
        verbose_name=_("moved to"),
    )
    moved_at = models.DateTimeField(_("moved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        ordering = ["-booked_at"]
        # Beyond booking, cancelling, moving and checking in (change): handing money back without a
        # cancellation, and the visit's outcome (visited, no-show and its undoing, which lifts a
        # bar), are the operators' and the hospital admin's, not the window's or the call centre's.
        permissions = [
            ("refund_registration", _("Can refund a registration's payment without cancelling it")),
            ("attendance_registration", _("Can mark a registration visited or a no-show, and undo a no-show")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status__in=["booked", "checked_in", "visited", "no_show"]),
                name="registration_one_active_per_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["person_hash", "department", "visit_date"]),
            models.Index(fields=["status", "visit_date"]),
            models.Index(fields=["account", "hospital", "visit_date"], name="reg_account_hospital_day"),
            # Statistics and the dashboard: a hospital's registrations of a range of days.
            # (PostgreSQL: covering, so the counts by status, department, doctor, the patient's age
            # and the payment's method read the index alone)
            models.Index(
                fields=["hospital", "visit_date"],
                include=["id", "status", "department", "doctor", "patient"],
                name="registration_hospital_day",
            ),
        ]

    def __str__(self) -> str:
        return self.registration_number

    @property
    def fee_fen(self) -> int:
        return self.registration_fee_fen + self.consultation_fee_fen


class ActorType(models.TextChoices):
    PATIENT = "patient", _("Patient")
    STAFF = "staff", _("Staff")
    SYSTEM = "system", _("System")


class BookingEvent(models.Model):
    """One transition of a hold or a registration: what, from which state, who, when."""

    hold = models.ForeignKey(Hold, models.CASCADE, null=True, blank=True, related_name="events", verbose_name=_("hold"))
    registration = models.ForeignKey(
        Registration, models.CASCADE, null=True, blank=True, related_name="events", verbose_name=_("registration")
    )
    kind = models.CharField(_("kind"), max_length=40)
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12, blank=True)
    actor_type = models.CharField(_("by whom"), max_length=10, choices=ActorType.choices)
    actor_id = models.CharField(_("staff member or account"), max_length=40, blank=True)
    at = models.DateTimeField(_("at"), db_index=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("booking event")
        verbose_name_plural = _("booking events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}→{self.to_status}"


class BlacklistReason(models.TextChoices):
    CANCELLATIONS = "cancellations", _("Too many cancellations")
    NO_SHOWS = "no_shows", _("Too many no-shows")
    MANUAL = "manual", _("Set by staff")


class BlacklistEntry(models.Model):
    """A person barred from online booking at one hospital until ``ends_at`` (or lifted)."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="blacklist", verbose_name=_("hospital"))
    person_hash = models.CharField(max_length=64, db_index=True)
    patient = models.ForeignKey(Patient, models.PROTECT, related_name="+", verbose_name=_("patient"))
    reason = models.CharField(_("reason"), max_length=20, choices=BlacklistReason.choices)
    count = models.PositiveSmallIntegerField(_("count"), default=0)
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.CharField(_("lifted by"), max_length=150, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    # The registrations whose cancellations or no-shows reached the threshold.
    causes = models.ManyToManyField(Registration, related_name="bars", blank=True, verbose_name=_("caused by"))
    appeal = models.TextField(_("patient's appeal"), max_length=1000, blank=True)
    set_by = models.CharField(_("set by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("blacklist entry")
        verbose_name_plural = _("blacklist")
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.patient} {self.get_reason_display()}"


class RiskDecision(models.Model):
    """A request that looked like a script's (``booking.risk``): what it asked, why it was
    suspected, and what was done with it — kept so staff can check each decision."""

    at = models.DateTimeField(_("when"), db_index=True)
    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+", verbose_name=_("hospital"))
    schedule = models.ForeignKey(Schedule, models.CASCADE, related_name="+", verbose_name=_("clinic"))
    account = models.ForeignKey(Account, models.CASCADE, related_name="risk_decisions", verbose_name=_("account"))
    patient_id = models.BigIntegerField(_("patient"), null=True, blank=True)
    asked = models.CharField(_("asked for"), max_length=10)  # hold, waitlist
    reasons = models.JSONField(_("why"), default=list)
    action = models.CharField(_("done"), max_length=10)  # refused, draw
    client = models.CharField(_("address or device"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("suspected request")
        verbose_name_plural = _("suspected requests")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.asked} #{self.pk}"


class ReliefStatus(models.TextChoices):
    REQUESTED = "requested", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")


class ReliefGrant(models.Model):
    """An extra slot for one named patient in an urgent case (救济), asked for by one staff member
    with the reason and approved by a second, a hospital admin; the registration it became is
    counted apart in the statistics."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+", verbose_name=_("hospital"))
    schedule = models.ForeignKey(Schedule, models.PROTECT, related_name="+", verbose_name=_("clinic"))
    patient = models.ForeignKey(Patient, models.PROTECT, related_name="+", verbose_name=_("patient"))
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(_("status"), max_length=10, choices=ReliefStatus.choices, default=ReliefStatus.REQUESTED)
    requested_by = models.CharField(_("asked by"), max_length=150)
    requested_at = models.DateTimeField(_("asked at"))
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    registration = models.OneToOneField(
        Registration, models.PROTECT, null=True, blank=True, related_name="relief", verbose_name=_("registration")
    )

    class Meta:
        verbose_name = _("relief slot")
        verbose_name_plural = _("relief slots")
        ordering = ["-requested_at"]
        constraints = [
            # Four eyes: whoever asked never approves their own request.
            models.CheckConstraint(condition=~Q(decided_by=models.F("requested_by")), name="relief_decided_by_another"),
        ]

    def __str__(self) -> str:
        return f"relief #{self.pk}"


# A registration whose patient saw the doctor: only these may be rated.
RATEABLE_REGISTRATION = [RegistrationStatus.CHECKED_IN, RegistrationStatus.VISITED]


class RatingStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting review")
    PUBLISHED = "published", _("Published")
    REJECTED = "rejected", _("Rejected")


class Rating(models.Model):
    """A patient's rating of the doctor after a visit: one per registration, shown to others
    only once staff of the hospital published it."""

    registration = models.OneToOneField(
        Registration, models.PROTECT, related_name="rating", verbose_name=_("registration")
    )
    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="+", verbose_name=_("hospital"))
    doctor = models.ForeignKey(Doctor, models.PROTECT, related_name="ratings", verbose_name=_("doctor"))
    account = models.ForeignKey(Account, models.PROTECT, related_name="+", verbose_name=_("account"))
    patient = models.ForeignKey(Patient, models.PROTECT, related_name="+", verbose_name=_("patient"))
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RatingStatus.choices, default=RatingStatus.PENDING)
    created_at = models.DateTimeField(_("rated at"))
    decided_by = models.CharField(_("reviewed by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"),
        ]
        indexes = [models.Index(fields=["doctor", "status", "created_at"], name="rating_doctor_shown")]

    def __str__(self) -> str:
        return f"{self.doctor} · {self.score}"
