"""What is kept secret at rest (ID numbers, a hospital's HIS key): sealed with Fernet under a key
derived from ``GUAHAO_FIELD_KEY`` for each purpose, so one purpose's key opens nothing else."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@cache
def derived_key(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guahao", info=purpose).derive(settings.FIELD_KEY.encode())


def seal(purpose: bytes, text: str) -> str:
    return Fernet(base64.urlsafe_b64encode(derived_key(purpose))).encrypt(text.encode()).decode()


def unseal(purpose: bytes, token: str) -> str:
    return Fernet(base64.urlsafe_b64encode(derived_key(purpose))).decrypt(token.encode()).decode()
