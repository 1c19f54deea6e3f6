"""Amounts: Guahao keeps integer fen; providers' statements and Alipay speak yuan strings."""

from __future__ import annotations

from decimal import Decimal


def yuan(fen: int) -> str:
    """5100 → "51.00"."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def fen(amount_yuan: str) -> int:
    """ "51.00" → 5100; "-51.00" (a refund row) → -5100."""
    return int((Decimal(amount_yuan) * 100).to_integral_value())
