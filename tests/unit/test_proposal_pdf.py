"""The PDF rendering of a proposal document: a well-formed file that says what the Markdown says."""

from __future__ import annotations

import datetime
import re

from services.config.pricing.proposal import price_proposal
from services.config.proposals.document import Header, markdown
from services.config.proposals.pdf import markdown_to_pdf
from tests.unit.pricing_examples import spec_choices

MOMENT = datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC)


def spec_pdf(client: str = "Acme (Corp) \\ Sons") -> bytes:
    header = Header(client, MOMENT, MOMENT + datetime.timedelta(days=30), 1)
    return markdown_to_pdf(markdown(price_proposal(spec_choices()), header), "Proposal")


def test_cross_reference_table_points_at_every_object() -> None:
    pdf = spec_pdf()
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    startxref = int(re.findall(rb"startxref\n(\d+)\n", pdf)[-1])
    assert pdf[startxref:].startswith(b"xref\n0 ")
    count = int(re.match(rb"xref\n0 (\d+)\n", pdf[startxref:]).group(1))  # type: ignore[union-attr]
    offsets = re.findall(rb"(\d{10}) 00000 n ", pdf[startxref:])
    assert len(offsets) == count - 1
    for number, offset in enumerate(offsets, start=1):
        assert pdf[int(offset):].startswith(b"%d 0 obj\n" % number)
    pages = int(re.search(rb"/Type /Pages /Count (\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pages == pdf.count(b"/Type /Page ") >= 2
    for length, body in re.findall(rb"<< /Length (\d+) >>\nstream\n(.*?)\nendstream", pdf,
                                   re.DOTALL):
        assert int(length) == len(body)


def test_text_is_escaped_and_in_win_ansi() -> None:
    pdf = spec_pdf()
    assert rb"(Acme \(Corp\) \\ Sons)" in pdf
    assert b"(Annual Cost: ) Tj /F1 10 Tf ($96,070)" in pdf
    assert b"(\x95)" in pdf  # bullets
    assert "2 × t3.medium".encode("cp1252") in pdf
    assert b"Salesforce CRM" in pdf and b"(Go-Live: Week 10)" in pdf
