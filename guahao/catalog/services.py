from __future__ import annotations

from pypinyin import Style, lazy_pinyin

from guahao.catalog import errors
from guahao.catalog.models import Campus, Department, Doctor, Hospital


def pinyin_initials(text: str) -> str:
    """'心血管内科' -> 'XXGNK'; letters and digits in the text are kept as they are."""
    return "".join(p[0] for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p).upper()


def department_fill(department: Department) -> None:
    """Set a department's derived fields (level, initials) before it is saved."""
    if department.parent_id is None:
        department.level = 1
    else:
        parent = department.parent
        assert parent is not None
        if parent.level >= 3:
            raise errors.DEPARTMENT_TOO_DEEP.error(field="parent")
        department.level = parent.level + 1
    department.pinyin_initials = pinyin_initials(department.name)


def department_create(
    *,
    hospital: Hospital,
    name: str,
    name_en: str = "",
    parent: Department | None = None,
    campus: Campus | None = None,
    location: str = "",
    intro: str = "",
    sort: int = 0,
    his_code: str = "",
) -> Department:
    department = Department(
        hospital=hospital,
        parent=parent,
        campus=campus,
        name=name,
        name_en=name_en,
        location=location,
        intro=intro,
        sort=sort,
        his_code=his_code,
    )
    department_fill(department)
    department.save()
    return department


def doctor_fill(doctor: Doctor) -> None:
    doctor.pinyin = " ".join(lazy_pinyin(doctor.name))
    doctor.pinyin_initials = pinyin_initials(doctor.name)


def doctor_create(*, hospital: Hospital, department: Department, name: str, title: str, **fields: str) -> Doctor:
    doctor = Doctor(hospital=hospital, department=department, name=name, title=title, **fields)
    doctor_fill(doctor)
    doctor.save()
    return doctor
