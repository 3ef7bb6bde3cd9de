"""CSV and XLSX renderings of calculation results: one row per KPI, group and bucket."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

import xlsxwriter

from services.calculation.results import KpiOutcome, Value

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _dimension_names(outcomes: Sequence[KpiOutcome]) -> list[str]:
    names: list[str] = []
    for outcome in outcomes:
        for group in outcome.groups:
            names.extend(name for name in group.dimensions if name not in names)
    return names


def _cells(value: Value) -> list[object]:
    bucket = "" if value.bucket_start is None else value.bucket_start.isoformat()
    return [bucket, value.value, "" if value.no_value is None else value.no_value.value]


def table(outcomes: Sequence[KpiOutcome]) -> tuple[list[str], Iterator[list[object]]]:
    """Header and rows; rows with an empty bucket are totals over the whole range."""
    dimensions = _dimension_names(outcomes)
    header = [
        "kpi_code",
        "kpi_name",
        "unit",
        *dimensions,
        "bucket_start",
        "value",
        "no_value_reason",
        "computed_at",
        "watermark",
    ]

    def rows() -> Iterator[list[object]]:
        for outcome in outcomes:
            stamps = [
                outcome.computed_at.isoformat(),
                "" if outcome.watermark is None else outcome.watermark.isoformat(),
            ]
            head = [outcome.kpi_code, outcome.kpi_name, outcome.unit]
            blank = [""] * len(dimensions)
            for value in (outcome.total, *outcome.series):
                yield [*head, *blank, *_cells(value), *stamps]
            for group in outcome.groups:
                keys = [group.dimensions.get(name, "") for name in dimensions]
                for value in (group.total, *group.series):
                    yield [*head, *keys, *_cells(value), *stamps]

    return header, rows()


def to_csv(outcomes: Sequence[KpiOutcome]) -> tuple[bytes, int]:
    header, rows = table(outcomes)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
        count += 1
    return buffer.getvalue().encode(), count


def to_xlsx(outcomes: Sequence[KpiOutcome]) -> tuple[bytes, int]:
    header, rows = table(outcomes)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("KPIs")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, header, bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        sheet.write_row(count, 0, row)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return buffer.getvalue(), count
