"""The console's statistics at a million registrations: how long each SQL aggregate takes.

    .venv/bin/python bench/stats.py [--registrations 1000000] [--days 365] [--doctors 100]
                                    [--db guahao_stats_bench] [--repeat 5]

On PostgreSQL (127.0.0.1:5432 user postgres, a database of its own, created and dropped): one
hospital of 20 departments and ``--doctors`` doctors with a clinic each day for ``--days`` days,
20,000 patients of every age, and ``--registrations`` registrations spread over the clinics
(about 70 % visited, 15 % no-shows, 15 % cancelled; every other one paid, a cancelled paid one
refunded), written with ``INSERT … SELECT generate_series`` (a few minutes at a million), plus a
second hospital with as many registrations, which every figure must leave out. Then it times
each series of ``booking.stats`` and ``payments.stats`` for the last 30 days and the whole
range (median of ``--repeat`` runs), the dashboard's figures of one day, and shows the plan of
the largest query. It stops by itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def _fill(cursor, *, hospital_id: int, days: int, per_clinic: int, first_day: str, rid_offset: int) -> None:
    """Clinics, periods, slots, holds, registrations, payments and refunds of one hospital."""
    cursor.execute(
        """
        INSERT INTO scheduling_schedule (hospital_id, department_id, doctor_id, date, session, starts_at, ends_at,
            status, registration_fee_fen, consultation_fee_fen, location, suspended_reason, his_id)
        SELECT %(h)s, doc.department_id, doc.id, %(first)s::date + d, 'am',
               (%(first)s::date + d)::timestamp AT TIME ZONE 'UTC',
               (%(first)s::date + d)::timestamp AT TIME ZONE 'UTC' + interval '4 hours',
               'open', 100, 5000, '', '', ''
        FROM generate_series(0, %(days)s - 1) d, catalog_doctor doc WHERE doc.hospital_id = %(h)s
        """,
        {"h": hospital_id, "first": first_day, "days": days},
    )
    cursor.execute(
        """INSERT INTO scheduling_period (schedule_id, starts_at, ends_at)
           SELECT id, starts_at, ends_at FROM scheduling_schedule WHERE hospital_id = %s""",
        [hospital_id],
    )
    cursor.execute(
        """
        INSERT INTO scheduling_slot (schedule_id, period_id, number, pool, state, extra)
        SELECT s.id, p.id, n, CASE WHEN n %% 5 = 0 THEN 'onsite' ELSE 'platform' END, 'booked', false
        FROM scheduling_schedule s JOIN scheduling_period p ON p.schedule_id = s.id,
             generate_series(1, %s) n
        WHERE s.hospital_id = %s
        """,
        [per_clinic, hospital_id],
    )
    cursor.execute(
        """
        WITH pats AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(account_id ORDER BY id) AS accounts,
                             count(*) AS n FROM accounts_patient)
        INSERT INTO booking_hold (account_id, patient_id, person_hash, hospital_id, department_id, schedule_id,
            period_id, slot_id, visit_date, status, registration_fee_fen, consultation_fee_fen, payment_required,
            created_at, expires_at, ended_at, his_lock_ref, his_registration_ref)
        SELECT pats.accounts[1 + sl.id %% pats.n], pats.ids[1 + sl.id %% pats.n], md5(pats.ids[1 + sl.id %% pats.n]::text),
               s.hospital_id, s.department_id, s.id, sl.period_id, sl.id, s.date, 'confirmed', 100, 5000, false,
               s.starts_at - interval '6 days' + (sl.number || ' seconds')::interval,
               s.starts_at - interval '6 days' + interval '15 minutes',
               s.starts_at - interval '6 days' + (sl.number || ' seconds')::interval, '', ''
        FROM scheduling_slot sl JOIN scheduling_schedule s ON s.id = sl.schedule_id, pats
        WHERE s.hospital_id = %s
        """,
        [hospital_id],
    )
    cursor.execute(
        """
        INSERT INTO booking_registration (hold_id, registration_number, account_id, patient_id, person_hash,
            hospital_id, department_id, doctor_id, schedule_id, period_id, slot_id, slot_number, visit_date, status,
            registration_fee_fen, consultation_fee_fen, insurance, booked_at, cancelled_at, cancelled_by,
            checked_in_at, late_cancel)
        SELECT h.id, lpad((h.id + %(off)s)::text, 14, '0'), h.account_id, h.patient_id, h.person_hash, h.hospital_id,
               h.department_id, s.doctor_id, h.schedule_id, h.period_id, h.slot_id, sl.number, h.visit_date,
               CASE WHEN h.id %% 20 < 14 THEN 'visited' WHEN h.id %% 20 < 17 THEN 'no_show' ELSE 'cancelled' END,
               100, 5000, h.id %% 3 = 0, h.created_at,
               CASE WHEN h.id %% 20 >= 17 THEN h.created_at + interval '1 day' END,
               CASE WHEN h.id %% 20 >= 17 THEN 'patient' ELSE '' END, NULL, false
        FROM booking_hold h JOIN scheduling_slot sl ON sl.id = h.slot_id JOIN scheduling_schedule s ON s.id = h.schedule_id
        WHERE h.hospital_id = %(h)s
        """,
        {"h": hospital_id, "off": rid_offset},
    )
    cursor.execute(
        """
        INSERT INTO payments_payment (hold_id, registration_id, account_id, hospital_id, provider, method,
            out_trade_no, registration_fee_fen, consultation_fee_fen, amount_fen, insurance, status, pay_url,
            transaction_id, created_at, paid_at)
        SELECT r.hold_id, r.id, r.account_id, r.hospital_id, 'sandbox',
               CASE WHEN r.id %% 4 = 0 THEN 'wechat' ELSE 'alipay' END, 'P' || r.registration_number,
               100, 5000, 5100, false, 'paid', '', '', r.booked_at, r.booked_at
        FROM booking_registration r WHERE r.hospital_id = %s AND r.id %% 2 = 0
        """,
        [hospital_id],
    )
    cursor.execute(
        """
        INSERT INTO payments_refund (payment_id, out_refund_no, amount_fen, reason, status, failure, sent_at,
            created_at, finished_at)
        SELECT p.id, 'R' || r.registration_number, 5100, 'cancelled', 'succeeded', '', r.cancelled_at,
               r.cancelled_at, r.cancelled_at
        FROM payments_payment p JOIN booking_registration r ON r.id = p.registration_id
        WHERE r.hospital_id = %s AND r.status = 'cancelled'
        """,
        [hospital_id],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--doctors", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default="guahao_stats_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database (dropped by default)")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept by --keep again")
    args = parser.parse_args()

    import psycopg

    if not args.reuse:
        with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db}"')
    os.environ["DATABASE_URL"] = f"{PG_ADMIN}/{args.db}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("GUAHAO_DATA_DIR", str(Path("/tmp") / f"guahao-stats-bench-{os.getpid()}"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "guahao.settings"
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')


def run(args: argparse.Namespace) -> None:
    import datetime as dt

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from guahao.accounts.models import Account, Patient
    from guahao.catalog import services as catalog
    from guahao.catalog.models import Hospital
    from guahao.core import clock

    call_command("migrate", verbosity=0)
    if args.reuse:
        measure(args, list(Hospital.objects.filter(code__startswith="bench").order_by("code")))
        return
    started = time.perf_counter()
    now = clock.now()
    today = clock.local_today("Asia/Shanghai")
    first = today - dt.timedelta(days=args.days - 1)
    per_clinic = max(1, round(args.registrations / (args.days * args.doctors)))
    hospitals = []
    with transaction.atomic():
        accounts = Account.objects.bulk_create(
            [Account(phone=f"139{i:08d}", created_at=now) for i in range(20_000)], batch_size=5000
        )
        Patient.objects.bulk_create(
            [
                Patient(
                    account=a,
                    name=f"患者{i}",
                    id_number_encrypted="-",
                    id_number_hash=f"{i:064d}",
                    id_number_masked="110105********0000",
                    birth_date=dt.date(1940 + i % 80, 1 + i % 12, 1 + i % 28),
                    gender="male" if i % 2 else "female",
                    phone=a.phone,
                    relation="self",
                    created_at=now,
                )
                for i, a in enumerate(accounts)
            ],
            batch_size=5000,
        )
        for n in range(2):
            h = Hospital.objects.create(
                code=f"bench{n}", name=f"基准医院{n}", name_en=f"Bench {n}", timezone="Asia/Shanghai"
            )
            deps = [catalog.department_create(hospital=h, name=f"科室{d}", name_en=f"D{d}") for d in range(20)]
            for d in range(args.doctors):
                catalog.doctor_create(hospital=h, department=deps[d % 20], name=f"医生{d}", title="chief", specialty="")
            hospitals.append(h)
    with connection.cursor() as cursor:
        for n, h in enumerate(hospitals):
            _fill(cursor, hospital_id=h.pk, days=args.days, per_clinic=per_clinic, first_day=first.isoformat(),
                  rid_offset=n * 10**12)  # fmt: skip
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would leave it: index-only scans
        cursor.execute("SELECT count(*) FROM booking_registration WHERE hospital_id = %s", [hospitals[0].pk])
        stored = cursor.fetchone()[0]
    print(f"stored: {stored:,} registrations at the measured hospital (as many at another), "
          f"{args.days} days × {args.doctors} clinics × {per_clinic} numbers; "
          f"written in {time.perf_counter() - started:.0f} s")  # fmt: skip
    measure(args, hospitals)


def measure(args: argparse.Namespace, hospitals: list) -> None:
    import datetime as dt

    import django
    from django.db import connection

    from guahao.booking import stats
    from guahao.core import clock
    from guahao.payments import stats as money_stats

    today = clock.local_today("Asia/Shanghai")
    first = today - dt.timedelta(days=args.days - 1)
    scope = frozenset({hospitals[0].pk})
    ranges = {
        "30 days": stats.StatsFilter(today - dt.timedelta(days=29), today, scope),
        f"{args.days} days": stats.StatsFilter(first, today, scope),
    }
    series = {
        "totals": stats.totals,
        "by_day": stats.by_day,
        "by_department": stats.by_department,
        "by_doctor": stats.by_doctor,
        "by_weekday": stats.by_weekday,
        "by_age": stats.by_age,
        "by_payment_method": money_stats.by_payment_method,
        "fill_rates": stats.fill_rates,
        "sell_outs": stats.sell_outs,
        "refunds": lambda f: money_stats.refunds(f, "Asia/Shanghai"),
    }
    print(f"\n| series | {' | '.join(ranges)} |\n|---|{'---|' * len(ranges)}")
    page = dict.fromkeys(ranges, 0.0)
    for name, fn in series.items():
        cells = []
        for label, f in ranges.items():
            ms, _out = _timed(lambda f=f, fn=fn: fn(f), args.repeat)
            page[label] += ms
            cells.append(f"{ms:,.1f} ms")
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"| **the whole page** | {' | '.join(f'{v:,.0f} ms' for v in page.values())} |")
    ms, figures = _timed(lambda: stats.figures_of_day(hospital_ids=scope, day=today), args.repeat)
    print(f"\ndashboard figures of today: {ms:.1f} ms {figures}")
    whole = ranges[f"{args.days} days"]
    total = stats.totals(whole)
    print(f"check: {total['booked']:,} booked in the range, no-show rate {total['no_show_rate']:.1%}")
    sql, params = (
        stats.registrations_in(whole)
        .values("department_id")
        .annotate(n=django.db.models.Count("id"))
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        print("\nplan of the registrations' GROUP BY:\n  " + "\n  ".join(r[0] for r in cursor.fetchall()))


if __name__ == "__main__":
    main()
