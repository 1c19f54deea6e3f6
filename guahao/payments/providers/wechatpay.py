"""WeChat Pay API v3 as a provider, on the wechatpayv3 package.

Orders are Native payments: the cashier URL is the ``code_url`` the patient opens or scans in
WeChat. Responses and notifications are verified with the WeChat Pay platform public key (the
"微信支付公钥" mode: no certificate download, nothing fetched to verify); a notification whose
key id is not ours, whose timestamp is more than five minutes off, or whose signature fails is
refused before anything is decrypted.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import time
from typing import Any

import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from guahao.core.metrics import outside_call
from guahao.payments import money
from guahao.payments.interface import Notification, OrderState, ProviderError, RefundState, StatementLine

MAX_SKEW_SECONDS = 300
BEIJING = dt.timezone(dt.timedelta(hours=8))


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _order(data: dict[str, Any]) -> OrderState:
    amount = data.get("amount") or {}
    return OrderState(
        out_trade_no=data["out_trade_no"],
        status=data.get("trade_state", ""),
        amount_fen=int(amount.get("total", 0)),
        transaction_id=data.get("transaction_id") or "",
        paid_at=_time(data.get("success_time")),
    )


def _refund(data: dict[str, Any]) -> RefundState:
    amount = data.get("amount") or {}
    status = data.get("status") or data.get("refund_status") or ""
    return RefundState(
        out_refund_no=data["out_refund_no"],
        out_trade_no=data.get("out_trade_no", ""),
        status="ABNORMAL" if status == "CLOSED" else status,
        amount_fen=int(amount.get("refund", 0)),
        reason="" if status == "SUCCESS" else status,
        finished_at=_time(data.get("success_time")),
    )


class WechatPayProvider:
    name = "wechatpay"
    refunds_listed_on = "sent"
    ack_text: str | None = None

    def __init__(
        self,
        *,
        mch_id: str,
        app_id: str,
        private_key: str,
        cert_serial_no: str,
        apiv3_key: str,
        public_key: str,
        public_key_id: str,
        timeout: float = 10.0,
    ) -> None:
        self.mch_id = mch_id
        self.public_key_id = public_key_id
        self.client = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=mch_id,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=app_id,
            apiv3_key=apiv3_key,
            public_key=public_key,
            public_key_id=public_key_id,
            timeout=(5, timeout),
        )

    @outside_call("payments")
    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        try:
            code, body = fn(*args, **kwargs)
        except requests.Timeout as exc:
            raise ProviderError(f"{what}: timed out", timeout=True) from exc
        except requests.RequestException as exc:
            raise ProviderError(f"{what}: {exc}") from exc
        except Exception as exc:  # the SDK raises bare exceptions, e.g. a response signature that fails
            raise ProviderError(f"{what}: {exc}") from exc
        if code >= 500:
            raise ProviderError(f"{what}: {code}")
        return code, body

    @staticmethod
    def _json(body: Any) -> dict[str, Any]:
        if isinstance(body, bytes):
            body = body.decode()
        return json.loads(body) if body else {}

    def _refuse(self, what: str, code: int, body: Any) -> ProviderError:
        data = self._json(body)
        return ProviderError(f"{what}: {code} {data.get('code')} {data.get('message', '')}".strip(), permanent=True)

    def order_create(self, *, out_trade_no: str, amount_fen: int, description: str, notify_url: str) -> OrderState:
        code, body = self._call(
            "order create",
            self.client.pay,
            description=description[:127],
            out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"},
            notify_url=notify_url,
        )
        if code != 200:
            raise self._refuse("order create", code, body)
        pay_url = self._json(body).get("code_url", "")
        # The same order number again returns the same code_url; ask whether it is paid already.
        state = self.order_query(out_trade_no=out_trade_no)
        status = state.status if state else "NOTPAY"
        return OrderState(
            out_trade_no,
            status,
            amount_fen,
            pay_url,
            state.transaction_id if state else "",
            state.paid_at if state else None,
        )

    def order_query(self, *, out_trade_no: str) -> OrderState | None:
        code, body = self._call("order query", self.client.query, out_trade_no=out_trade_no)
        if code == 404:
            return None
        if code != 200:
            raise self._refuse("order query", code, body)
        return _order(self._json(body))

    def order_close(self, *, out_trade_no: str) -> OrderState:
        code, body = self._call("order close", self.client.close, out_trade_no=out_trade_no)
        state = self.order_query(out_trade_no=out_trade_no)
        if state is None:
            raise ProviderError("order close: no such order", permanent=True)
        if code not in (200, 204) and state.status not in ("SUCCESS", "REFUND", "CLOSED"):
            raise self._refuse("order close", code, body)
        return state

    def refund_create(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, notify_url: str) -> RefundState:
        code, body = self._call(
            "refund",
            self.client.refund,
            out_refund_no=out_refund_no,
            amount={"refund": amount_fen, "total": amount_fen, "currency": "CNY"},
            out_trade_no=out_trade_no,
            notify_url=notify_url,
        )
        if code != 200:
            raise self._refuse("refund", code, body)
        return _refund(self._json(body) | {"out_trade_no": out_trade_no})

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundState | None:
        code, body = self._call("refund query", self.client.query_refund, out_refund_no=out_refund_no)
        if code == 404:
            return None
        if code != 200:
            raise self._refuse("refund query", code, body)
        return _refund(self._json(body))

    def notification_verify(self, *, headers: dict[str, str], body: bytes) -> Notification | None:
        get = {k.lower(): v for k, v in headers.items()}.get
        if get("wechatpay-serial") != self.public_key_id:
            return None  # not signed with our platform key (and never fetch certificates for it)
        try:
            if abs(time.time() - int(get("wechatpay-timestamp") or 0)) > MAX_SKEW_SECONDS:
                return None
            canonical = {
                "Wechatpay-Signature": get("wechatpay-signature") or "",
                "Wechatpay-Timestamp": get("wechatpay-timestamp") or "",
                "Wechatpay-Nonce": get("wechatpay-nonce") or "",
                "Wechatpay-Serial": get("wechatpay-serial") or "",
                "Wechatpay-Signature-Type": get("wechatpay-signature-type") or "",
            }
            data = self.client.callback(canonical, body)
        except Exception:  # noqa: BLE001 - a malformed notification is an unverified one
            return None
        if not data or not isinstance(data.get("resource"), dict):
            return None
        resource = data["resource"]
        event = str(data.get("event_type", ""))
        return Notification(
            id=str(data.get("id", "")),
            event_type=event,
            mch_id=str(resource.get("mchid", "")),
            order=_order(resource) if event.startswith("TRANSACTION.") else None,
            refund=_refund(resource) if event.startswith("REFUND.") else None,
        )

    def statement(self, *, day: dt.date) -> list[StatementLine]:
        code, body = self._call("statement", self.client.trade_bill, bill_date=day.isoformat(), bill_type="ALL")
        if code != 200:
            raise ProviderError(f"statement {day}: {code}")
        url = self._json(body)["download_url"]
        code, content = self._call("statement download", self.client.download_bill, url)
        if code != 200:
            raise ProviderError(f"statement {day} download: {code}")
        return parse_trade_bill(gzip.decompress(content).decode("utf-8-sig"))


def parse_trade_bill(text: str) -> list[StatementLine]:
    """WeChat Pay's ALL trade bill: a header row, detail rows (each field after a backtick),
    then a summary header and row. Payments are ``SUCCESS`` rows; refunds are ``REFUND`` rows,
    listed on the day they were sent, with the refund status of that moment."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    lines = []
    for row in rows[1:]:
        if not row or not row[0].startswith("`"):
            break  # the summary begins
        value = dict(zip(header, (field.strip().lstrip("`") for field in row), strict=False))
        at = dt.datetime.strptime(value["交易时间"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        if value["交易状态"] == "REFUND":
            amount = value.get("退款金额") or value.get("申请退款金额") or "0"
            lines.append(
                StatementLine(
                    "refund", value["商户订单号"], value["商户退款单号"], money.fen(amount), value["退款状态"], at
                )
            )
        elif value["交易状态"] == "SUCCESS":
            amount = value.get("订单金额") or value.get("应结订单金额") or "0"
            lines.append(StatementLine("payment", value["商户订单号"], "", money.fen(amount), "SUCCESS", at))
    return lines
