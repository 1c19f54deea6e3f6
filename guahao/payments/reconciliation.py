"""Daily reconciliation: each provider's statement of a day against our payments and refunds.

A statement line is matched with our row by its number (order or refund), whatever day we
recorded it on; our rows of the day that no line matches are reported as missing at the
provider. Re-running a day replaces that day's result, so it can be run as often as wanted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from guahao.core import clock
from guahao.core.audit import audit_record
from guahao.core.spreadsheet import csv_text
from guahao.payments import errors, locks, money
from guahao.payments.interface import PaymentProvider, ProviderError, StatementLine
from guahao.payments.models import (
    DifferenceKind,
    Payment,
    PaymentStatus,
    ReconciliationDifference,
    ReconciliationRun,
    Refund,
    RefundStatus,
    RunStatus,
)
from guahao.payments.providers import registry
from guahao.payments.providers.registry import provider_named

log = logging.getLogger(__name__)

# Statements of a day are complete by this local time of the next day (WeChat Pay: 10:00).
STATEMENT_READY = dt.time(10, 0)
# Days without a result (or whose statement could not be fetched) are tried again this far back.
CATCH_UP_DAYS = 7


def _day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Providers cut their statements at midnight in China Standard Time, as we do."""
    start = clock.at_local(day, dt.time(0), settings.TIME_ZONE)
    return start, clock.at_local(day + dt.timedelta(days=1), dt.time(0), settings.TIME_ZONE)


def _ours(provider: PaymentProvider, day: dt.date) -> tuple[QuerySet[Payment], QuerySet[Refund]]:
    """Our payments of the day, and our refunds listed on the day's statement: by the day they
    succeeded, or (WeChat Pay) by the day they were sent, whatever became of them since."""
    start, end = _day_range(day)
    payments = Payment.objects.filter(
        provider=provider.name, status=PaymentStatus.PAID, paid_at__gte=start, paid_at__lt=end
    ).order_by("pk")
    refunds = Refund.objects.filter(payment__provider=provider.name)
    if provider.refunds_listed_on == "sent":
        refunds = refunds.filter(sent_at__gte=start, sent_at__lt=end).exclude(status=RefundStatus.FAILED)
    else:
        refunds = refunds.filter(status=RefundStatus.SUCCEEDED, finished_at__gte=start, finished_at__lt=end)
    return payments, refunds.select_related("payment").order_by("pk")


def _compare(provider: PaymentProvider, day: dt.date, lines: list[StatementLine]) -> list[ReconciliationDifference]:
    day_payments, day_refunds = _ours(provider, day)
    payment_numbers = {line.out_trade_no for line in lines if line.kind == "payment"}
    refund_numbers = {line.out_refund_no for line in lines if line.kind == "refund"}
    payments = {
        p.out_trade_no: p for p in Payment.objects.filter(provider=provider.name, out_trade_no__in=payment_numbers)
    }
    refunds = {
        r.out_refund_no: r
        for r in Refund.objects.filter(
            payment__provider=provider.name, out_refund_no__in=refund_numbers
        ).select_related("payment")
    }
    found: list[ReconciliationDifference] = []
    matched_payments: set[int] = set()
    matched_refunds: set[int] = set()

    def differ(kind: str, line: StatementLine | None, ours: Payment | Refund | None) -> None:
        payment = ours.payment if isinstance(ours, Refund) else ours
        found.append(
            ReconciliationDifference(
                kind=kind,
                entry=line.kind if line else ("refund" if isinstance(ours, Refund) else "payment"),
                out_trade_no=line.out_trade_no if line else payment.out_trade_no if payment else "",
                out_refund_no=(line.out_refund_no if line else ours.out_refund_no if isinstance(ours, Refund) else ""),
                our_amount_fen=ours.amount_fen if ours else None,
                their_amount_fen=line.amount_fen if line else None,
                our_status=ours.status if ours else "",
                their_status=line.status if line else "",
                at=line.at if line else getattr(ours, "paid_at", None) or getattr(ours, "finished_at", None),
                hospital_id=payment.hospital_id if payment else None,
                payment=payment,
                refund=ours if isinstance(ours, Refund) else None,
            )
        )

    for line in lines:
        ours: Payment | Refund | None
        if line.kind == "refund":
            ours, seen = refunds.get(line.out_refund_no), matched_refunds
            # A statement lists a refund once; one still "processing" there may have ended either way.
            status_ok = ours is None or ours.status == RefundStatus.SUCCEEDED or line.status != "SUCCESS"
        else:
            ours, seen = payments.get(line.out_trade_no), matched_payments
            status_ok = ours is None or ours.status == PaymentStatus.PAID
        if ours is None or ours.pk in seen:  # unknown here, or a second line for one of ours
            differ(DifferenceKind.MISSING_HERE, line, None)
            continue
        seen.add(ours.pk)
        if not status_ok:
            differ(DifferenceKind.STATUS, line, ours)
        if ours.amount_fen != line.amount_fen:
            differ(DifferenceKind.AMOUNT, line, ours)
    for payment in day_payments:
        if payment.pk not in matched_payments:
            differ(DifferenceKind.MISSING_THERE, None, payment)
    for refund in day_refunds:
        if refund.pk not in matched_refunds:
            differ(DifferenceKind.MISSING_THERE, None, refund)
    return found


def reconcile(*, provider_name: str, day: dt.date) -> ReconciliationRun:
    """Fetch the provider's statement of ``day`` and compare it with our ledger; replaces the
    day's earlier result. If the statement cannot be fetched, an earlier result is kept."""
    provider = provider_named(provider_name)
    if provider is None:
        raise ValueError(f"unknown payment provider {provider_name!r}")
    try:
        lines: list[StatementLine] | None = provider.statement(day=day)
        error = ""
    except ProviderError as exc:
        lines, error = None, str(exc)[:200]
        log.warning("reconciliation %s %s: statement not available: %s", provider_name, day, exc)
    with transaction.atomic():
        run, created = locks.lock_reconciliation(provider=provider_name, day=day)
        run.ran_at = clock.now()
        run.runs += 1
        run.error = error
        if lines is None:
            if created or run.status == RunStatus.FAILED:
                run.status = RunStatus.FAILED
            run.save()
            return run
        differences = _compare(provider, day, lines)
        payments, refunds = _ours(provider, day)
        handled = {_same(d): d for d in run.differences.filter(handled_at__isnull=False)}
        run.differences.all().delete()
        for difference in differences:
            difference.run = run
            earlier = handled.get(_same(difference))
            if earlier is not None:  # still there: finance's word on it stays
                difference.handled_at, difference.handled_by = earlier.handled_at, earlier.handled_by
                difference.note = earlier.note
        ReconciliationDifference.objects.bulk_create(differences)
        run.status = RunStatus.DIFFERENCES if differences else RunStatus.MATCHED
        run.their_lines = len(lines)
        run.their_paid_fen = sum(line.amount_fen for line in lines if line.kind == "payment")
        run.their_refunded_fen = sum(line.amount_fen for line in lines if line.kind == "refund")
        run.our_lines = len(payments) + len(refunds)
        run.our_paid_fen = sum(p.amount_fen for p in payments)
        run.our_refunded_fen = sum(r.amount_fen for r in refunds)
        run.difference_count = len(differences)
        run.save()
    if differences:
        log.warning("reconciliation %s %s: %d differences", provider_name, day, len(differences))
    return run


def _same(d: ReconciliationDifference) -> tuple[str, str, str, str]:
    """What makes a difference found again the same one."""
    return d.kind, d.entry, d.out_trade_no, d.out_refund_no


def difference_handle(*, difference: ReconciliationDifference, actor: str, note: str) -> ReconciliationDifference:
    """Finance marks a difference handled, saying what was done (required); once, audited."""
    note = " ".join(note.split())[:300]
    if not note:
        raise errors.DIFFERENCE_NOTE_REQUIRED.error(field="note")
    now = clock.now()
    with transaction.atomic():
        if not ReconciliationDifference.objects.filter(pk=difference.pk, handled_at__isnull=True).update(
            handled_at=now, handled_by=actor, note=note
        ):
            raise errors.DIFFERENCE_HANDLED.error()
        difference.refresh_from_db()
        audit_record(
            actor=actor,
            action="reconciliation.handled",
            target_type="reconciliationdifference",
            target_id=difference.pk,
            target=str(difference),
            hospital_id=difference.hospital_id,
            before={"handled": False},
            after={"handled": True},
            reason=note,
        )
    return difference


def _providers(since: dt.date) -> list[str]:
    start, _ = _day_range(since)
    recent = Payment.objects.filter(created_at__gte=start - dt.timedelta(days=1)).order_by()
    names = {*registry.configured(), *recent.values_list("provider", flat=True).distinct()}
    return sorted(name for name in names if provider_named(name) is not None)


def reconcile_due() -> list[ReconciliationRun]:
    """Reconcile every recent day that has no result yet or whose statement could not be
    fetched; yesterday once its statement is ready. The periodic job calls this hourly."""
    local = clock.local_now(settings.TIME_ZONE)
    last = local.date() - dt.timedelta(days=1 if local.time() >= STATEMENT_READY else 2)
    first = local.date() - dt.timedelta(days=CATCH_UP_DAYS)
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    done = {
        (run.provider, run.day)
        for run in ReconciliationRun.objects.filter(day__gte=first).exclude(status=RunStatus.FAILED)
    }
    return [
        reconcile(provider_name=name, day=day) for name in _providers(first) for day in days if (name, day) not in done
    ]


CSV_HEADER = [
    "day",
    "provider",
    "difference",
    "entry",
    "out_trade_no",
    "out_refund_no",
    "our_amount_yuan",
    "their_amount_yuan",
    "our_status",
    "their_status",
    "time",
    "hospital",
]


def _yuan(fen: int | None) -> str:
    return "" if fen is None else money.yuan(fen)


def differences_csv(differences: Iterable[ReconciliationDifference]) -> str:
    """The differences as CSV for staff (amounts in yuan, like the statements)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for d in differences:
        row = [
            d.run.day.isoformat(),
            d.run.provider,
            d.kind,
            d.entry,
            d.out_trade_no,
            d.out_refund_no,
            _yuan(d.our_amount_fen),
            _yuan(d.their_amount_fen),
            d.our_status,
            d.their_status,
            d.at.astimezone(ZoneInfo(settings.TIME_ZONE)).isoformat() if d.at else "",
            d.hospital.name if d.hospital else "",
        ]
        writer.writerow([csv_text(str(c or "")) for c in row])  # a statement's text is the provider's
    return out.getvalue()
