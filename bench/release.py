"""Release time, measured as a patient's phone sees it: ``guahao serve`` under a crowd.

    .venv/bin/python bench/release.py [--workers 2] [--connections 64] [--slots 1000]
                                      [--accounts 2000] [--backend both|postgres|sqlite]
    .venv/bin/python bench/release.py --growth      # stored slots 10^3 → 10^6

Crowd mode, on PostgreSQL + Redis (127.0.0.1:5432 user postgres, its own database, created and
dropped; Redis 127.0.0.1:6379 db 12) and on the embedded default (SQLite, no Redis): seeds one
schedule of ``--slots`` online slots and ``--accounts`` accounts with login tokens, starts
``guahao serve --workers N``, and drives ``POST /api/v1/holds`` with wrk (the Debian package;
installed with apt-get when missing) for ``--seconds``, every request a different account's
token (a Lua script); the holds' own times in the database tell how long selling took. Then, in the same run and on the same
data: the server's no-op ceiling (``/healthz``), and a naive hold path (``SELECT … FOR UPDATE``
of the schedule and the first free slot, the token read from the database) served by the same
server, with the ratios. Oversold and double-booked counts are checked in the database.

Growth mode builds a database for each size of stored slots (10^3, 10^4, 10^5, 10^6; other
departments and days), then measures the sizes in turn, a few rounds in alternating order, and
prints at each size the hold and the department-availability latency (14 days × 20 doctors),
on PostgreSQL + Redis. It stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"
PG_NAME = "guahao_release_bench"
REDIS = "redis://127.0.0.1:6379/12"

LUA = r"""
-- Every request a different account: a line "token patient_id" per account, taken in turn
-- by the threads (thread i starts at line i and steps by the number of threads).
local lines = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do lines[#lines + 1] = line end
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  step = tonumber(os.getenv("BENCH_THREADS"))
  i = id - 1
  schedule = os.getenv("BENCH_SCHEDULE")
  path = os.getenv("BENCH_PATH")
  statuses = {}
end
function request()
  i = i + step
  local line = lines[(i % #lines) + 1]
  local token, patient = line:match("(%S+) (%S+)")
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"schedule_id": "' .. schedule .. '", "patient_id": "' .. patient .. '"}')
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do all[tostring(k)] = (all[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = '"' .. k .. '": ' .. v end
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.4f, "p50": %.3f, "p90": %.3f, "p95": %.3f, "p99": %.3f, "p999": %.3f, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3,
    table.concat(parts, ", ")))
end
"""

GET_LUA = r"""
function done(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %d, "seconds": %.4f, "p50": %.3f, "p95": %.3f, "p99": %.3f, "statuses": {}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3))
end
"""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing the Debian package", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed")
    return found


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def django_child(env: dict, *args: str) -> dict:
    """Run this file's ``--child`` step (seed, reset, check) in a process of its own."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode:
        sys.exit(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- steps run inside a Django process -------------------------------------------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
    import django

    django.setup()


def child_seed(slots: int, accounts: int, tokens_file: str) -> dict:
    """One hospital, a department of 20 doctors over 14 days, one schedule of ``slots`` online
    slots tomorrow, and ``accounts`` accounts each with a patient and a login token."""
    _django()
    import datetime as dt

    from django.core.cache import cache
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cache.clear()
    from guahao.accounts import idcard
    from guahao.accounts.models import Account, AuthToken, Patient
    from guahao.accounts.services import TOKEN_TTL, _digest
    from guahao.core import clock
    from tests import factories as f

    h = f.hospital(days_ahead=14)
    dep = f.department(h)
    doctors = [f.doctor(dep, name=f"医生{i:02d}") for i in range(20)]
    per_period = 50
    periods = max(1, slots // per_period)
    # The crowd's schedule: 30-minute periods of 50 slots from 08:00, all online.
    minutes = 30 * periods
    end = dt.time(min(23, 8 + minutes // 60), minutes % 60 if 8 + minutes // 60 < 24 else 59)
    crowd = f.schedule(dep, doctors[0], start=dt.time(8, 0), end=end, slots_per_period=per_period)
    # The rest of the department's fortnight, for the alternatives and the availability reads.
    for day in range(1, 15):
        for i, doctor in enumerate(doctors):
            if day == 1 and i == 0:
                continue
            f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=day), slots_per_period=2)
    now = clock.now()
    made = Account.objects.bulk_create(
        [Account(phone=f"139{90000000 + n:08d}", created_at=now) for n in range(accounts)]
    )
    patients = []
    for a in made:
        number = f.id_number()
        patients.append(
            Patient(
                account=a,
                name="张伟",
                id_number_encrypted=idcard.encrypt(number),
                id_number_hash=idcard.lookup_hash(number),
                id_number_masked=idcard.mask(number),
                birth_date=dt.date(1980, 1, 1),
                gender="m",
                phone=a.phone,
                relation="self",
                created_at=now,
            )
        )
    Patient.objects.bulk_create(patients)
    lines, tokens = [], []
    for n, (a, p) in enumerate(zip(made, Patient.objects.filter(account__in=made).order_by("account_id"), strict=True)):
        key = f"bench-token-{n:06d}-{a.pk}"
        tokens.append(AuthToken(key_hash=_digest(key), account=a, created_at=now, expires_at=now + TOKEN_TTL))
        lines.append(f"{key} {p.pk}")
    AuthToken.objects.bulk_create(tokens)
    # The crowd logged in before the release, as patients do: a login leaves its token known to
    # the cache (shared through Redis; the embedded default's cache is each process's own).
    from guahao.accounts.services import account_for_token

    for line in lines:
        account_for_token(line.split()[0])
    Path(tokens_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"schedule_id": crowd.pk, "department_id": dep.pk, "slots": crowd.slots.count()}


def child_reset(schedule_id: int) -> dict:
    """The same data again: the crowd's schedule free, no holds."""
    _django()
    from django.core.cache import cache

    from guahao.booking.models import BookingEvent, Hold
    from guahao.scheduling.models import Slot

    BookingEvent.objects.filter(hold__schedule_id=schedule_id).delete()
    Hold.objects.filter(schedule_id=schedule_id).delete()
    Slot.objects.filter(schedule_id=schedule_id).update(state="free")
    cache.clear()
    return {}


def child_check(schedule_id: int) -> dict:
    """What the database says after the crowd: holds, oversold, double-booked, first to last."""
    _django()
    from django.db.models import Count, Max, Min

    from guahao.booking.models import Hold
    from guahao.scheduling.models import Slot

    holds = Hold.objects.filter(schedule_id=schedule_id)
    live = holds.filter(status__in=["held", "confirmed"])
    span = live.aggregate(first=Min("created_at"), last=Max("created_at"))
    slots = Slot.objects.filter(schedule_id=schedule_id, pool="platform").count()
    taken = Slot.objects.filter(schedule_id=schedule_id).exclude(state="free").count()
    double = live.values("slot_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    people = live.values("person_hash").annotate(n=Count("pk")).filter(n__gt=1).count()
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else None
    return {
        "holds": live.count(),
        "slots": slots,
        "taken": taken,
        "oversold": max(0, live.count() - slots) + max(0, live.count() - taken),
        "double_booked": double + people,
        "sell_seconds": seconds,
    }


def child_grow(department_count: int, slots_per_schedule: int, days: int, start_index: int) -> dict:
    """Store more slots: ``department_count`` departments of 20 doctors × ``days`` days."""
    _django()
    import datetime as dt

    from django.db import transaction

    from guahao.catalog.models import Hospital
    from guahao.core import clock
    from guahao.scheduling.models import Period, Schedule, Slot
    from tests import factories as f

    h = Hospital.objects.order_by("pk").first()
    assert h is not None
    made = 0
    tz = h.timezone
    for d in range(department_count):
        dep = f.department(h, name=f"扩展科室{start_index + d}")
        doctors = [f.doctor(dep, name=f"扩展医生{i:02d}") for i in range(20)]
        with transaction.atomic():
            for day in range(1, days + 1):
                date = f.today() + dt.timedelta(days=day)
                schedules = Schedule.objects.bulk_create(
                    [
                        Schedule(
                            hospital=h,
                            department=dep,
                            doctor=doc,
                            date=date,
                            session="am",
                            starts_at=clock.at_local(date, dt.time(8, 0), tz),
                            ends_at=clock.at_local(date, dt.time(12, 0), tz),
                        )
                        for doc in doctors
                    ]
                )
                periods = Period.objects.bulk_create(
                    [Period(schedule=s, starts_at=s.starts_at, ends_at=s.ends_at) for s in schedules]
                )
                Slot.objects.bulk_create(
                    [
                        Slot(schedule=s, period=p, number=n + 1, pool="platform")
                        for s, p in zip(schedules, periods, strict=True)
                        for n in range(slots_per_schedule)
                    ],
                    batch_size=5000,
                )
                made += len(schedules) * slots_per_schedule
    from django.db import connection

    if connection.vendor == "postgresql" and made:
        # Measured as a hospital's database runs, not while autovacuum works through the rows
        # just stored (it would, on these two cores, during the next size's measurement).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {"made": made, "stored": Slot.objects.count()}


# --- the runs ---------------------------------------------------------------------------------


class Server:
    """``guahao serve`` (or, for the naive path, granian with the same flags on bench.naive)."""

    def __init__(self, env: dict, workers: int, *, naive: bool = False) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="guahao-serve-", suffix=".log", delete=False)  # noqa: SIM115
        command = [str(BIN / "guahao"), "serve", "--port", str(self.port), "--workers", str(workers), "--no-worker"]
        if naive:
            command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1"]
            command += ["--port", str(self.port), "--workers", str(workers), "--blocking-threads", "4"]
            command += ["--no-ws", "bench.naive:application"]
        self.proc = subprocess.Popen(  # noqa: S603
            command,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(self.url + "/readyz", timeout=1)  # noqa: S310
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit(Path(self.log.name).read_text()[-3000:])
                time.sleep(0.25)
        sys.exit("guahao serve did not become ready")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wrk(url: str, *, connections: int, seconds: float, script: str, env: dict, threads: int = 2) -> dict:
    threads = min(threads, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    out = subprocess.run(  # noqa: S603
        [
            wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            lua.name,
            url,
        ],
        env=env | {"BENCH_THREADS": str(threads)},
        capture_output=True,
        text=True,
    )
    os.unlink(lua.name)
    found = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if not found:
        sys.exit(out.stdout + out.stderr)
    result = json.loads(found.group(1))
    result["per_s"] = result["requests"] / result["seconds"]
    return result


def crowd_run(server: Server, env: dict, seed: dict, args: argparse.Namespace, path: str) -> dict:
    lua_env = env | {"BENCH_SCHEDULE": str(seed["schedule_id"]), "BENCH_PATH": path}
    got = wrk(server.url + path, connections=args.connections, seconds=args.seconds, script=LUA, env=lua_env)
    got |= django_child(env, "check", str(seed["schedule_id"]))
    return got


def prepare(backend: str, tmp: str, name: str = PG_NAME) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "GUAHAO_DATA_DIR": str(Path(tmp) / backend / name),
        "GUAHAO_RATELIMIT": "off",
        "GUAHAO_LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
        "GUAHAO_HIS_URL": "http://127.0.0.1:9",  # no HIS in this bench
    }
    if backend == "postgres":
        import psycopg
        import redis

        with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(REDIS).flushdb()
        env |= {"DATABASE_URL": f"{PG_ADMIN}/{name}", "REDIS_URL": REDIS}
    return env


def drop(backend: str, name: str = PG_NAME) -> None:
    if backend == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def crowd(args: argparse.Namespace) -> None:
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            env = prepare(backend, tmp)
            tokens = str(Path(tmp) / f"{backend}-tokens.txt")
            env["BENCH_TOKENS"] = tokens
            try:
                print(f"[{backend}] seeding {args.slots} slots and {args.accounts} accounts", flush=True)
                seed = django_child(env, "seed", str(args.slots), str(args.accounts), tokens)
                server = Server(env, args.workers)
                try:
                    wrk(server.url + "/healthz", connections=args.connections, seconds=2, script=GET_LUA, env=env)
                    ceiling = wrk(
                        server.url + "/healthz", connections=args.connections, seconds=5, script=GET_LUA, env=env
                    )
                    path = f"/api/v1/departments/{seed['department_id']}/availability?days=14"
                    wrk(server.url + path, connections=args.connections, seconds=1, script=GET_LUA, env=env)
                    avail = wrk(server.url + path, connections=args.connections, seconds=5, script=GET_LUA, env=env)
                    print(f"[{backend}] crowd on the hold path", flush=True)
                    ours = crowd_run(server, env, seed, args, "/api/v1/holds")
                finally:
                    server.stop()
                django_child(env, "reset", str(seed["schedule_id"]))
                server = Server(env, args.workers, naive=True)
                try:
                    print(f"[{backend}] crowd on the naive hold path", flush=True)
                    naive = crowd_run(server, env, seed, args, "/bench/naive-hold")
                finally:
                    server.stop()
                rows.append((backend, ceiling, avail, ours, naive))
            finally:
                drop(backend)

    print()
    print(
        f"release time: {args.slots} slots, {args.accounts} accounts, {args.workers} workers, "
        f"{args.connections} connections, {args.seconds:.0f} s of wrk"
    )
    head = f"{'':<22}{'attempts/s':>11}{'holds':>7}{'holds/s':>9}{'sold in s':>10}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'oversold':>9}{'double':>7}"
    for backend, ceiling, avail, ours, naive in rows:
        print(f"\n{backend} ({'PostgreSQL + Redis' if backend == 'postgres' else 'SQLite, no Redis'})")
        print(head)
        print(
            f"{'/healthz (ceiling)':<22}{ceiling['per_s']:>11.0f}{'':>7}{'':>9}{'':>10}{ceiling['p50']:>8.1f}{ceiling['p95']:>8.1f}{ceiling['p99']:>8.1f}"
        )
        print(
            f"{'availability 14 d × 20':<22}{avail['per_s']:>11.0f}{'':>7}{'':>9}{'':>10}{avail['p50']:>8.1f}{avail['p95']:>8.1f}{avail['p99']:>8.1f}"
        )
        for name, r in (("hold path", ours), ("naive FOR UPDATE", naive)):
            sold = r["sell_seconds"]
            holds_per_s = r["holds"] / sold if sold else 0
            print(
                f"{name:<22}{r['per_s']:>11.0f}{r['holds']:>7}{holds_per_s:>9.0f}"
                f"{(f'{sold:.2f}' if sold is not None else '-'):>10}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['p99']:>8.1f}"
                f"{r['oversold']:>9}{r['double_booked']:>7}"
            )
            print(f"{'':<22}answers: {dict(sorted(r['statuses'].items()))}")
            # Where the p99 falls: with 64 clients always waiting, an answer given while slots
            # remain waits about 64 / (holds a second); the sold-out answers after it far less.
            print(
                f"{'':<22}p90 {r['p90']:.1f} ms, p99.9 {r['p999']:.1f} ms; the holds are "
                f"{r['holds'] / max(r['requests'], 1):.1%} of the answers (the p99 is the slowest 1 %)"
            )
        print(
            f"ratios: availability {avail['per_s'] / ceiling['per_s']:.0%} of the ceiling; "
            f"attempts/s {ours['per_s'] / ceiling['per_s']:.0%} of the ceiling "
            f"(naive {naive['per_s'] / ceiling['per_s']:.0%}); attempts/s {ours['per_s'] / naive['per_s']:.1f}× naive; "
            f"p99 {naive['p99'] / max(ours['p99'], 0.001):.1f}× lower than naive"
        )
        if ours["sell_seconds"] and naive["sell_seconds"]:
            print(f"        sold out {naive['sell_seconds'] / ours['sell_seconds']:.1f}× faster than naive")


REPEATS = 3


def _median_run(runs: list[dict]) -> dict:
    """Each figure's median over the runs."""
    return {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in ("p50", "p99", "per_s")}


def growth(args: argparse.Namespace) -> None:
    """Hold and availability latency as the stored slots grow 10^3 → 10^6 (PostgreSQL + Redis).
    Each size has a database of its own, built first; then the sizes are measured in turn,
    ``REPEATS`` rounds in alternating order, so that a machine whose speed drifts during the
    run (a shared one's does) slows every size alike instead of the last one built."""
    sizes = [10**3, 10**4, 10**5, 10**6]
    backend = args.backend if args.backend != "both" else "postgres"
    built: list[tuple[int, dict, dict, str]] = []  # stored slots, env, seed, name
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for size in sizes:
                name = f"{PG_NAME}_{size}"
                env = prepare(backend, tmp, name)
                env["BENCH_TOKENS"] = str(Path(tmp) / f"tokens-{size}.txt")
                built.append((0, env, {}, name))  # listed at once: a build that fails is dropped too
                # The hold schedule has room for every hold of every round.
                seed = django_child(env, "seed", "1000", str(args.accounts), env["BENCH_TOKENS"])
                stored = int(django_child(env, "grow", "0", "1", "1", "0")["stored"])  # what the seed stored
                if stored < size:
                    # Departments of 20 doctors × 14 days × 50 slots = 14,000 slots each.
                    need = size - stored
                    deps = max(1, need // 14000)
                    per = max(1, min(50, need // (deps * 20 * 14)))
                    print(f"[growth] database of {size}: storing {deps * 20 * 14 * per} more slots", flush=True)
                    stored = int(django_child(env, "grow", str(deps), str(per), "14", "0")["stored"])
                built[-1] = (stored, env, seed, name)
            measured: dict[int, tuple[list[dict], list[dict]]] = {stored: ([], []) for stored, *_ in built}
            for round_ in range(REPEATS):
                for stored, env, seed, _ in built if round_ % 2 == 0 else built[::-1]:
                    django_child(env, "reset", str(seed["schedule_id"]))  # and the cache emptied
                    server = Server(env, args.workers)
                    try:
                        lua_env = env | {"BENCH_SCHEDULE": str(seed["schedule_id"]), "BENCH_PATH": "/api/v1/holds"}
                        # One connection, a few seconds: latency, not a crowd (with two, whether both
                        # land on one worker decided more than the size did); fewer holds than slots.
                        path = f"/api/v1/departments/{seed['department_id']}/availability?days=14"
                        wrk(server.url + path, connections=1, seconds=1, script=GET_LUA, env=env)  # warm up
                        hold = wrk(server.url + "/api/v1/holds", connections=1, seconds=3, script=LUA, env=lua_env)
                        avail = wrk(server.url + path, connections=1, seconds=3, script=GET_LUA, env=env)
                    finally:
                        server.stop()
                    measured[stored][0].append(hold)
                    measured[stored][1].append(avail)
                    print(
                        f"[growth] round {round_ + 1}, {stored} slots stored: hold p50 {hold['p50']:.1f} ms, "
                        f"availability p50 {avail['p50']:.1f} ms",
                        flush=True,
                    )
            rows = [(stored, _median_run(holds), _median_run(avails)) for stored, (holds, avails) in measured.items()]
        finally:
            for *_, name in built:
                drop(backend, name)
    print()
    print(
        f"growth ({backend}): {args.workers} workers, 1 connection, the median of {REPEATS} runs of 3 s per size, "
        "the sizes measured in turn"
    )
    print(
        f"{'stored slots':>13}{'hold p50':>10}{'hold p99':>10}{'holds/s':>9}{'avail p50':>11}{'avail p99':>11}{'avail/s':>9}"
    )
    for stored, hold, avail in rows:
        print(
            f"{stored:>13}{hold['p50']:>10.1f}{hold['p99']:>10.1f}{hold['per_s']:>9.0f}"
            f"{avail['p50']:>11.1f}{avail['p99']:>11.1f}{avail['per_s']:>9.0f}"
        )
    first, last = rows[0], rows[-1]
    print(
        f"from {first[0]} to {last[0]} slots: hold p50 {last[1]['p50'] / first[1]['p50']:.2f}×, "
        f"availability p50 {last[2]['p50'] / first[2]['p50']:.2f}×"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--slots", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backend", choices=["both", "postgres", "sqlite"], default="both")
    parser.add_argument("--growth", action="store_true")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        step, *rest = args.child
        result = {
            "seed": lambda: child_seed(int(rest[0]), int(rest[1]), rest[2]),
            "reset": lambda: child_reset(int(rest[0])),
            "check": lambda: child_check(int(rest[0])),
            "grow": lambda: child_grow(int(rest[0]), int(rest[1]), int(rest[2]), int(rest[3])),
        }[step]()
        print(json.dumps(result))
        return
    wrk_binary()
    if args.growth:
        growth(args)
    else:
        crowd(args)


if __name__ == "__main__":
    main()
