"""HMAC-SHA256 over newline-terminated parts: how the bundled simulators (payment sandbox, HIS
simulator) and Guahao sign what they send each other. Standard library only: the simulators run
without Django."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

MAX_SKEW_SECONDS = 300


def sign(key: str, *parts: str) -> str:
    message = "".join(f"{p}\n" for p in parts)
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def fresh(ts: str) -> bool:
    """A timestamp within five minutes of now: an old signed message cannot be replayed later."""
    try:
        return abs(time.time() - int(ts)) <= MAX_SKEW_SECONDS
    except ValueError:
        return False


def stamp() -> tuple[str, str]:
    """A timestamp and a nonce for a new signed message."""
    return str(int(time.time())), secrets.token_hex(8)


def authorization(scheme: str, *, key: str, method: str, path: str, body: str, **fields: str) -> str:
    """``SCHEME a="…",timestamp="…",nonce="…",signature="…"`` over method, path, time, nonce, body."""
    ts, nonce = stamp()
    signature = sign(key, method.upper(), path, ts, nonce, body)
    named = "".join(f'{k}="{v}",' for k, v in fields.items())
    return f'{scheme} {named}timestamp="{ts}",nonce="{nonce}",signature="{signature}"'


def parse_authorization(scheme: str, header: str) -> dict[str, str]:
    given, _, rest = header.partition(" ")
    if given != scheme:
        return {}
    parsed = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        parsed[name] = value.strip('"')
    return parsed


def authorization_valid(scheme: str, *, header: str, key: str, method: str, path: str, body: str) -> dict[str, str]:
    """The header's named fields if it is ours, fresh and signed with ``key``; else empty."""
    auth = parse_authorization(scheme, header)
    if not auth or not fresh(auth.get("timestamp", "")):
        return {}
    expected = sign(key, method.upper(), path, auth["timestamp"], auth.get("nonce", ""), body)
    return auth if hmac.compare_digest(expected, auth.get("signature", "")) else {}
