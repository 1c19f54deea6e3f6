"""How fast and how heavy the patient web app's pages are, on the demo's data.

    .venv/bin/python bench/pages.py [--rounds 50] [--postgres postgres://…]

Loads the demo into a fresh database (a temporary SQLite file, or the PostgreSQL database named),
then asks each page ``--rounds`` times through Django's test client, as a logged-in patient on a
phone would. Prints per page: the median and 95th-percentile server time, the database queries,
the HTML size, the size of a first visit (HTML with the CSS and scripts it loads) and that size
as a share of the 100 KB budget; then how much slower than the home page each page is.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "guahao" / "web" / "static"
BUDGET = 100 * 1024


def _setup(postgres: str | None) -> None:
    os.environ["GUAHAO_DATA_DIR"] = tempfile.mkdtemp(prefix="guahao-bench-")
    os.environ["DATABASE_URL"] = postgres or f"sqlite:///{os.environ['GUAHAO_DATA_DIR']}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.RATELIMIT_ENABLED = False
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    if postgres:
        call_command("flush", interactive=False, verbosity=0)
    from guahao import demo

    demo.load()


def _first_visit(html: str) -> int:
    assets = re.findall(r'(?:src|href)="/static/([^"]+\.(?:css|js))"', html)
    return len(html.encode()) + sum((STATIC / a).stat().st_size for a in assets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--postgres", help="an empty PostgreSQL database to load the demo into")
    args = parser.parse_args()
    _setup(args.postgres)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from guahao.catalog.models import Department, Hospital
    from guahao.scheduling.models import Schedule, ScheduleStatus

    client = Client()
    phone = "13900001111"
    code = re.search(r"\b(\d{6})\b", client.post("/login/", {"phone": phone, "step": "phone"}).content.decode())
    assert code, "the demo shows the SMS code on the login page"
    client.post("/login/", {"phone": phone, "code": code.group(1), "step": "code", "next": "/"})

    hospital = Hospital.objects.filter(is_active=True).order_by("pk").first()
    assert hospital is not None
    schedule = Schedule.objects.filter(hospital=hospital, status=ScheduleStatus.OPEN).order_by("date", "pk").first()
    assert schedule is not None
    department = Department.objects.get(pk=schedule.department_id)
    pages = {
        "hospitals": "/",
        "hospital": f"/hospitals/{hospital.pk}/",
        "search (pinyin)": f"/hospitals/{hospital.pk}/?q=nk",
        "strip, 7 days": f"/departments/{department.pk}/",
        "strip, 14 days": f"/departments/{department.pk}/?days=14",
        "clinic periods": f"/schedules/{schedule.pk}/",
        "my registrations": "/registrations/",
        "my patients": "/patients/",
        "messages": "/messages/",
    }
    rows = []
    for name, path in pages.items():
        html = client.get(path).content.decode()  # warm: templates compiled, caches filled
        times = []
        for _ in range(args.rounds):
            began = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        times.sort()
        rows.append(
            (
                name,
                statistics.median(times),
                times[max(0, int(len(times) * 0.95) - 1)],
                len(queries),
                len(html.encode()),
                _first_visit(html),
            )
        )

    print(f"{connection.vendor}, demo data, {args.rounds} rounds a page")  # noqa: T201
    print(f"{'page':18} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'HTML KB':>8} {'first KB':>9} {'budget':>7}")  # noqa: T201
    for name, median, p95, queries, html_bytes, first in rows:
        print(  # noqa: T201
            f"{name:18} {median:10.1f} {p95:8.1f} {queries:8d} {html_bytes / 1024:8.1f} "
            f"{first / 1024:9.1f} {first / BUDGET:7.0%}"
        )
    home = rows[0][1]
    print("time against the hospitals page: " + ", ".join(f"{r[0]} {r[1] / home:.1f}x" for r in rows[1:]))  # noqa: T201


if __name__ == "__main__":
    main()
