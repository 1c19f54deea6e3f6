"""What is kept secret at rest (ID numbers, phones, a hospital's HIS key): sealed with Fernet under
a key derived from ``GUAHAO_FIELD_KEY`` for each purpose, so one purpose's key opens nothing else;
and the keyed hashes that find a sealed value without opening it.

Keys rotate: the current key seals and hashes; the keys in ``GUAHAO_FIELD_KEYS_PREVIOUS`` still
open what they sealed, and a lookup asks for the hash under each of them, until ``guahao
rotate-keys`` has sealed and hashed everything again under the current key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _ring() -> tuple[str, ...]:
    """The current key first, then the previous ones."""
    return (settings.FIELD_KEY, *settings.FIELD_KEYS_PREVIOUS)


@cache
def _derive(key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guahao", info=purpose).derive(key.encode())


def derived_key(purpose: bytes) -> bytes:
    """The current key for one purpose."""
    return _derive(settings.FIELD_KEY, purpose)


@cache
def _fernet(ring: tuple[str, ...], purpose: bytes) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(key, purpose))) for key in ring])


def seal(purpose: bytes, text: str) -> str:
    return _fernet(_ring(), purpose).encrypt(text.encode()).decode()


def unseal(purpose: bytes, token: str) -> str:
    return _fernet(_ring(), purpose).decrypt(token.encode()).decode()


def sealed_now(purpose: bytes, token: str) -> bool:
    """Whether the current key opens the token (so rotation has nothing to do for it)."""
    try:
        _fernet((settings.FIELD_KEY,), purpose).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def reseal(purpose: bytes, token: str) -> str:
    """The same value sealed under the current key."""
    return _fernet(_ring(), purpose).rotate(token.encode()).decode()


def lookup_hash(purpose: bytes, value: str) -> str:
    """The keyed hash stored beside a sealed value, under the current key."""
    return hmac.new(_derive(settings.FIELD_KEY, purpose), value.encode(), hashlib.sha256).hexdigest()


def lookup_hashes(purpose: bytes, value: str) -> list[str]:
    """The value's hash under every key of the ring (current first): what a lookup asks for while
    rows hashed under a previous key may remain."""
    return [hmac.new(_derive(key, purpose), value.encode(), hashlib.sha256).hexdigest() for key in _ring()]
