"""Row locks on accounts; booking takes them through here too, so the order stays account first."""

from __future__ import annotations

from guahao.accounts.models import Account


def lock_account(account_id: int) -> None:
    """Serialise an account's writes (holds, patients) for the rest of the transaction."""
    list(Account.objects.select_for_update().filter(pk=account_id).values_list("pk", flat=True))
