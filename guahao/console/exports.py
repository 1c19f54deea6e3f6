"""Lists as files staff open in a spreadsheet: CSV (UTF-8 with a byte-order mark, so Excel reads
the Chinese) or Excel (.xlsx, openpyxl). Cells are text or numbers as shown on the page: money
in 元, times in the hospital's time zone, personal data masked."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import Http404, HttpResponse

from guahao.core import clock

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return value if isinstance(value, (int, float)) else str(value)


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
            writer.writerow([_cell(v) for v in row])
        body: bytes | str = out.getvalue()
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(title=name[:31])
        sheet.append([str(h) for h in headers])
        for row in rows:
            sheet.append([_cell(v) for v in row])
        buffer = io.BytesIO()
        book.save(buffer)
        body = buffer.getvalue()
    response = HttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
