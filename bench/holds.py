"""How fast the hold path hands out a schedule at release time, on SQLite and on PostgreSQL.

    .venv/bin/python bench/holds.py [--threads 8] [--slots 400] [--postgres postgres://…]

A crowd of threads, each with its own database connection, calls the hold service for distinct
patients until the schedule is gone, then keeps asking (the sold-out answers the gate gives
without touching the slots). Prints holds per second, sold-out answers per second, and the
ratios between the backends. Each backend runs in its own process on a fresh database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_one(threads: int, slots: int) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.RATELIMIT_ENABLED = False
    call_command("migrate", verbosity=0)
    from guahao.booking import services as booking
    from guahao.core.problems import Problem
    from tests import factories as f

    h = f.hospital()
    dep = f.department(h)
    per_period = 40
    periods = slots // per_period

    schedule = f.schedule(
        dep,
        f.doctor(dep),
        start=dt.time(8, 0),
        end=dt.time(8 + periods // 2, 30 * (periods % 2)),  # 30-minute periods from 08:00
        slots_per_period=per_period,
    )
    crowd = []
    for _ in range(slots * 2):
        account = f.account()
        crowd.append((account, f.patient(account)))
    connection.close()

    won: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def worker(mine: list) -> None:
        ok = no = 0
        start.wait()
        for account, patient in mine:
            try:
                booking.hold_create(account=account, patient=patient, schedule=schedule)
                ok += 1
            except Problem:
                no += 1
        connection.close()
        with lock:
            won.append(ok)
            refused.append(no)

    pool = [threading.Thread(target=worker, args=(crowd[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    holds = sum(won)
    assert holds == slots, f"{holds} holds for {slots} slots"

    # Sold out: every further ask is answered from the gate.
    asked = 0
    began = time.perf_counter()
    account, patient = crowd[-1]
    while time.perf_counter() - began < 2:
        try:
            booking.hold_create(account=account, patient=patient, schedule=schedule)
        except Problem:
            asked += 1
    sold_out_elapsed = time.perf_counter() - began
    return {
        "vendor": connection.vendor,
        "threads": threads,
        "slots": slots,
        "asks": len(crowd),
        "seconds": round(elapsed, 3),
        "holds_per_s": round(holds / elapsed, 1),
        "asks_per_s": round(len(crowd) / elapsed, 1),
        "sold_out_per_s": round(asked / sold_out_elapsed, 1),
    }


def _in_child(env: dict, threads: int, slots: int) -> dict:
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", "--threads", str(threads), "--slots", str(slots)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--slots", type=int, default=400)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/guahao_bench")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_one(args.threads, args.slots)))
        return

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        base["GUAHAO_DATA_DIR"] = tmp
        results.append(_in_child(base, args.threads, args.slots))
        if args.postgres != "skip":
            import psycopg

            admin, _, name = args.postgres.rpartition("/")
            with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                results.append(_in_child(base | {"DATABASE_URL": args.postgres}, args.threads, args.slots))
            finally:
                with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"hold race: {args.threads} threads, {args.slots} slots, {2 * args.slots} asks")
    print(f"{'database':<12}{'seconds':>9}{'holds/s':>10}{'asks/s':>10}{'sold-out/s':>12}")
    for r in results:
        print(f"{r['vendor']:<12}{r['seconds']:>9}{r['holds_per_s']:>10}{r['asks_per_s']:>10}{r['sold_out_per_s']:>12}")
    if len(results) == 2:
        a, b = results
        print(f"ratio {b['vendor']}/{a['vendor']}: holds/s {b['holds_per_s'] / a['holds_per_s']:.2f}×")
    for r in results:
        print(f"{r['vendor']}: a sold-out answer is {r['sold_out_per_s'] / r['holds_per_s']:.1f}× as fast as a hold")


if __name__ == "__main__":
    main()
