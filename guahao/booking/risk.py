"""Scripts get no more than people (seeds 002, 003): a request for a slot that looks like a
script's is scored, recorded with its reasons, and refused or sent to a draw, as the hospital's
rules say (``risk_action``).

The signals, each a rule with its threshold (``risk_*`` in the rules):
- ``holds``: the account's attempts at slots within 10 minutes;
- ``departments``: the departments the account tried within an hour;
- ``client``: the accounts seen from one address or device within 10 minutes;
- ``new_patient``: a patient added just before the clinic's release.

They are counted in the cache (one round trip with Redis; each process its own in the embedded
default): a lost count lets a few more requests through, it never refuses a patient wrongly
beyond the window. The database keeps the rules that matter for correctness (the limits).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from guahao.accounts.models import Account, Patient
from guahao.booking.models import RiskDecision
from guahao.core import cache as counts
from guahao.core import clock
from guahao.scheduling.models import RiskAction, Schedule
from guahao.scheduling.rules import Rules, release_at


@dataclass(frozen=True)
class Client:
    """Where a request comes from: the address, and the device the app names (if any)."""

    address: str = ""
    device: str = ""

    @property
    def label(self) -> str:
        return self.device or self.address


NOBODY = Client()


def suspicions(
    *, account: Account, patient_id: int | None, schedule: Schedule, rules: Rules, client: Client, asked: str
) -> tuple[list[str], str]:
    """The reasons a request looks like a script's ([] when none) and what to do: "" (nothing),
    "refused" or "draw". A suspected request is recorded."""
    if rules.risk_action == RiskAction.OFF:
        return [], ""
    entries = [
        (f"risk:holds:{account.pk}", "", 600),
        (f"risk:departments:{account.pk}", str(schedule.department_id), 3600),
    ]
    if client.label:
        entries.append((f"risk:client:{client.label}", str(account.pk), 600))
    found = counts.counts_add(entries)
    reasons = []
    if found[0] >= rules.risk_holds_10min:
        reasons.append("holds")
    if found[1] >= rules.risk_departments_hour:
        reasons.append("departments")
    if client.label and found[2] >= rules.risk_accounts_per_client:
        reasons.append("client")
    if rules.risk_new_patient_minutes and patient_id is not None:
        added = Patient.objects.filter(pk=patient_id, account=account).values_list("created_at", flat=True).first()
        opens = release_at(schedule, rules)
        if added is not None and opens - dt.timedelta(minutes=rules.risk_new_patient_minutes) <= added <= opens:
            reasons.append("new_patient")
    if not reasons:
        return [], ""
    action = "draw" if rules.risk_action == RiskAction.DRAW else "refused"
    RiskDecision.objects.create(
        at=clock.now(),
        hospital_id=schedule.hospital_id,
        schedule=schedule,
        account=account,
        patient_id=patient_id,
        asked=asked,
        reasons=reasons,
        action=action,
        client=client.label[:100],
    )
    return reasons, action
