"""The proposal document as a PDF, rendered from its issued Markdown.

A deliberately small writer (PDF 1.4, the standard Helvetica and Courier fonts, WinAnsi text) that
understands exactly the Markdown `document` produces: headings, "**label:** value" lines, bullets,
numbered items, tables and rules. Tables are set in Courier so their columns line up.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, in points
MARGIN = 54
BODY_SIZE = 10
TABLE_SIZE = 8
HEADING_SIZES = {1: 18, 2: 14, 3: 12}
# Average glyph widths as a share of the font size, for wrapping.
HELVETICA_WIDTH = 0.5
COURIER_WIDTH = 0.6

_LABEL = re.compile(r"^\*\*(?P<label>[^*]+?):\*\*\s*(?P<rest>.*)$")


@dataclass
class _Page:
    commands: list[str] = field(default_factory=list)


@dataclass
class _Layout:
    pages: list[_Page] = field(default_factory=lambda: [_Page()])
    y: float = PAGE_HEIGHT - MARGIN

    def room(self, height: float) -> None:
        if self.y - height < MARGIN:
            self.pages.append(_Page())
            self.y = PAGE_HEIGHT - MARGIN

    def text(self, runs: list[tuple[str, str]], size: float, indent: float = 0) -> None:
        """One line made of (font, text) runs."""
        self.room(size * 1.4)
        self.y -= size * 1.4
        shown = "".join(f"/{font} {size} Tf ({_escape(text)}) Tj " for font, text in runs)
        self.pages[-1].commands.append(f"BT {MARGIN + indent} {self.y:.1f} Td {shown}ET")

    def rule(self) -> None:
        self.room(12)
        self.y -= 6
        self.pages[-1].commands.append(
            f"0.75 G {MARGIN} {self.y:.1f} m {PAGE_WIDTH - MARGIN} {self.y:.1f} l S 0 G")
        self.y -= 6

    def gap(self, height: float) -> None:
        self.y -= height


def markdown_to_pdf(markdown: str, title: str) -> bytes:
    layout = _Layout()
    table: list[list[str]] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        if table:
            _table(layout, table)
            table = []
        _line(layout, line.rstrip())
    return _document(layout.pages, title)


def _line(layout: _Layout, line: str) -> None:
    width = PAGE_WIDTH - 2 * MARGIN
    if not line:
        layout.gap(BODY_SIZE * 0.5)
    elif line.startswith("#"):
        level = len(line) - len(line.lstrip("#"))
        size = HEADING_SIZES.get(level, BODY_SIZE)
        layout.gap(size * 0.3)
        layout.text([("F2", line[level:].strip())], size)
    elif line == "---":
        layout.rule()
    elif line.startswith("- ") or re.match(r"^\d+\. ", line):
        marker, _, item = line.partition(" ")
        bullet = "\u2022" if marker == "-" else marker
        label = _LABEL.match(item)
        lines = _wrap(item.replace("**", ""), width - 18, BODY_SIZE, HELVETICA_WIDTH)
        for i, text in enumerate(lines):
            runs = [("F1", text)]
            if i == 0 and label:
                runs = [("F2", label["label"] + ":"), ("F1", text[len(label["label"]) + 1:])]
            layout.text(runs, BODY_SIZE, indent=18)
            if i == 0:
                layout.pages[-1].commands.append(
                    f"BT {MARGIN + 6} {layout.y:.1f} Td /F1 {BODY_SIZE} Tf "
                    f"({_escape(bullet)}) Tj ET")
    else:
        label = _LABEL.match(line)
        if label:
            rest = _wrap(label["rest"], width - 120, BODY_SIZE, HELVETICA_WIDTH) or [""]
            layout.text([("F2", label["label"] + ": "), ("F1", rest[0])], BODY_SIZE)
            for more in rest[1:]:
                layout.text([("F1", more)], BODY_SIZE, indent=18)
        else:
            for text in _wrap(line, width, BODY_SIZE, HELVETICA_WIDTH):
                layout.text([("F1", text)], BODY_SIZE)


def _table(layout: _Layout, rows: list[list[str]]) -> None:
    columns = max(len(row) for row in rows)
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(columns)]
    per_line = int((PAGE_WIDTH - 2 * MARGIN) / (TABLE_SIZE * COURIER_WIDTH))
    for n, row in enumerate(rows):
        text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for part in textwrap.wrap(text, per_line) or [""]:
            layout.text([("F4" if n == 0 else "F3", part)], TABLE_SIZE)


def _wrap(text: str, width: float, size: float, glyph_width: float) -> list[str]:
    return textwrap.wrap(text, max(10, int(width / (size * glyph_width))))


def _escape(text: str) -> str:
    encoded = text.encode("cp1252", errors="replace").decode("latin-1")
    return encoded.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _document(pages: list[_Page], title: str) -> bytes:
    fonts = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier", "F4": "Courier-Bold"}
    first_page = 3 + len(fonts) + 1
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        (f"<< /Type /Pages /Count {len(pages)} /Kids ["
         + " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
         + "] >>").encode(),
    ]
    font_refs = []
    for number, (name, base) in enumerate(fonts.items(), start=3):
        objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} "
                       "/Encoding /WinAnsiEncoding >>".encode())
        font_refs.append(f"/{name} {number} 0 R")
    objects.append(f"<< /Title ({_escape(title)}) /Producer (Analytics Engine) >>".encode())
    info = len(objects)
    for i, page in enumerate(pages):
        stream = "\n".join(page.commands).encode("latin-1")
        objects.append((
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << {' '.join(font_refs)} >> >> "
            f"/Contents {first_page + 2 * i + 1} 0 R >>").encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, info, xref)
    return bytes(out)
