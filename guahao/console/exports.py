"""Lists as files staff open in a spreadsheet: CSV (UTF-8 with a byte-order mark, so Excel reads
the Chinese) or Excel (.xlsx, openpyxl). Cells are what the page shows, in a form a spreadsheet
sums and sorts: money as a number of 元 (the page's ¥51.00 is 51.00), times as 2026-12-06 14:43
in the hospital's time zone, personal data masked."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpResponse
from django.utils import timezone

from guahao.core import clock
from guahao.core.spreadsheet import csv_text

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


_MONEY = re.compile(r"^(-?)¥(-?)(\d+\.\d{2})$")


def number_or_text(shown: str) -> Any:
    """A cell as shown on the page: an amount of money (``¥51.00``, ``¥-11.00``) as its number of
    元, everything else as its text."""
    found = _MONEY.match(shown.strip())
    if found is None:
        return shown
    sign = "-" if found.group(1) or found.group(2) else ""
    return Decimal(sign + found.group(3))


def moment(value: dt.datetime | dt.date) -> str:
    """A time as ``2026-12-06 14:43`` on the active time zone's clock (the staff member's
    hospital's), a day as ``2026-12-06``."""
    if isinstance(value, dt.datetime):
        return value.astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return value if isinstance(value, (int, float, Decimal)) else str(value)


def table_response(*, headers: Sequence[Any], rows: Iterable[Sequence[Any]], name: str, fmt: str) -> HttpResponse:
    """``name`` without extension; the day is added (the platform's day: a file name only)."""
    if fmt not in FORMATS:
        raise Http404
    filename = f"{name}-{clock.now():%Y%m%d}.{fmt}"
    if fmt == "csv":
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow([str(h) for h in headers])
        for row in rows:
            writer.writerow([csv_text(c) if isinstance(c, str) else c for c in map(_cell, row)])
        body: bytes | str = out.getvalue()
    else:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        book = Workbook(write_only=True)
        sheet = book.create_sheet(title=name[:31])

        def text(value: Any) -> Any:
            """A text cell (openpyxl would write a string beginning with = as a formula)."""
            if not isinstance(value, str) or not value.startswith("="):
                return value
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            return cell

        sheet.append([str(h) for h in headers])
        for row in rows:
            sheet.append([text(_cell(v)) for v in row])
        buffer = io.BytesIO()
        book.save(buffer)
        body = buffer.getvalue()
    response = HttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
