"""What one ``POST /api/v1/holds`` costs: database queries and server time, per kind of answer.

    .venv/bin/python bench/hold_path.py [--holds 200] [--postgres postgres://…] [--redis redis://…]
                                        [--cpu] [--verbose] [--profile [--profile-file hold.prof]]

Runs in-process (Django's test client) on a fresh database: a schedule with a free slot for
every request, then the same schedule sold out, then one not released yet. Prints the median
and 95th percentile server time and the number of queries of each answer (``--cpu``: the
thread's CPU time instead, without the waits on the database and Redis; ``--verbose``: the
queries of one winning hold; ``--profile``: where the winning holds' Python time goes, and
``--profile-file``: the profile itself, for ``pstats`` or a viewer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holds", type=int, default=200)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--redis", default="")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-file", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("GUAHAO_DATA_DIR", tempfile.mkdtemp())
    os.environ["GUAHAO_RATELIMIT"] = "off"
    if args.postgres:
        os.environ["DATABASE_URL"] = args.postgres
    if args.redis:
        os.environ["REDIS_URL"] = args.redis
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
    import django

    django.setup()
    import logging

    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    logging.getLogger("django.request").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)
    cache.clear()
    from tests import factories as f

    h = f.hospital()
    dep = f.department(h)
    n = args.holds
    periods = max(1, n // 40)
    sched = f.schedule(
        dep, f.doctor(dep), start=dt.time(8, 0), end=dt.time(8 + periods // 2, 30 * (periods % 2)), slots_per_period=40
    )
    later = f.schedule(dep, f.doctor(dep, name="赵立新"), day=f.today() + dt.timedelta(days=30))
    clients = []
    for _ in range(n + 50):
        c = f.Api().login()
        clients.append((c, c.add_patient()))

    timer = time.thread_time if args.cpu else time.perf_counter

    def measure(schedule_id: int, who: list) -> tuple[list[float], list[int], list[int], list[str]]:
        times, counts, statuses = [], [], []
        sample: list[str] = []
        for c, pid in who:
            with CaptureQueriesContext(connection) as q:
                began = timer()
                status, _ = c.call("POST", "/holds", {"schedule_id": str(schedule_id), "patient_id": pid})
                times.append((timer() - began) * 1000)
            counts.append(len(q.captured_queries))
            statuses.append(status)
            if not sample:
                sample = [x["sql"] for x in q.captured_queries]
        return times, counts, statuses, sample

    def report(name: str, result: tuple) -> None:
        times, counts, statuses, sample = result
        times.sort()
        print(
            f"{name:<14} answers {sorted(set(statuses))!s:<8} median {statistics.median(times):6.2f} ms"
            f"  p95 {times[int(len(times) * 0.95) - 1]:6.2f} ms  queries {statistics.median(counts):4.0f}"
        )
        if args.verbose:
            for sql in sample:
                print("   ", sql[:160])

    winners = clients[: sched.slots.filter(pool="platform").count()][:n]
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        won = profiler.runcall(measure, sched.pk, winners)
        if args.profile_file:
            profiler.dump_stats(args.profile_file)
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats("guahao/", 40)
        stats.print_callers("execute_command|get_connection")
    else:
        won = measure(sched.pk, winners)
    report("hold given", won)
    lost = measure(sched.pk, clients[n:])
    report("sold out", lost)
    report("not released", measure(later.pk, clients[n:]))
    print(f"on {connection.vendor}")


if __name__ == "__main__":
    main()
