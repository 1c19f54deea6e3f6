"""The payment sandbox: a provider simulator run as its own process (``guahao paysim``).

It behaves like WeChat Pay v3 and Alipay in the ways that matter to a merchant:

- ``POST /v3/orders`` creates an order (idempotent by ``out_trade_no``) and returns a cashier
  URL; the cashier page has Pay and Fail buttons posting to ``{pay_url}/pay`` and ``{pay_url}/fail``.
- A paid order is announced by a signed asynchronous notification, re-sent on WeChat's schedule
  (15s, 15s, 30s, 3m, 10m, …, multiplied by ``time_scale``) until the merchant answers 200 or 204;
  with the knobs it is sometimes sent twice, held back, or lost on an attempt, so notifications
  arrive late and out of order.
- ``GET /v3/orders/{out_trade_no}`` queries, ``POST …/close`` closes (a closed order cannot be paid).
- ``POST /v3/refunds`` refunds a paid order in full (idempotent by ``out_refund_no``) and announces
  the outcome, success or failure (``refund_fail``), by notification too.
- ``GET /v3/bills?date=YYYY-MM-DD`` is the day's statement (CSV, amounts in yuan) of payments and
  refunds completed that day in Beijing time.
- ``GET /control`` and ``POST /control`` read and change the knobs at run time;
  ``POST /control/forget`` drops every notification not yet delivered and leaves undecided refunds
  undecided, so nothing more is sent for what happened so far (a test's merchant that is gone).

Its store is its own SQLite file. Standard library only.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import random
import secrets
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from guahao.core.signing import authorization_valid
from guahao.payments import money
from guahao.payments.sandbox import signing

BEIJING = ZoneInfo("Asia/Shanghai")
# WeChat Pay's documented re-send intervals, in seconds.
RETRY_SCHEDULE = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
  out_trade_no TEXT PRIMARY KEY, mch_id TEXT NOT NULL, order_id TEXT UNIQUE NOT NULL,
  amount_fen INTEGER NOT NULL, description TEXT NOT NULL, notify_url TEXT NOT NULL,
  status TEXT NOT NULL, transaction_id TEXT, success_time TEXT, created_at TEXT NOT NULL,
  pay_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refunds (
  out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT NOT NULL REFERENCES orders, mch_id TEXT NOT NULL,
  refund_id TEXT UNIQUE NOT NULL, amount_fen INTEGER NOT NULL, notify_url TEXT NOT NULL,
  status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', success_time TEXT, created_at TEXT NOT NULL,
  decide_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
  id TEXT PRIMARY KEY, mch_id TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, delivered_at REAL
);
"""


@dataclass
class Knobs:
    time_scale: float = 1.0  # multiplies every re-send interval and delay (0.01 in tests)
    notify_delay_ms: int = 200  # before the first notification attempt
    jitter_ms: int = 0  # random extra delay per notification: reorders them
    duplicate: float = 0.0  # chance a delivered notification is sent once more
    lost: float = 0.0  # chance an attempt never reaches the merchant (it is re-sent later)
    refund_fail: float = 0.0  # chance a refund ends ABNORMAL
    refund_delay_ms: int = 300  # how long a refund stays PROCESSING
    error: float = 0.0  # chance an API call answers 500 without doing anything

    def update(self, values: dict) -> None:
        for f in fields(self):
            if f.name in values:
                setattr(self, f.name, type(getattr(self, f.name))(values[f.name]))


def _now() -> dt.datetime:
    return dt.datetime.now(tz=BEIJING)


class Sandbox:
    def __init__(self, *, store: str, merchants: dict[str, str], public_url: str, knobs: Knobs) -> None:
        self.db = sqlite3.connect(store, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.turn = threading.Lock()  # one pass of the background work: deciding and notifying
        self.merchants = merchants
        self.public_url = public_url.rstrip("/")
        self.knobs = knobs
        self.rng = random.Random()

    # --- store ---------------------------------------------------------------------------------

    def one(self, sql: str, *args: object) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def run(self, sql: str, *args: object) -> int:
        with self.lock:
            return self.db.execute(sql, args).rowcount

    def pay_url(self, order_id: str) -> str:
        return f"{self.public_url}/pay/{order_id}"

    def order_out(self, row: sqlite3.Row) -> dict:
        return {
            "out_trade_no": row["out_trade_no"],
            "order_id": row["order_id"],
            "mch_id": row["mch_id"],
            "amount_fen": row["amount_fen"],
            "status": row["status"],
            "transaction_id": row["transaction_id"],
            "success_time": row["success_time"],
            "pay_url": self.pay_url(row["order_id"]),
        }

    def refund_out(self, row: sqlite3.Row) -> dict:
        return {k: row[k] for k in ("out_refund_no", "out_trade_no", "refund_id", "amount_fen", "status", "reason")} | {
            "success_time": row["success_time"]
        }

    # --- notifications -------------------------------------------------------------------------

    def notify(self, *, mch_id: str, url: str, event_type: str, resource: dict) -> None:
        body = json.dumps(
            {
                "id": secrets.token_hex(12),
                "create_time": _now().isoformat(),
                "event_type": event_type,
                "resource": resource,
            },
            ensure_ascii=False,
        )
        delay = self.knobs.notify_delay_ms + self.rng.randint(0, max(self.knobs.jitter_ms, 0))
        notification_id = json.loads(body)["id"]
        self.run(
            "INSERT INTO notifications (id, mch_id, url, body, next_at) VALUES (?, ?, ?, ?, ?)",
            notification_id,
            mch_id,
            url,
            body,
            time.time() + delay * self.knobs.time_scale / 1000,
        )

    def deliver_due(self) -> None:
        for row in self.all("SELECT * FROM notifications WHERE delivered_at IS NULL AND next_at <= ?", time.time()):
            attempts = row["attempts"] + 1
            ok = False
            if self.rng.random() >= self.knobs.lost:
                ok = self._post(row)
                if ok and self.rng.random() < self.knobs.duplicate:
                    self._post(row)
            if ok:
                self.run(
                    "UPDATE notifications SET attempts = ?, delivered_at = ? WHERE id = ?",
                    attempts,
                    time.time(),
                    row["id"],
                )
            else:
                wait = RETRY_SCHEDULE[min(attempts - 1, len(RETRY_SCHEDULE) - 1)] * self.knobs.time_scale
                if attempts > len(RETRY_SCHEDULE):
                    wait = float("inf")  # given up, as the real providers do after a day
                self.run(
                    "UPDATE notifications SET attempts = ?, next_at = ? WHERE id = ?",
                    attempts,
                    time.time() + wait,
                    row["id"],
                )

    def _post(self, row: sqlite3.Row) -> bool:
        headers = {"Content-Type": "application/json"} | signing.notification_headers(
            key=self.merchants[row["mch_id"]], body=row["body"]
        )
        request = urllib.request.Request(row["url"], data=row["body"].encode(), headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.status in (200, 204)
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def decide_refunds(self) -> None:
        for row in self.all("SELECT * FROM refunds WHERE status = 'PROCESSING' AND decide_at <= ?", time.time()):
            failed = self.rng.random() < self.knobs.refund_fail
            status = "ABNORMAL" if failed else "SUCCESS"
            reason = "用户银行卡已注销" if failed else ""
            when = _now().isoformat()
            if not self.run(
                "UPDATE refunds SET status = ?, reason = ?, success_time = ? WHERE out_refund_no = ? AND status = 'PROCESSING'",
                status,
                reason,
                when if not failed else None,
                row["out_refund_no"],
            ):
                continue
            if not failed:
                self.run("UPDATE orders SET status = 'REFUND' WHERE out_trade_no = ?", row["out_trade_no"])
            refund = self.one("SELECT * FROM refunds WHERE out_refund_no = ?", row["out_refund_no"])
            assert refund is not None
            self.notify(
                mch_id=row["mch_id"],
                url=row["notify_url"],
                event_type=f"REFUND.{status}",
                resource={"mch_id": row["mch_id"], **self.refund_out(refund)},
            )

    def background(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with self.turn:
                    self.decide_refunds()
                    self.deliver_due()
            except Exception as exc:  # noqa: BLE001 - the sandbox keeps serving whatever happens
                print(f"[paysim] background: {exc!r}", flush=True)  # noqa: T201
            stop.wait(0.05)

    def forget_pending(self) -> dict:
        """Once the pass under way has finished (its notification answered), nothing more is sent:
        undelivered notifications are dropped and refunds still processing are never decided."""
        with self.turn:
            dropped = self.run("DELETE FROM notifications WHERE delivered_at IS NULL")
            parked = self.run("UPDATE refunds SET decide_at = ? WHERE status = 'PROCESSING'", float("inf"))
        return {"notifications_dropped": dropped, "refunds_parked": parked}

    # --- operations ----------------------------------------------------------------------------

    def order_create(self, mch_id: str, body: dict) -> tuple[int, dict]:
        out_trade_no = str(body.get("out_trade_no", ""))
        amount = body.get("amount_fen")
        if not out_trade_no or not isinstance(amount, int) or amount <= 0 or not body.get("notify_url"):
            return 400, {"code": "PARAM_ERROR", "message": "out_trade_no, amount_fen > 0 and notify_url are required"}
        existing = self.one("SELECT * FROM orders WHERE out_trade_no = ?", out_trade_no)
        if existing is not None:
            if existing["amount_fen"] != amount or existing["mch_id"] != mch_id:
                return 409, {"code": "INVALID_REQUEST", "message": "out_trade_no reused with other parameters"}
            return 200, self.order_out(existing)
        self.run(
            "INSERT INTO orders (out_trade_no, mch_id, order_id, amount_fen, description, notify_url, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'NOTPAY', ?)",
            out_trade_no,
            mch_id,
            "P" + secrets.token_hex(10),
            amount,
            str(body.get("description", ""))[:127],
            str(body["notify_url"]),
            _now().isoformat(),
        )
        row = self.one("SELECT * FROM orders WHERE out_trade_no = ?", out_trade_no)
        assert row is not None
        return 200, self.order_out(row)

    def order_pay(self, order_id: str) -> tuple[int, dict]:
        row = self.one("SELECT * FROM orders WHERE order_id = ?", order_id)
        if row is None:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "no such order"}
        if row["status"] == "SUCCESS":
            return 200, self.order_out(row)
        txn = "4200" + secrets.token_hex(12)
        when = _now().isoformat()
        if not self.run(
            "UPDATE orders SET status = 'SUCCESS', transaction_id = ?, success_time = ?, pay_attempts = pay_attempts + 1"
            " WHERE order_id = ? AND status IN ('NOTPAY', 'PAYERROR')",
            txn,
            when,
            order_id,
        ):
            return 409, {"code": "ORDER_CLOSED", "message": f"the order is {row['status']}"}
        row = self.one("SELECT * FROM orders WHERE order_id = ?", order_id)
        assert row is not None
        self.notify(
            mch_id=row["mch_id"],
            url=row["notify_url"],
            event_type="TRANSACTION.SUCCESS",
            resource={"mch_id": row["mch_id"], "trade_state": "SUCCESS", **self.order_out(row)},
        )
        return 200, self.order_out(row)

    def order_fail(self, order_id: str) -> tuple[int, dict]:
        self.run(
            "UPDATE orders SET status = 'PAYERROR', pay_attempts = pay_attempts + 1 WHERE order_id = ? AND status = 'NOTPAY'",
            order_id,
        )
        row = self.one("SELECT * FROM orders WHERE order_id = ?", order_id)
        return (404, {"code": "ORDER_NOT_EXIST"}) if row is None else (200, self.order_out(row))

    def order_close(self, mch_id: str, out_trade_no: str) -> tuple[int, dict]:
        self.run(
            "UPDATE orders SET status = 'CLOSED' WHERE out_trade_no = ? AND mch_id = ? AND status IN ('NOTPAY', 'PAYERROR')",
            out_trade_no,
            mch_id,
        )
        row = self.one("SELECT * FROM orders WHERE out_trade_no = ? AND mch_id = ?", out_trade_no, mch_id)
        if row is None:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "no such order"}
        if row["status"] != "CLOSED":
            return 409, {"code": "ORDER_PAID", "message": f"the order is {row['status']}", **self.order_out(row)}
        return 200, self.order_out(row)

    def refund_create(self, mch_id: str, body: dict) -> tuple[int, dict]:
        out_refund_no = str(body.get("out_refund_no", ""))
        order = self.one("SELECT * FROM orders WHERE out_trade_no = ? AND mch_id = ?", body.get("out_trade_no"), mch_id)
        if order is None:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "no such order"}
        existing = self.one("SELECT * FROM refunds WHERE out_refund_no = ?", out_refund_no)
        if existing is not None:
            return 200, self.refund_out(existing)
        if order["status"] not in ("SUCCESS", "REFUND"):
            return 409, {"code": "TRADE_NOT_PAID", "message": f"the order is {order['status']}"}
        if body.get("amount_fen") != order["amount_fen"] or not out_refund_no or not body.get("notify_url"):
            return 400, {"code": "PARAM_ERROR", "message": "a full refund with out_refund_no and notify_url"}
        if self.one(
            "SELECT 1 FROM refunds WHERE out_trade_no = ? AND status IN ('PROCESSING', 'SUCCESS')",
            order["out_trade_no"],
        ):
            return 409, {"code": "REFUND_EXISTS", "message": "the order is already being refunded"}
        self.run(
            "INSERT INTO refunds (out_refund_no, out_trade_no, mch_id, refund_id, amount_fen, notify_url, status,"
            " created_at, decide_at) VALUES (?, ?, ?, ?, ?, ?, 'PROCESSING', ?, ?)",
            out_refund_no,
            order["out_trade_no"],
            mch_id,
            "R" + secrets.token_hex(10),
            order["amount_fen"],
            str(body["notify_url"]),
            _now().isoformat(),
            time.time() + self.knobs.refund_delay_ms * self.knobs.time_scale / 1000,
        )
        row = self.one("SELECT * FROM refunds WHERE out_refund_no = ?", out_refund_no)
        assert row is not None
        return 200, self.refund_out(row)

    def statement(self, mch_id: str, day: str) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["time", "type", "out_trade_no", "transaction_id", "out_refund_no", "refund_id", "amount_yuan", "status"]
        )
        for o in self.all(
            "SELECT * FROM orders WHERE mch_id = ? AND success_time IS NOT NULL ORDER BY success_time", mch_id
        ):
            if o["success_time"][:10] == day:
                writer.writerow(
                    [
                        o["success_time"],
                        "payment",
                        o["out_trade_no"],
                        o["transaction_id"],
                        "",
                        "",
                        money.yuan(o["amount_fen"]),
                        "SUCCESS",
                    ]
                )
        for r in self.all(
            "SELECT r.*, o.transaction_id FROM refunds r JOIN orders o USING (out_trade_no)"
            " WHERE r.mch_id = ? AND r.status = 'SUCCESS' ORDER BY r.success_time",
            mch_id,
        ):
            if r["success_time"][:10] == day:
                writer.writerow(
                    [
                        r["success_time"],
                        "refund",
                        r["out_trade_no"],
                        r["transaction_id"],
                        r["out_refund_no"],
                        r["refund_id"],
                        money.yuan(r["amount_fen"]),
                        "SUCCESS",
                    ]
                )
        return out.getvalue()


CASHIER = """<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>支付沙箱 Payment sandbox</title>
<style>body{{font:18px/1.5 system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}}
.amount{{font-size:2.2rem;font-weight:700}}button{{font-size:1.2rem;padding:.8rem;width:100%;margin:.4rem 0;border-radius:.5rem}}
.pay{{background:#07c160;color:#fff;border:0}}</style></head><body>
<p>支付沙箱 · Payment sandbox</p><p>{description}</p><p class="amount">¥{amount}</p><p>状态 Status: {status}</p>
<form method="post" action="{url}/pay{keep}"><button class="pay">支付 Pay</button></form>
<form method="post" action="{url}/fail{keep}"><button>支付失败 Fail</button></form>
{back}</body></html>"""


def make_handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "paysim/1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: dict | str, content_type: str = "application/json") -> None:
            data = (json.dumps(body, ensure_ascii=False) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> str:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length).decode() if length else ""

        def _merchant(self, body: str) -> str | None:
            header = self.headers.get("Authorization", "")
            key = sandbox.merchants.get(signing.request_merchant(header))
            if key is None:
                return None
            auth = authorization_valid(
                signing.SCHEME, header=header, key=key, method=self.command, path=urlsplit(self.path).path, body=body
            )
            return auth.get("mchid") or None

        def _route(self) -> None:
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            body = self._body()
            if parts[:1] == ["pay"] and len(parts) >= 2:
                return self._cashier(parts, url.query)
            if parts == ["control"]:
                if self.command == "POST":
                    sandbox.knobs.update(json.loads(body or "{}"))
                return self._send(200, asdict(sandbox.knobs))
            if parts == ["control", "forget"] and self.command == "POST":
                return self._send(200, sandbox.forget_pending())
            if parts == ["healthz"]:
                return self._send(200, {"status": "ok"})
            mch_id = self._merchant(body)
            if mch_id is None:
                return self._send(401, {"code": "SIGN_ERROR", "message": "signature missing or wrong"})
            if sandbox.rng.random() < sandbox.knobs.error:
                return self._send(500, {"code": "SYSTEM_ERROR", "message": "injected failure"})
            data = json.loads(body) if body else {}
            if self.command == "POST" and parts == ["v3", "orders"]:
                return self._send(*sandbox.order_create(mch_id, data))
            if parts[:2] == ["v3", "orders"] and len(parts) == 3 and self.command == "GET":
                row = sandbox.one("SELECT * FROM orders WHERE out_trade_no = ? AND mch_id = ?", parts[2], mch_id)
                return self._send(*((200, sandbox.order_out(row)) if row else (404, {"code": "ORDER_NOT_EXIST"})))
            if parts[:2] == ["v3", "orders"] and len(parts) == 4 and parts[3] == "close" and self.command == "POST":
                return self._send(*sandbox.order_close(mch_id, parts[2]))
            if self.command == "POST" and parts == ["v3", "refunds"]:
                return self._send(*sandbox.refund_create(mch_id, data))
            if parts[:2] == ["v3", "refunds"] and len(parts) == 3 and self.command == "GET":
                row = sandbox.one("SELECT * FROM refunds WHERE out_refund_no = ? AND mch_id = ?", parts[2], mch_id)
                return self._send(*((200, sandbox.refund_out(row)) if row else (404, {"code": "RESOURCE_NOT_EXISTS"})))
            if parts == ["v3", "bills"] and self.command == "GET":
                day = parse_qs(url.query).get("date", [""])[0]
                return self._send(200, sandbox.statement(mch_id, day), "text/csv")
            return self._send(404, {"code": "NOT_FOUND", "message": self.path})

        def _cashier(self, parts: list[str], query: str) -> None:
            order_id = parts[1]
            # Where the patient goes back to (the merchant's page), kept through Pay and Fail.
            back = parse_qs(query).get("return", [""])[0]
            back = back if back.startswith(("http://", "https://")) else ""
            keep = f"?{urlencode({'return': back})}" if back else ""
            if self.command == "POST" and len(parts) == 3 and parts[2] in ("pay", "fail"):
                status, out = (sandbox.order_pay if parts[2] == "pay" else sandbox.order_fail)(order_id)
                if "text/html" in self.headers.get("Accept", ""):
                    # Like a real cashier: once paid, straight back to the merchant's page.
                    paid = parts[2] == "pay" and status == 200
                    self.send_response(303)
                    self.send_header("Location", back if paid and back else f"/pay/{order_id}{keep}")
                    self.end_headers()
                    return None
                return self._send(status, out)
            row = sandbox.one("SELECT * FROM orders WHERE order_id = ?", order_id)
            if row is None:
                return self._send(404, "<p>没有这个订单 No such order</p>", "text/html")
            link = f'<p><a href="{html.escape(back)}">返回 Back</a></p>' if back else ""
            page = CASHIER.format(
                description=html.escape(row["description"]),
                amount=money.yuan(row["amount_fen"]),
                status=row["status"],
                url=html.escape(sandbox.pay_url(order_id)),
                keep=html.escape(keep),
                back=link,
            )
            return self._send(200, page, "text/html")

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            self._route()

        def do_POST(self) -> None:  # noqa: N802
            self._route()

    return Handler


def serve(*, host: str, port: int, store: str, merchants: dict[str, str], public_url: str | None, knobs: Knobs) -> None:
    sandbox = Sandbox(store=store, merchants=merchants, public_url=public_url or f"http://{host}:{port}", knobs=knobs)
    server = ThreadingHTTPServer((host, port), make_handler(sandbox))
    stop = threading.Event()
    worker = threading.Thread(target=sandbox.background, args=(stop,), daemon=True)
    worker.start()
    print(f"[paysim] payment sandbox on http://{host}:{port} (store {store})", flush=True)  # noqa: T201
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        server.server_close()


def knobs_from(text: str) -> Knobs:
    """``time_scale=0.01,duplicate=0.3`` → Knobs."""
    knobs = Knobs()
    knobs.update(dict(item.split("=", 1) for item in text.split(",") if "=" in item))
    return knobs
