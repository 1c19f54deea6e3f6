"""Whom a department sees: by sex and by age on the visit day (obstetrics: women only;
paediatrics: children under 14). Checked by booking's hold rules and shown by the web app
before a slot is picked, so both read the rule from here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from guahao.catalog.models import Department, PatientSex


@dataclass(frozen=True)
class Restriction:
    sex: str  # "", "female" or "male"
    age_from: int | None
    age_under: int | None

    def __bool__(self) -> bool:
        return bool(self.sex) or self.age_from is not None or self.age_under is not None

    def text(self) -> str:
        """The rule as a patient reads it, e.g. "女性患者" or "14 岁以下"."""
        parts: list[str | Promise] = []
        if self.sex == PatientSex.FEMALE:
            parts.append(_("women only"))
        elif self.sex == PatientSex.MALE:
            parts.append(_("men only"))
        if self.age_from is not None and self.age_under is not None:
            parts.append(_("aged %(low)d to under %(high)d") % {"low": self.age_from, "high": self.age_under})
        elif self.age_under is not None:
            parts.append(_("under %(n)d years old") % {"n": self.age_under})
        elif self.age_from is not None:
            parts.append(_("%(n)d years old and over") % {"n": self.age_from})
        return " · ".join(str(p) for p in parts)


def restriction_of(department: Department) -> Restriction:
    return Restriction(department.patient_sex, department.age_from, department.age_under)


def sentence(department: Department) -> str:
    """ "产科 sees women only." in the reader's language, or "" for a department that sees anyone."""
    rule = restriction_of(department)
    if not rule:
        return ""
    name = department.name_en if get_language() == "en" and department.name_en else department.name
    return gettext("%(department)s sees %(rule)s.") % {"department": name, "rule": rule.text()}


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Full years on the day (a birthday on 29 February counts from 1 March in other years)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def refusal(restriction: Restriction, *, gender: str, birth_date: dt.date, day: dt.date) -> str | None:
    """Which rule a patient breaks on the visit day: ``"sex"``, ``"age"``, or None."""
    if restriction.sex and gender != restriction.sex:
        return "sex"
    age = age_on(birth_date, day)
    if restriction.age_from is not None and age < restriction.age_from:
        return "age"
    if restriction.age_under is not None and age >= restriction.age_under:
        return "age"
    return None
