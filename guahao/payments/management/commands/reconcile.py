"""``guahao manage reconcile [--day YYYY-MM-DD] [--provider NAME] [--csv FILE]``

Without --day: every recent day still due (as the hourly job does). With --day: that day again,
replacing its earlier result. Prints one line per day and provider, and each difference.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guahao.payments import reconciliation
from guahao.payments.models import ReconciliationDifference
from guahao.payments.providers import registry


class Command(BaseCommand):
    help = "Compare payment providers' daily statements with the ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", type=dt.date.fromisoformat, help="the day to reconcile (again)")
        parser.add_argument("--provider", default=None, help="default: every configured provider")
        parser.add_argument("--csv", type=Path, help="also write the differences to this CSV file")

    def handle(self, *args: Any, day: dt.date | None, provider: str | None, csv: Path | None, **options: Any) -> None:
        try:
            if day is None:
                runs = reconciliation.reconcile_due()
            else:
                names = [provider] if provider else registry.configured()
                runs = [reconciliation.reconcile(provider_name=name, day=day) for name in names]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        rows = ReconciliationDifference.objects.filter(run__in=runs).select_related("run", "hospital")
        for run in runs:
            self.stdout.write(
                f"{run.day} {run.provider}: {run.status} · statement {run.their_lines} lines, "
                f"ledger {run.our_lines} · {run.difference_count} differences {run.error}".rstrip()
            )
        for d in rows:
            self.stdout.write(f"  {d.kind} {d.entry} {d.out_refund_no or d.out_trade_no}")
        if csv is not None:
            csv.write_text(reconciliation.differences_csv(rows), encoding="utf-8")
        if any(run.status == "failed" for run in runs):
            raise CommandError("a statement could not be fetched")
