"""How the payment sandbox and its merchants sign what they send each other.

Requests to the sandbox carry ``Authorization: PAYSIM mchid=…,timestamp=…,nonce=…,signature=…``
over the method, path, timestamp, nonce and body; notifications from the sandbox carry
``Paysim-Timestamp``, ``Paysim-Nonce`` and ``Paysim-Signature`` over timestamp, nonce and body.
Both are HMAC-SHA256 with the merchant's key (``guahao.core.signing``), in the spirit of WeChat
Pay v3's signed messages. Standard library only: the sandbox runs without Django.
"""

from __future__ import annotations

import hmac

from guahao.core.signing import authorization, fresh, parse_authorization, sign, stamp

SCHEME = "PAYSIM"


def request_authorization(*, mch_id: str, key: str, method: str, path: str, body: str) -> str:
    return authorization(SCHEME, key=key, method=method, path=path, body=body, mchid=mch_id)


def request_merchant(header: str) -> str:
    """The merchant a request says it comes from (its signature is checked with that one's key)."""
    return parse_authorization(SCHEME, header).get("mchid", "")


def notification_headers(*, key: str, body: str) -> dict[str, str]:
    ts, nonce = stamp()
    return {"Paysim-Timestamp": ts, "Paysim-Nonce": nonce, "Paysim-Signature": sign(key, ts, nonce, body)}


def notification_valid(*, key: str, headers: dict[str, str], body: str) -> bool:
    ts = headers.get("Paysim-Timestamp", "")
    nonce = headers.get("Paysim-Nonce", "")
    given = headers.get("Paysim-Signature", "")
    if not (ts and nonce and given) or not fresh(ts):
        return False
    return hmac.compare_digest(given, sign(key, ts, nonce, body))
