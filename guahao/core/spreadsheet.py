"""Text written into files staff open in a spreadsheet: a cell a patient or a provider wrote
(a rating's comment, a reason, a statement's status) must never be run as a formula there.

A CSV cell that a spreadsheet would read as a formula (it begins with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, and is not a plain number such as ``-51.00``) is written with a
leading apostrophe, which spreadsheets show as text (OWASP's advice for CSV injection). An
Excel file needs none: its cells are written as text cells (``console.exports``)."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_like(text: str) -> bool:
    if not text.startswith(FORMULA_START):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def csv_text(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows as written."""
    return "'" + text if formula_like(text) else text
