from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Title(models.TextChoices):
    """A doctor's title; it sets the consultation fee."""

    GENERAL = "general", _("General clinic")
    ATTENDING = "attending", _("Attending physician")
    ASSOCIATE_CHIEF = "associate_chief", _("Associate chief physician")
    CHIEF = "chief", _("Chief physician")
    RENOWNED = "renowned", _("Renowned expert")


class PatientSex(models.TextChoices):
    """Whom a department sees, by sex (obstetrics: women only)."""

    ANY = "", _("Anyone")
    FEMALE = "female", _("Women only")
    MALE = "male", _("Men only")


class Hospital(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(pgettext_lazy("not a person's", "name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    grade = models.CharField(_("grade"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(pgettext_lazy("a landline", "phone"), max_length=40, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    notice = models.TextField(
        _("booking notice"),
        blank=True,
        help_text=_(
            "Shown before booking, followed by the rules as they stand (hold time, cancellation, "
            "limits, missed visits): write here only what the rules do not say."
        ),
    )
    notice_en = models.TextField(_("booking notice (English)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Campus(models.Model):
    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="campuses", verbose_name=_("hospital"))
    name = models.CharField(pgettext_lazy("not a person's", "name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("campus")
        verbose_name_plural = _("campuses")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.hospital.name} {self.name}"


class Department(models.Model):
    """A node of a hospital's department tree (at most three levels); patients book at leaves."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="departments", verbose_name=_("hospital"))
    campus = models.ForeignKey(
        Campus, models.PROTECT, null=True, blank=True, related_name="departments", verbose_name=_("campus")
    )
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent department")
    )
    level = models.PositiveSmallIntegerField(_("level"), default=1, editable=False)
    name = models.CharField(pgettext_lazy("not a person's", "name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    pinyin_initials = models.CharField(_("pinyin initials"), max_length=40, blank=True, db_index=True)
    intro = models.TextField(_("introduction"), blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    sort = models.PositiveIntegerField(_("order"), default=0)
    his_code = models.CharField(_("HIS code"), max_length=64, blank=True, db_index=True)
    # Whom the department sees (checked when a slot is held, shown before one is picked): by sex,
    # and by age on the visit day, from ``age_from`` (inclusive) to under ``age_under``.
    patient_sex = models.CharField(
        _("patients' sex"), max_length=6, choices=PatientSex.choices, default=PatientSex.ANY, blank=True
    )
    age_from = models.PositiveSmallIntegerField(
        _("from age"), null=True, blank=True, help_text=_("Patients this old or older on the visit day.")
    )
    age_under = models.PositiveSmallIntegerField(
        _("under age"),
        null=True,
        blank=True,
        help_text=_("Patients younger than this on the visit day (14: children)."),
    )

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["sort", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age_from__isnull=True) | Q(age_under__isnull=True) | Q(age_from__lt=F("age_under")),
                name="department_age_range_not_empty",
                violation_error_message=_("The lower age must be below the upper one."),
            ),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="department_level_1_to_3"),
            models.CheckConstraint(
                condition=Q(level=1, parent__isnull=True) | Q(level__gt=1, parent__isnull=False),
                name="department_root_has_no_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Doctor(models.Model):
    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="doctors", verbose_name=_("hospital"))
    department = models.ForeignKey(Department, models.PROTECT, related_name="doctors", verbose_name=_("department"))
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    title = models.CharField(_("title"), max_length=20, choices=Title.choices)
    specialty = models.CharField(_("specialty"), max_length=300, blank=True)
    specialty_en = models.CharField(_("specialty (English)"), max_length=300, blank=True)
    pinyin = models.CharField(_("pinyin"), max_length=100, blank=True)
    pinyin_initials = models.CharField(_("pinyin initials"), max_length=20, blank=True, db_index=True)
    intro = models.TextField(_("introduction"), blank=True)
    intro_en = models.TextField(_("introduction (English)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    his_code = models.CharField(_("HIS code"), max_length=64, blank=True, db_index=True)

    class Meta:
        verbose_name = _("doctor")
        verbose_name_plural = _("doctors")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Fee(models.Model):
    """What a visit to a doctor of a title costs at one hospital, in fen."""

    hospital = models.ForeignKey(Hospital, models.CASCADE, related_name="fees", verbose_name=_("hospital"))
    title = models.CharField(_("title"), max_length=20, choices=Title.choices)
    registration_fee_fen = models.PositiveIntegerField(_("registration fee (fen)"), default=0)
    consultation_fee_fen = models.PositiveIntegerField(_("consultation fee (fen)"), default=0)

    class Meta:
        verbose_name = _("fee")
        verbose_name_plural = _("fees")
        constraints = [models.UniqueConstraint(fields=["hospital", "title"], name="fee_one_per_title")]

    def __str__(self) -> str:
        return f"{self.hospital} {self.get_title_display()}"
