"""Money as people read it. Guahao keeps amounts as integer fen."""

from __future__ import annotations


def yuan_shown(fen: int | None) -> str:
    """5100 → ¥51.00; a refund's -1100 → -¥11.00; None → ""."""
    if fen is None:
        return ""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}¥{fen // 100}.{fen % 100:02d}"
