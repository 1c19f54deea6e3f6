"""What Guahao needs from a payment provider, whoever it is (sandbox, WeChat Pay, Alipay)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


class ProviderError(Exception):
    """The provider failed or did not answer. ``timeout``: it may have done it anyway."""

    def __init__(self, message: str, *, timeout: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.permanent = permanent


@dataclass(frozen=True)
class OrderState:
    out_trade_no: str
    status: str  # NOTPAY, SUCCESS, CLOSED, PAYERROR, REFUND
    amount_fen: int
    pay_url: str = ""
    transaction_id: str = ""
    paid_at: dt.datetime | None = None


@dataclass(frozen=True)
class RefundState:
    out_refund_no: str
    out_trade_no: str
    status: str  # PROCESSING, SUCCESS, ABNORMAL
    amount_fen: int
    reason: str = ""
    finished_at: dt.datetime | None = None


@dataclass(frozen=True)
class Notification:
    """A verified asynchronous notification: one payment or one refund outcome."""

    id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL
    mch_id: str
    order: OrderState | None = None
    refund: RefundState | None = None


@dataclass(frozen=True)
class StatementLine:
    kind: str  # payment, refund
    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    status: str
    at: dt.datetime


class PaymentProvider(Protocol):
    name: str
    mch_id: str
    # The day a refund appears on the statement: when it was sent ("sent", WeChat Pay) or when it
    # succeeded ("finished", the sandbox and Alipay).
    refunds_listed_on: str
    # What to answer a notification with, if the provider wants plain text (Alipay: "success").
    ack_text: str | None

    def order_create(self, *, out_trade_no: str, amount_fen: int, description: str, notify_url: str) -> OrderState: ...

    def order_query(self, *, out_trade_no: str) -> OrderState | None: ...

    def order_close(self, *, out_trade_no: str) -> OrderState: ...

    def refund_create(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, notify_url: str
    ) -> RefundState: ...

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundState | None: ...

    def notification_verify(self, *, headers: dict[str, str], body: bytes) -> Notification | None:
        """The notification if its signature is the provider's, else None."""
        ...

    def statement(self, *, day: dt.date) -> list[StatementLine]: ...
