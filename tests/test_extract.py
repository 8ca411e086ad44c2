"""retrieval.extract: each format's text and metadata, and every way a file is refused (fixtures made here)."""

from __future__ import annotations

import gzip
import io
import json
import os
import time
import tracemalloc
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject

from retrieval.extract import MAX_BYTES, SUFFIXES, ExtractionError, extract, extract_file, format_of, main

PROSE = (
    "The city council met on Tuesday to discuss next year's budget. The mayor said the plan would be "
    "published within a week, and that the new library would open in the spring.\n"
)

PAGE = b"""<!DOCTYPE html>
<html><head><title>River floods the old town | Example News</title>
<meta name="author" content="Jane Reporter">
<meta property="article:published_time" content="2024-03-15T10:00:00Z">
<link rel="canonical" href="https://news.example.com/2024/03/15/river-flood">
<meta property="og:title" content="River floods the old town">
<script>var token = "SCRIPT-SECRET"; document.write("SCRIPT-WRITTEN");</script></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li>
<li><a href="/sport">Sport section</a></li></ul></nav>
<article><h1>River floods the old town</h1>
<p>The river burst its banks on Friday morning, flooding dozens of homes in the old town and forcing the
council to open an emergency shelter in the school gym.</p>
<p>Residents said the water rose faster than anyone expected. "We had ten minutes to get out," said one
shop owner, who lost most of her stock.</p>
<p>The weather service expects more rain over the weekend and has issued a warning for the whole valley.</p>
</article>
<div id="comments" class="comments"><h3>Comments</h3><p>READER-COMMENT: this council never fixes anything, and
the flood defences were promised years ago.</p></div>
<footer><p>Copyright 2024 Example News. All rights reserved. Privacy policy. Contact us.</p></footer>
</body></html>"""


def make_pdf(pages: list[list[str]], metadata: dict | None = None, password: str | None = None) -> bytes:
    """A real PDF with a Helvetica text layer, one line per string."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        content = StreamObject()
        content.set_data(("BT /F1 12 Tf 14 TL 72 720 Td " + "".join(f"({x}) Tj T* " for x in lines) + "ET").encode())
        page.replace_contents(content)
    if metadata:
        writer.add_metadata(metadata)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], title: str = "", author: str = "") -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = author
    document.core_properties.created = datetime(2023, 11, 2, 9, 30, tzinfo=timezone.utc)
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def refused(name: str, data: bytes) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(name, data)
    return str(info.value)


def test_format_of_goes_by_suffix_case_insensitively():
    assert [format_of(n) for n in ("a.TXT", "b.md", "c.htm", "d.Html.GZ", "e.pdf", "f.DOCX")] == [
        "text",
        "markdown",
        "html",
        "html",
        "pdf",
        "docx",
    ]
    assert format_of("notes.gz") is None and format_of("sheet.xlsx") is None
    assert all(format_of("x" + suffix) for suffix in SUFFIXES)


def test_utf8_text_title_is_the_first_line_and_body_the_rest():
    item = extract("a.txt", f"\n  Budget approved  \r\n{PROSE}\r\nSecond paragraph.\r\n".encode())
    assert (item.format, item.title, item.author, item.date, item.url) == ("text", "Budget approved", None, None, None)
    assert item.text == f"{PROSE}\nSecond paragraph.\n"  # as in the file, but "\r\n" -> "\n"


def test_cp1252_text_is_decoded_by_charset_normalizer():
    body = f"{PROSE}Café São Paulo — naïve visitors queued for “the best coffee in town”.\n{PROSE}"
    item = extract("a.txt", f"Coffee report\n{body}".encode("cp1252"))
    assert item.title == "Coffee report"
    assert "Café São Paulo — naïve" in item.text and "“the best coffee in town”" in item.text


def test_utf16_with_bom_is_decoded():
    item = extract("a.txt", f"Título\n{PROSE}".encode("utf-16"))  # Python writes the BOM
    assert item.title == "Título" and item.text == PROSE


@pytest.mark.parametrize(
    "data",
    [os.urandom(4096), b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8],
    ids=["random", "png"],
)
def test_binary_file_is_refused(data):
    assert refused("a.txt", data) == "binary file, not text"


def test_empty_and_title_only_text_are_refused():
    assert refused("a.txt", b" \n\t\n") == "empty (no text)"
    assert refused("a.md", b"# Just a heading\n\n") == "has a title line but no body"


def test_markdown_title_loses_its_hash_but_the_body_keeps_its_own():
    item = extract("a.md", f"# Council budget\n\n## Details\n{PROSE}".encode())
    assert (item.format, item.title) == ("markdown", "Council budget")
    assert item.text == f"\n## Details\n{PROSE}"


def test_html_article_with_metadata_and_no_boilerplate():
    item = extract("flood.html", PAGE)
    assert item.format == "html"
    assert item.title == "River floods the old town"
    assert (item.author, item.date) == ("Jane Reporter", "2024-03-15")
    assert item.url == "https://news.example.com/2024/03/15/river-flood"
    assert item.text.startswith("The river burst its banks")  # the title is not repeated in the body
    assert "ten minutes to get out" in item.text and "warning for the whole valley" in item.text
    for unwanted in ("SCRIPT-SECRET", "SCRIPT-WRITTEN", "Sport section", "All rights reserved", "READER-COMMENT"):
        assert unwanted not in item.text


def test_gzipped_html_is_decompressed():
    item = extract("flood.HTML.GZ", gzip.compress(PAGE))
    assert (item.format, item.title, item.text) == ("html", "River floods the old town", extract("f.html", PAGE).text)


def test_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(bytes(1 << 20), 9) * 64  # 64 gzip members of 1 MB of zeros: 64 MB in ~65 kB
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        reason = refused("bomb.html.gz", bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason == "larger than 20 MB once decompressed"
    assert peak < 60 * 1024 * 1024  # stopped early: never held all 64 MB
    assert "not a readable gzip file" in refused("bad.html.gz", b"\x1f\x8b\x08garbage")


def test_deeply_nested_html_returns_or_is_refused_quickly():
    depth = 500_000
    page = b"<html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth + b"</body></html>"
    assert len(page) > 5_000_000
    started = time.perf_counter()
    try:
        extract("deep.html", page)
    except ExtractionError:
        pass
    assert time.perf_counter() - started < 10


def test_html_over_the_size_cap_is_refused():
    assert "larger than 20 MB" in refused("huge.html", b"<div>" * (MAX_BYTES // 5 + 1))


def test_pdf_pages_are_joined_and_page_at_maps_offsets_back():
    item = extract("report.pdf", make_pdf([["Quarterly report", "Sales rose."], ["Costs fell on page two."]]))
    assert item.format == "pdf" and len(item.pages) == 2
    assert item.title == "Quarterly report"  # no /Title: the first line, which stays in the body
    assert item.text.startswith("Quarterly report\nSales rose.")
    second = item.text.index("Costs fell")
    assert item.pages == (0, second)
    assert item.text[item.pages[1] - 2 : item.pages[1]] == "\n\n"
    assert [item.page_at(0), item.page_at(second - 1), item.page_at(second), item.page_at(len(item.text))] == [
        1,
        1,
        2,
        2,
    ]
    assert item.page_at(-1) is None and extract("a.txt", f"T\n{PROSE}".encode()).page_at(0) is None


def test_pdf_metadata_gives_title_author_and_date():
    metadata = {"/Title": "Annual Review", "/Author": "Ada Analyst", "/CreationDate": "D:20240315120000Z"}
    item = extract("r.pdf", make_pdf([["First line of the body."]], metadata))
    assert (item.title, item.author, item.date) == ("Annual Review", "Ada Analyst", "2024-03-15")
    assert item.text == "First line of the body."


def test_pdf_with_an_empty_user_password_is_opened():
    assert extract("r.pdf", make_pdf([["Readable although encrypted."]], password="")).title == "Readable although encrypted."


def test_password_protected_pdf_is_refused():
    assert refused("r.pdf", make_pdf([["Secret."]], password="s3cret")) == "encrypted PDF (needs a password)"


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n1 0 obj <<", os.urandom(3000)], ids=["empty", "truncated", "random"])
def test_garbage_pdf_is_refused(data):
    assert refused("r.pdf", data).startswith("not a readable PDF (")


def test_pdf_without_a_text_layer_is_refused():
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(612, 792)
    writer.write(out)
    assert refused("scan.pdf", out.getvalue()) == "no text layer (a scanned PDF? run OCR first)"


def test_docx_core_properties_and_paragraphs():
    data = make_docx(["Ship sails", "", "The ship left port at dawn.", "It returns in May."], "Ship sails", "Sam Sailor")
    item = extract("ship.docx", data)
    assert (item.format, item.title, item.author, item.date) == ("docx", "Ship sails", "Sam Sailor", "2023-11-02")
    assert item.text == "The ship left port at dawn.\n\nIt returns in May."  # the repeated title is dropped


def test_docx_without_a_title_uses_its_first_paragraph():
    item = extract("ship.docx", make_docx(["", "Ship sails", "The ship left port at dawn."]))
    assert (item.title, item.text) == ("Ship sails", "The ship left port at dawn.")


def test_docx_that_is_not_a_zip_is_refused():
    assert refused("a.docx", b"PK but not really a zip archive") == "not a Word .docx file (not a zip archive)"
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("hello.txt", "not a Word document")
    assert refused("a.docx", broken.getvalue()).startswith("not a readable Word file (")


def test_docx_zip_bomb_is_refused():
    packed = io.BytesIO(make_docx(["Title", "Body."]))
    with (
        zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/image1.bin", "w") as member,
    ):
        for _ in range(16):  # 16 MB of zeros, ~16 kB packed
            member.write(bytes(1 << 20))
    assert refused("a.docx", packed.getvalue()).startswith("suspicious archive (word/media/image1.bin unpacks")


def test_file_over_the_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk

    def no_reading(self):
        raise AssertionError("read a file that is over the cap")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    with pytest.raises(ExtractionError, match="larger than 20 MB"):
        extract_file(huge)


def test_cli_json_prints_one_object_per_good_file_and_exits_1_on_any_failure(tmp_path, capsys):
    (tmp_path / "good.txt").write_text(f"Good title\n{PROSE}", encoding="utf-8")
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")
    (tmp_path / "sheet.xlsx").write_bytes(b"whatever")
    files = [str(tmp_path / n) for n in ("good.txt", "bad.pdf", "sheet.xlsx", "missing.md")]
    assert main([*files, "--json"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) == {"file", "format", "title", "author", "date", "url", "text"}
    assert (record["file"], record["title"], record["author"], record["text"]) == (
        "good.txt",
        "Good title",
        None,
        PROSE,
    )
    errors = err.splitlines()
    assert f"error: {files[1]}: not a readable PDF" in errors[0]
    assert errors[1].startswith(f"error: {files[2]}: unsupported file type") and ".docx" in errors[1]
    assert errors[2].startswith(f"error: {files[3]}: cannot read it")


def test_cli_text_output_shows_header_fields_and_body_and_exits_0(tmp_path, capsys):
    (tmp_path / "r.pdf").write_bytes(make_pdf([["Page one."], ["Page two."]], {"/Author": "Ada Analyst"}))
    assert main([str(tmp_path / "r.pdf")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== r.pdf (pdf) ==\ntitle: Page one.\nauthor: Ada Analyst\npages: 2\n\nPage one.\n\nPage two.")
    assert "date:" not in out and "url:" not in out
