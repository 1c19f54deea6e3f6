"""Who gets the slots of a release: people or scripts — a release simulated through the real
booking services, on a fresh embedded database, with simulated time.

    .venv/bin/python bench/fairness.py [--humans 1000] [--bots 50] [--slots 100] [--seed 7]

The department has two clinics of one day (A with ``--slots`` online slots, B with half as many),
released at 07:00. **Humans** (one patient each) press "book" a few seconds after the release
(some sooner, most within a minute), on A mostly (80 %), and if refused try the other clinic
once, then give up. **Bots** are 20 × faster: their accounts (ten per device, one patient each)
fire 50-250 ms after the release and try again every quarter second, on A then B, for two
minutes. Every attempt goes through the same services the API calls (``booking.hold_create``;
in a lottery's window ``waitlist.lottery_enter``, and its draw at the end).

Three releases, each with and without the bots:
- **race**: whoever asks first (the hold path with its gate and the 30-a-minute limit);
- **lottery**: the first 60 s after the release are a recorded draw (``lottery_seconds``);
- **risk**: suspected scripts refused (``risk_action=refuse``: three accounts from one device,
  three attempts in ten minutes);
- **both**: the lottery, and suspected scripts kept out of its draw.

Printed: the share of the slots each group ended with, and the humans' success rate against the
same release without bots. The targets (issue 14): bots, 5 % of the accounts, end with at most
5 % of the slots; the humans' success stays within 5 % of a bot-free release.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import os
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(order=True)
class Attempt:
    at: dt.datetime
    seq: int
    who: int = field(compare=False)
    tries_left: int = field(compare=False)
    clinic: int = field(compare=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--humans", type=int, default=1000)
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--slots", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["GUAHAO_DATA_DIR"] = tempfile.mkdtemp(prefix="guahao-fairness-")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["GUAHAO_LOG_LEVEL"] = "ERROR"
    os.environ["GUAHAO_OUTBOX_KICK"] = "off"
    os.environ["DJANGO_SETTINGS_MODULE"] = "guahao.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rows = []
    for release in ("race", "lottery", "risk", "both"):
        clean = simulate(release, args, with_bots=False)
        crowded = simulate(release, args, with_bots=True)
        rows.append((release, clean, crowded))
        print(f"[{release}] done", flush=True)

    print()
    print(
        f"fairness: {args.humans} humans, {args.bots} bot accounts ({args.bots / (args.humans + args.bots):.0%} of "
        f"the accounts, {max(1, args.bots // 10)} devices), {args.slots} + {args.slots // 2} slots, seed {args.seed}"
    )
    print(f"{'release':<9}{'bots take':>11}{'humans take':>13}{'human success':>15}{'without bots':>14}{'ratio':>8}")
    for release, clean, crowded in rows:
        total = max(1, crowded["human_slots"] + crowded["bot_slots"])
        ratio = crowded["human_rate"] / clean["human_rate"] if clean["human_rate"] else 0
        print(
            f"{release:<9}{crowded['bot_slots'] / total:>11.1%}{crowded['human_slots'] / total:>13.1%}"
            f"{crowded['human_rate']:>15.1%}{clean['human_rate']:>14.1%}{ratio:>8.2f}"
        )
    print("targets: bots take <= 5 % of the slots; human success >= 0.95 of the bot-free release")


def simulate(release: str, args: argparse.Namespace, *, with_bots: bool) -> dict:
    from django.core.management import call_command

    from guahao.accounts.models import Account, Patient
    from guahao.booking import errors as booking_errors
    from guahao.booking import risk
    from guahao.booking import services as booking
    from guahao.booking.models import Hold, Registration
    from guahao.core import cache as core_cache
    from guahao.core import clock
    from guahao.core.problems import Problem
    from guahao.scheduling import facts
    from guahao.waitlist import services as waitlist
    from tests import factories as f

    call_command("flush", interactive=False, verbosity=0)
    from django.core.cache import cache

    cache.clear()
    facts.reset()
    core_cache.counts_reset()
    from guahao.booking import gate

    gate.reset()
    rng = random.Random(args.seed)
    tz = f.TZ
    visit = f.today() + dt.timedelta(days=3)
    release_at = clock.at_local(visit - dt.timedelta(days=3), dt.time(7, 0), tz)
    rules: dict = {"release_time": dt.time(7, 0), "days_ahead": 3, "max_per_account_hospital_day": 1}
    if release in ("lottery", "both"):
        rules |= {"lottery_seconds": 60}
    if release in ("risk", "both"):
        rules |= {"risk_action": "refuse", "risk_accounts_per_client": 3, "risk_holds_10min": 3}
    with clock.travel(release_at - dt.timedelta(days=1)):
        h = f.hospital(**rules)
        dep = f.department(h)
        per_period = max(1, args.slots // 4)
        clinics = [
            f.schedule(dep, f.doctor(dep, "名医甲"), day=visit, end=dt.time(10, 0), slots_per_period=per_period // 1),
            f.schedule(
                dep, f.doctor(dep, "名医乙"), day=visit, end=dt.time(10, 0), slots_per_period=max(1, per_period // 2)
            ),
        ]
        humans = [f.account() for _ in range(args.humans)]
        bots = [f.account() for _ in range(args.bots)] if with_bots else []
        patients = {a.pk: f.patient(a, relation="self") for a in humans + bots}
    bot_ids = {a.pk for a in bots}
    queue: list[Attempt] = []
    seq = 0
    for a in humans:
        seq += 1
        think = dt.timedelta(seconds=min(300.0, rng.lognormvariate(1.6, 0.8)))  # mostly 2-15 s
        heapq.heappush(queue, Attempt(release_at + think, seq, a.pk, 1, 0 if rng.random() < 0.8 else 1))
    for a in bots:
        seq += 1
        heapq.heappush(queue, Attempt(release_at + dt.timedelta(seconds=rng.uniform(0.05, 0.25)), seq, a.pk, 480, 0))
    accounts = {a.pk: a for a in humans + bots}
    won: set[int] = set()
    draw_at = release_at + dt.timedelta(seconds=61)
    drawn = release not in ("lottery", "both")
    while queue:
        attempt = heapq.heappop(queue)
        if not drawn and attempt.at >= draw_at:
            with clock.travel(draw_at):
                for clinic in clinics:
                    waitlist.lottery_draw(schedule_id=clinic.pk)
            drawn = True
        if attempt.who in won:
            continue
        account = accounts[attempt.who]
        patient = patients[attempt.who]
        is_bot = attempt.who in bot_ids
        device = f"bot-farm-{(attempt.who % max(1, len(bots) // 10))}" if is_bot else f"phone-{attempt.who}"
        clinic = clinics[attempt.clinic]
        outcome = "refused"
        with clock.travel(attempt.at):
            try:
                booking.hold_create(
                    account=account, patient=patient, schedule=clinic, client=risk.Client(device=device)
                )
                outcome = "held"
            except Problem as problem:
                if problem.code == booking_errors.LOTTERY_OPEN.code:
                    try:
                        waitlist.lottery_enter(
                            account=account, patient=patient, schedule=clinic, client=risk.Client(device=device)
                        )
                        outcome = "ticket"
                    except Problem:
                        outcome = "refused"
        if outcome == "held":
            won.add(attempt.who)
            continue
        if outcome == "ticket":
            continue  # the draw decides
        if attempt.tries_left > 0:
            seq += 1
            if is_bot:  # again in a quarter second, on the other clinic now and then
                nxt = attempt.at + dt.timedelta(seconds=0.25)
                heapq.heappush(queue, Attempt(nxt, seq, attempt.who, attempt.tries_left - 1, seq % 2))
            else:  # a person tries the other clinic once, a few seconds later
                nxt = attempt.at + dt.timedelta(seconds=rng.uniform(3, 10))
                heapq.heappush(queue, Attempt(nxt, seq, attempt.who, 0, 1 - attempt.clinic))
    if not drawn:
        with clock.travel(draw_at):
            for clinic in clinics:
                waitlist.lottery_draw(schedule_id=clinic.pk)
    holders = set(Hold.objects.filter(schedule__in=clinics).values_list("account_id", flat=True))
    holders |= set(Registration.objects.filter(schedule__in=clinics).values_list("account_id", flat=True))
    bot_slots = len(holders & bot_ids)
    human_slots = len(holders - bot_ids)
    _ = Account, Patient
    return {
        "bot_slots": bot_slots,
        "human_slots": human_slots,
        "human_rate": human_slots / max(1, len(humans)),
    }


if __name__ == "__main__":
    main()
