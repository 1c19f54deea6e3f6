"""How the payment sandbox and its merchants sign what they send each other.

Requests to the sandbox carry ``Authorization: PAYSIM mchid=…,timestamp=…,nonce=…,signature=…``
over the method, path, timestamp, nonce and body; notifications from the sandbox carry
``Paysim-Timestamp``, ``Paysim-Nonce`` and ``Paysim-Signature`` over timestamp, nonce and body.
Both are HMAC-SHA256 with the merchant's key, in the spirit of WeChat Pay v3's signed messages.
Standard library only: the sandbox runs without Django.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

MAX_SKEW_SECONDS = 300


def sign(key: str, *parts: str) -> str:
    message = "".join(f"{p}\n" for p in parts)
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def request_authorization(*, mch_id: str, key: str, method: str, path: str, body: str) -> str:
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    signature = sign(key, method.upper(), path, ts, nonce, body)
    return f'PAYSIM mchid="{mch_id}",timestamp="{ts}",nonce="{nonce}",signature="{signature}"'


def parse_authorization(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    if scheme != "PAYSIM":
        return {}
    fields = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


def fresh(ts: str) -> bool:
    try:
        return abs(time.time() - int(ts)) <= MAX_SKEW_SECONDS
    except ValueError:
        return False


def notification_headers(*, key: str, body: str) -> dict[str, str]:
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    return {"Paysim-Timestamp": ts, "Paysim-Nonce": nonce, "Paysim-Signature": sign(key, ts, nonce, body)}


def notification_valid(*, key: str, headers: dict[str, str], body: str) -> bool:
    ts = headers.get("Paysim-Timestamp", "")
    nonce = headers.get("Paysim-Nonce", "")
    given = headers.get("Paysim-Signature", "")
    if not (ts and nonce and given) or not fresh(ts):
        return False
    return hmac.compare_digest(given, sign(key, ts, nonce, body))
