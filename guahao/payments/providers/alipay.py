"""Alipay (open platform, RSA2) as a provider, on the python-alipay-sdk package.

Orders are mobile-web payments (``alipay.trade.wap.pay``): the cashier URL is signed here and
the trade exists at Alipay once the patient opens it, so a query before that finds nothing.
Refunds answer at once (Alipay refunds synchronously); asynchronous notifications are form
posts signed with Alipay's public key, answered with the text ``success``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import urllib.request
import zipfile
from typing import Any
from urllib.parse import parse_qsl

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from guahao.core.metrics import outside_call
from guahao.payments import money
from guahao.payments.interface import Notification, OrderState, ProviderError, RefundState, StatementLine

BEIJING = dt.timezone(dt.timedelta(hours=8))
NOT_FOUND = {"ACQ.TRADE_NOT_EXIST"}
PAID = {"TRADE_SUCCESS", "TRADE_FINISHED"}


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING) if value else None


class AlipayProvider:
    name = "alipay"
    refunds_listed_on = "finished"
    ack_text: str | None = "success"

    def __init__(
        self,
        *,
        app_id: str,
        app_private_key: str,
        alipay_public_key: str,
        sandbox: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.mch_id = app_id
        self.client = AliPay(
            appid=app_id,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
            debug=sandbox,
            config=AliPayConfig(timeout=timeout),
        )

    @outside_call("payments")
    def _call(self, what: str, fn: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            result = fn(**kwargs)
        except TimeoutError as exc:
            raise ProviderError(f"{what}: timed out", timeout=True) from exc
        except AliPayValidationError as exc:
            raise ProviderError(f"{what}: the answer's signature is not Alipay's") from exc
        except AliPayException as exc:
            raise ProviderError(f"{what}: {exc}") from exc
        except OSError as exc:
            raise ProviderError(f"{what}: {exc}") from exc
        if result.get("code") not in ("10000", None) and result.get("sub_code") not in NOT_FOUND:
            permanent = str(result.get("code")) == "40004"  # a business refusal, not an outage
            message = f"{what}: {result.get('sub_code')} {result.get('sub_msg', '')}".strip()
            raise ProviderError(message, permanent=permanent)
        return result

    def order_create(self, *, out_trade_no: str, amount_fen: int, description: str, notify_url: str) -> OrderState:
        signed = self.client.api_alipay_trade_wap_pay(
            subject=description[:256],
            out_trade_no=out_trade_no,
            total_amount=money.yuan(amount_fen),
            notify_url=notify_url,
        )
        return OrderState(out_trade_no, "NOTPAY", amount_fen, f"{self.client._gateway}?{signed}")

    def order_query(self, *, out_trade_no: str) -> OrderState | None:
        result = self._call("order query", self.client.api_alipay_trade_query, out_trade_no=out_trade_no)
        if result.get("sub_code") in NOT_FOUND:
            return None
        status = str(result.get("trade_status", ""))
        paid_at = _time(result.get("send_pay_date"))
        if status in PAID:
            mapped = "SUCCESS"
        elif status == "TRADE_CLOSED":
            mapped = "REFUND" if paid_at else "CLOSED"  # Alipay closes a trade once fully refunded
        else:
            mapped = "NOTPAY"
        return OrderState(
            out_trade_no,
            mapped,
            money.fen(str(result.get("total_amount", "0"))),
            "",
            result.get("trade_no", ""),
            paid_at,
        )

    def order_close(self, *, out_trade_no: str) -> OrderState:
        self._call("order close", self.client.api_alipay_trade_close, out_trade_no=out_trade_no)
        state = self.order_query(out_trade_no=out_trade_no)
        if state is None:
            raise ProviderError("order close: no such order", permanent=True)
        return state

    def refund_create(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, notify_url: str) -> RefundState:
        self._call(
            "refund",
            self.client.api_alipay_trade_refund,
            refund_amount=money.yuan(amount_fen),
            out_trade_no=out_trade_no,
            out_request_no=out_refund_no,
        )
        state = self.refund_query(out_trade_no=out_trade_no, out_refund_no=out_refund_no)
        return state or RefundState(out_refund_no, out_trade_no, "PROCESSING", amount_fen)

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundState | None:
        result = self._call(
            "refund query",
            self.client.api_alipay_trade_fastpay_refund_query,
            out_request_no=out_refund_no,
            out_trade_no=out_trade_no,
        )
        if result.get("sub_code") in NOT_FOUND or not result.get("refund_amount"):
            return None
        done = result.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS"
        return RefundState(
            out_refund_no,
            out_trade_no,
            "SUCCESS" if done else "PROCESSING",
            money.fen(str(result["refund_amount"])),
            finished_at=_time(result.get("gmt_refund_pay")),
        )

    def notification_verify(self, *, headers: dict[str, str], body: bytes) -> Notification | None:
        data = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        signature = data.pop("sign", "")
        if not signature or data.get("sign_type", "RSA2") != "RSA2":
            return None
        try:
            if not self.client.verify(dict(data), signature):
                return None
        except (AliPayException, ValueError):
            return None
        data.pop("sign_type", None)
        out_trade_no = data.get("out_trade_no", "")
        if data.get("out_biz_no") and data.get("refund_fee"):  # a refund of the trade
            refund = RefundState(
                data["out_biz_no"],
                out_trade_no,
                "SUCCESS",
                money.fen(data["refund_fee"]),
                finished_at=_time(data.get("gmt_refund")),
            )
            return Notification(data.get("notify_id", ""), "REFUND.SUCCESS", data.get("app_id", ""), refund=refund)
        status = data.get("trade_status", "")
        order = OrderState(
            out_trade_no,
            "SUCCESS" if status in PAID else status,
            money.fen(data.get("total_amount", "0")),
            transaction_id=data.get("trade_no", ""),
            paid_at=_time(data.get("gmt_payment")),
        )
        event = "TRANSACTION.SUCCESS" if status in PAID else f"TRANSACTION.{status}"
        return Notification(data.get("notify_id", ""), event, data.get("app_id", ""), order=order)

    def statement(self, *, day: dt.date) -> list[StatementLine]:
        result = self._call(
            "statement",
            self.client.server_api,
            api_name="alipay.data.dataservice.bill.downloadurl.query",
            biz_content={"bill_type": "trade", "bill_date": day.isoformat()},
        )
        url = result.get("bill_download_url")
        if not url:
            raise ProviderError(f"statement {day}: {result.get('sub_code') or 'no bill'}")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - Alipay's bill URL
                archive = response.read()
        except OSError as exc:
            raise ProviderError(f"statement {day} download: {exc}") from exc
        return parse_trade_bill(archive)


def parse_trade_bill(archive: bytes) -> list[StatementLine]:
    """Alipay's trade bill: a zip of GBK CSV files; the detail file (业务明细, not 汇总) has
    comment lines starting with ``#``, a header row, then one row per trade (交易) or refund
    (退款, its request number in 退款批次号/请求号)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = [n for n in bundle.namelist() if "业务明细" in _name(n) and "汇总" not in _name(n)]
        if not names:
            return []
        text = bundle.read(names[0]).decode("gb18030")
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    lines = []
    for row in rows[1:]:
        value = dict(zip(header, (field.strip() for field in row), strict=False))
        kind = value.get("业务类型")
        if kind not in ("交易", "退款"):
            continue
        at = _time(value.get("完成时间") or value.get("创建时间"))
        assert at is not None
        amount = abs(money.fen(value.get("订单金额（元）") or "0"))
        if kind == "退款":
            lines.append(
                StatementLine("refund", value["商户订单号"], value["退款批次号/请求号"], amount, "SUCCESS", at)
            )
        else:
            lines.append(StatementLine("payment", value["商户订单号"], "", amount, "SUCCESS", at))
    return lines


def _name(name: str) -> str:
    """Zip member names from Alipay are GBK bytes read as CP437 when not flagged UTF-8."""
    try:
        return name.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name
