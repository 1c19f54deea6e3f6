"""The payment sandbox (``guahao paysim``) as a provider, over its signed HTTP interface."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from guahao.core.metrics import outside_call
from guahao.payments import money
from guahao.payments.interface import Notification, OrderState, ProviderError, RefundState, StatementLine
from guahao.payments.sandbox import signing


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _order(data: dict) -> OrderState:
    return OrderState(
        out_trade_no=data["out_trade_no"],
        status=data["status"],
        amount_fen=int(data["amount_fen"]),
        pay_url=data.get("pay_url") or "",
        transaction_id=data.get("transaction_id") or "",
        paid_at=_time(data.get("success_time")),
    )


def _refund(data: dict) -> RefundState:
    return RefundState(
        out_refund_no=data["out_refund_no"],
        out_trade_no=data["out_trade_no"],
        status=data["status"],
        amount_fen=int(data["amount_fen"]),
        reason=data.get("reason") or "",
        finished_at=_time(data.get("success_time")),
    )


class SandboxProvider:
    name = "sandbox"
    refunds_listed_on = "finished"
    ack_text: str | None = None

    def __init__(self, *, base_url: str, mch_id: str, key: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.mch_id = mch_id
        self.key = key
        self.timeout = timeout

    @outside_call("payments")
    def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        data = json.dumps(body) if body is not None else ""
        full = urlsplit(self.base_url + path)
        auth = signing.request_authorization(mch_id=self.mch_id, key=self.key, method=method, path=full.path, body=data)
        request = urllib.request.Request(  # noqa: S310 - the configured provider URL
            self.base_url + path,
            data=data.encode() if body is not None else None,
            headers={"Authorization": auth, "Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise ProviderError(f"{method} {path}: {exc.code}") from exc
            return exc.code, exc.read().decode()
        except TimeoutError as exc:
            raise ProviderError(f"{method} {path}: timed out", timeout=True) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ProviderError(f"{method} {path}: {exc}") from exc

    def _json(self, method: str, path: str, body: dict | None = None, *, ok: tuple[int, ...] = (200,)) -> dict | None:
        status, text = self._call(method, path, body)
        if status == 404:
            return None
        data = json.loads(text or "{}")
        if status not in ok:
            raise ProviderError(f"{method} {path}: {status} {data.get('code')}", permanent=True)
        return data

    def order_create(self, *, out_trade_no: str, amount_fen: int, description: str, notify_url: str) -> OrderState:
        body = {
            "out_trade_no": out_trade_no,
            "amount_fen": amount_fen,
            "description": description,
            "notify_url": notify_url,
        }
        data = self._json("POST", "/v3/orders", body)
        if data is None:
            raise ProviderError("order create: 404", permanent=True)
        return _order(data)

    def order_query(self, *, out_trade_no: str) -> OrderState | None:
        data = self._json("GET", f"/v3/orders/{out_trade_no}")
        return None if data is None else _order(data)

    def order_close(self, *, out_trade_no: str) -> OrderState:
        data = self._json("POST", f"/v3/orders/{out_trade_no}/close", {}, ok=(200, 409))
        if data is None:
            raise ProviderError("order close: no such order", permanent=True)
        return _order(data)

    def refund_create(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, notify_url: str) -> RefundState:
        body = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "amount_fen": amount_fen,
            "notify_url": notify_url,
        }
        data = self._json("POST", "/v3/refunds", body)
        if data is None:
            raise ProviderError("refund: no such order", permanent=True)
        return _refund(data)

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundState | None:
        data = self._json("GET", f"/v3/refunds/{out_refund_no}")
        return None if data is None else _refund(data)

    def notification_verify(self, *, headers: dict[str, str], body: bytes) -> Notification | None:
        text = body.decode(errors="replace")
        if not signing.notification_valid(key=self.key, headers=headers, body=text):
            return None
        data = json.loads(text)
        resource = data.get("resource") or {}
        event = str(data.get("event_type", ""))
        return Notification(
            id=str(data["id"]),
            event_type=event,
            mch_id=str(resource.get("mch_id", "")),
            order=_order(resource) if event.startswith("TRANSACTION.") else None,
            refund=_refund(resource) if event.startswith("REFUND.") else None,
        )

    def statement(self, *, day: dt.date) -> list[StatementLine]:
        status, text = self._call("GET", f"/v3/bills?date={day.isoformat()}")
        if status != 200:
            raise ProviderError(f"statement {day}: {status}")
        return [
            StatementLine(
                kind=row["type"],
                out_trade_no=row["out_trade_no"],
                out_refund_no=row["out_refund_no"],
                amount_fen=money.fen(row["amount_yuan"]),
                status=row["status"],
                at=dt.datetime.fromisoformat(row["time"]),
            )
            for row in csv.DictReader(io.StringIO(text))
        ]
