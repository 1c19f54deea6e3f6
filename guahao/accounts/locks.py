"""Row locks on accounts (and a lock per phone number); booking takes them through here too, so the order stays account first."""

from __future__ import annotations

import hashlib

from django.db import connection

from guahao.accounts.models import Account


def lock_account(account_id: int) -> None:
    """Serialise an account's writes (holds, patients) for the rest of the transaction."""
    list(Account.objects.select_for_update().filter(pk=account_id).values_list("pk", flat=True))


def lock_phone(phone: str) -> None:
    """Serialise the writes of one phone number (login codes) for the rest of the transaction.

    There may be no row to lock yet, so PostgreSQL takes an advisory lock on the number's hash;
    SQLite's transactions already take the database's write lock when they begin."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(f"phone:{phone}".encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
