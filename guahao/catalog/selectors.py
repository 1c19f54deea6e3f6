from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from guahao.catalog.models import Department, Doctor, Hospital


def department_tree(*, hospital: Hospital) -> list[dict]:
    """The hospital's departments as nested dicts, roots first, each with its ``children``."""
    nodes = list(Department.objects.filter(hospital=hospital).order_by("level", "sort", "id"))
    by_id: dict[int, dict] = {}
    roots: list[dict] = []
    for d in nodes:
        node = {"department": d, "children": []}
        by_id[d.id] = node
        if d.parent_id is None:
            roots.append(node)
        else:
            by_id[d.parent_id]["children"].append(node)
    return roots


def leaf_departments() -> QuerySet[Department]:
    return Department.objects.filter(~Exists(Department.objects.filter(parent=OuterRef("pk"))))


def is_leaf(department: Department) -> bool:
    return not Department.objects.filter(parent=department).exists()


def search(*, q: str, hospital: Hospital | None = None, limit: int = 20) -> tuple[list[Department], list[Doctor]]:
    """Leaf departments and doctors whose name, pinyin initials or specialty match ``q``."""
    q = q.strip()
    if not q:
        return [], []
    upper = q.upper()
    departments = leaf_departments().filter(
        Q(name__icontains=q) | Q(name_en__icontains=q) | Q(pinyin_initials__startswith=upper)
    )
    doctors = Doctor.objects.filter(is_active=True).filter(
        Q(name__icontains=q)
        | Q(name_en__icontains=q)
        | Q(pinyin_initials__startswith=upper)
        | Q(specialty__icontains=q)
        | Q(specialty_en__icontains=q)
    )
    if hospital is not None:
        departments = departments.filter(hospital=hospital)
        doctors = doctors.filter(hospital=hospital)
    return (
        list(departments.select_related("hospital").distinct()[:limit]),
        list(
            doctors.select_related("hospital", "department__hospital")
            .distinct()
            .order_by("name", "title", "id")[:limit]
        ),
    )


def doctors_grouped(doctors: list[Doctor]) -> list[list[Doctor]]:
    """Doctors of one hospital as persons: one who sits in two departments is entered once per
    department (a doctor row belongs to one department); such rows are listed together, in the
    order first found. The HIS's doctor code tells who is who where the rows have one (two
    namesakes of one title are two codes); rows without one go by name and title."""
    groups: dict[tuple[int, str, str, str], list[Doctor]] = {}
    for d in doctors:
        key = (d.hospital_id, "his", d.his_code, "") if d.his_code else (d.hospital_id, "name", d.name, d.title)
        groups.setdefault(key, []).append(d)
    return list(groups.values())
