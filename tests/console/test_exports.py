"""What a patient or a provider wrote is text in the files staff open in a spreadsheet, never a
formula run there (CSV injection)."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from guahao.console.exports import table_response
from guahao.core.spreadsheet import csv_text

WRITTEN = ['=HYPERLINK("http://evil.example/steal","好医生")', "+1+2", "@SUM(A1)", "-2+3", "-51.00", "很好"]


def test_a_comment_that_reads_as_a_formula_is_exported_as_text():
    rows = [[text, 7] for text in WRITTEN]
    answer = table_response(headers=["评价", "分"], rows=rows, name="ratings", fmt="csv")
    read = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))[1:]
    assert [r[0] for r in read] == [
        '\'=HYPERLINK("http://evil.example/steal","好医生")',
        "'+1+2",
        "'@SUM(A1)",
        "'-2+3",
        "-51.00",  # a number stays a number
        "很好",
    ]
    book = load_workbook(io.BytesIO(table_response(headers=["评价", "分"], rows=rows, name="r", fmt="xlsx").content))
    cells = [row[0] for row in book.active.iter_rows(min_row=2)]
    assert [c.value for c in cells] == WRITTEN and {c.data_type for c in cells} == {"s"}  # text, as written
    assert [row[1].value for row in book.active.iter_rows(min_row=2)] == [7] * len(WRITTEN)


def test_csv_text_leaves_plain_text_and_numbers_as_they_are():
    assert [csv_text(t) for t in ("GH2026", "0.50", "-3", "", "=1")] == ["GH2026", "0.50", "-3", "", "'=1"]
