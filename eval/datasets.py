"""Evaluation datasets: QA items with gold answers, evidence pages and the PDF they ask about.

Three sources, one item type (`QAItem`):

- `load_qa_jsonl(qa_path, docs_dir)`: the dev corpus format (`qa.jsonl`: id, doc, question,
  answer, evidence_pages, source, extra) with the PDFs in `docs_dir` (default: beside the file).
  MMLongBench-Doc rows carry `answer_format`, `doc_type` and `unanswerable` in `extra`;
  FinanceBench rows carry none, so their format is inferred (`scoring.infer_answer_format`) and
  their document type is "Financial report" (FinanceBench only has SEC filings and earnings
  releases).
- `load_lara_text(qa_path, cache_dir)`: LaRA (`qa_lara_text.jsonl` + `lara_text/*.txt`): plain
  texts without pages. Each text is rendered into a simple PDF (`render_text_pdf`, cached by
  content) so that the project's PDF ingestion handles it like any other document; items point
  at the rendered PDF. `evidence_pages` stays None (LaRA has no pages); task "hallu" questions
  are unanswerable by design.
- `generated_dataset(out_dir)`: a small dataset the project writes itself (3 PDFs made with
  PyMuPDF, known facts on known pages), in the `qa.jsonl` format: usable without the dev corpus.

    python -m eval.datasets ../shared/corpus/dev/qa.jsonl --docs ../shared/corpus/dev
    python -m eval.datasets ../shared/corpus/dev/qa_lara_text.jsonl --cache eval/out/lara-pdfs
    python -m eval.datasets --generate eval/out/generated

Example:
    >>> qa, docs = generated_dataset(Path("gen"))  # doctest: +SKIP
    >>> items = load_qa_jsonl(qa, docs)  # doctest: +SKIP
    >>> items[0].answer_format, items[0].evidence_pages  # doctest: +SKIP
    ('Int', [2])
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pymupdf
from pydantic import BaseModel, Field

from eval.scoring import ANSWER_FORMATS, AnswerFormat, infer_answer_format, is_not_answerable
from ingest.demo import PageWriter, save_pdf

_pymupdf: Any = pymupdf

__all__ = [
    "GENERATED_SOURCE",
    "QAItem",
    "generated_dataset",
    "load_items",
    "load_lara_text",
    "load_qa_jsonl",
    "main",
    "read_jsonl",
    "render_text_pdf",
]

GENERATED_SOURCE = "docqa generated"
FINANCEBENCH_DOC_TYPE = "Financial report"
_LARA_DOC_TYPES = {
    "financial": "Financial report",
    "paper": "Academic paper",
    "novel": "Novel",
}


class QAItem(BaseModel):
    """One question about one document, with its gold answer."""

    id: str
    doc: str
    """The document's file name (relative to the docs folder), as named in the QA file; for LaRA
    the rendered PDF's name."""
    doc_path: Path | None = None
    """Where the PDF is on this machine (resolved when loading), None when it is missing."""
    question: str
    answer: str
    """The gold answer as given upstream (scorers clean it, see `scoring.clean_gold`)."""
    evidence_pages: list[int] | None = None
    """1-based physical pages; [] when unanswerable or unknown, None when the source has no pages
    (LaRA texts)."""
    answer_format: AnswerFormat
    format_inferred: bool = False
    """True when the source had no format and `infer_answer_format` chose it."""
    unanswerable: bool = False
    doc_type: str | None = None
    source: str
    """The dataset: "MMLongBench-Doc", "FinanceBench", "LaRA", "docqa generated"."""
    task: str | None = None
    """LaRA's task (location, reasoning, comp, hallu)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Upstream metadata, unchanged (plus `source_full`, and `text_doc` for LaRA)."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (blank lines skipped)."""
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{n}: not JSON: {exc.msg}") from exc
    return rows


def _short_source(source: str) -> str:
    return source.split(" (", 1)[0].strip() or source


def _item_from_row(row: dict[str, Any], *, doc: str, doc_path: Path | None) -> QAItem:
    extra: dict[str, Any] = dict(row.get("extra") or {})
    source_full = str(row.get("source") or "")
    source = _short_source(source_full)
    answer = str(row["answer"])
    unanswerable = bool(extra.get("unanswerable", False)) or is_not_answerable(answer)
    upstream = extra.get("answer_format")
    if upstream in ANSWER_FORMATS:
        fmt: AnswerFormat = upstream
        inferred = False
    else:
        fmt = infer_answer_format(answer, unanswerable)
        inferred = True
    if unanswerable:
        fmt = "None"
    doc_type = extra.get("doc_type")
    if not doc_type and source == "FinanceBench":
        doc_type = FINANCEBENCH_DOC_TYPE
    pages = row.get("evidence_pages")
    evidence = None if pages is None else [int(p) for p in pages]
    if evidence is not None and any(p < 1 for p in evidence):
        raise ValueError(f"{row['id']}: evidence pages are 1-based, got {evidence}")
    return QAItem(
        id=str(row["id"]),
        doc=doc,
        doc_path=doc_path,
        question=str(row["question"]),
        answer=answer,
        evidence_pages=evidence,
        answer_format=fmt,
        format_inferred=inferred,
        unanswerable=unanswerable,
        doc_type=str(doc_type) if doc_type else None,
        source=source,
        task=extra.get("task"),
        extra={**extra, "source_full": source_full},
    )


def load_qa_jsonl(qa_path: Path, docs_dir: Path | None = None) -> list[QAItem]:
    """Items of a `qa.jsonl` file whose `doc` names a PDF in `docs_dir` (default: the file's
    folder). `doc_path` is None for documents that are not there (they are kept, so that a run
    can report them as errors)."""
    docs = (docs_dir or qa_path.parent).resolve()
    items: list[QAItem] = []
    for row in read_jsonl(qa_path):
        doc = str(row["doc"])
        path = docs / doc
        items.append(_item_from_row(row, doc=doc, doc_path=path if path.is_file() else None))
    return items


# --- LaRA: plain text rendered into PDFs --------------------------------------------------------

RENDER_VERSION = "1"
"""Part of the cache key: bump it when `render_text_pdf`'s layout changes."""
_PAGE_W, _PAGE_H, _MARGIN = 612.0, 792.0, 54.0
_FONT_SIZE, _LEADING = 10.0, 13.0
# Helvetica (a PDF base font) only covers Latin-1: typographic punctuation becomes ASCII
_LATIN1 = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "–": "-",
        "—": "-",
        "−": "-",
        "•": "-",
        "†": "+",
        "‡": "+",
        "…": "...",
        "\u202f": " ",
        "\u2009": " ",
        "\u00a0": " ",
        "\t": " ",
    }
)


def _to_latin1(text: str) -> str:
    text = text.translate(_LATIN1)
    if all(ord(c) < 256 for c in text):
        return text
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return folded.encode("latin-1", "replace").decode("latin-1")


@lru_cache(maxsize=1)
def _font() -> Any:
    return _pymupdf.Font("helv")


def _wrap_lines(text: str, width: float) -> list[str]:
    """Greedy word wrap with per-word widths (fast enough for a 400 KB text); blank source lines
    become one empty line."""
    font = _font()
    widths: dict[str, float] = {}

    def w(word: str) -> float:
        if word not in widths:
            widths[word] = float(font.text_length(word, fontsize=_FONT_SIZE))
        return widths[word]

    space = w(" ")
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            if out and out[-1]:
                out.append("")
            continue
        current: list[str] = []
        used = 0.0
        for word in words:
            ww = w(word)
            if current and used + space + ww > width:
                out.append(" ".join(current))
                current, used = [word], ww
            else:
                used = used + space + ww if current else ww
                current.append(word)
        out.append(" ".join(current))
    while out and not out[-1]:
        out.pop()
    return out


def render_text_pdf(txt_path: Path, cache_dir: Path, title: str | None = None) -> Path:
    """Render a plain-text document into a simple PDF (US Letter, Helvetica 10 pt, pages of
    wrapped lines, no headers or page numbers), so that the existing PDF ingestion handles it.

    Cached by content: `cache_dir/<sha256 prefix>/<stem>.pdf` is written once per text (and
    renderer version) and reused. Text that Helvetica cannot draw is mapped to ASCII/Latin-1
    (curly quotes, dashes, bullets); PyMuPDF's text extraction of the result returns the text
    with that mapping and the line wrapping as the only changes.
    """
    raw = txt_path.read_bytes()
    digest = hashlib.sha256(RENDER_VERSION.encode() + b"\0" + raw).hexdigest()[:16]
    out = cache_dir / digest / f"{txt_path.stem}.pdf"
    if out.is_file():
        return out
    lines = _wrap_lines(_to_latin1(raw.decode("utf-8", errors="replace")), _PAGE_W - 2 * _MARGIN)
    per_page = max(int((_PAGE_H - 2 * _MARGIN) // _LEADING), 1)
    doc = _pymupdf.open()
    for start in range(0, max(len(lines), 1), per_page):
        page = doc.new_page(width=_PAGE_W, height=_PAGE_H)
        chunk = lines[start : start + per_page]
        if any(chunk):
            page.insert_text(
                (_MARGIN, _MARGIN + _FONT_SIZE),
                "\n".join(chunk),
                fontsize=_FONT_SIZE,
                fontname="helv",
                lineheight=_LEADING / _FONT_SIZE,
            )
    doc.set_metadata({"title": title or txt_path.stem, "creator": "docqa eval (text to PDF)"})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    doc.save(str(tmp), garbage=3, deflate=True)
    doc.close()
    tmp.replace(out)
    return out


def _lara_doc_type(item_id: str) -> str | None:
    # ids look like lara_128k_financial_location_0: context length, domain, task, index
    parts = item_id.split("_")
    if len(parts) >= 3 and parts[0] == "lara":
        return _LARA_DOC_TYPES.get(parts[2], parts[2].capitalize())
    return None


def load_lara_text(qa_path: Path, cache_dir: Path, text_root: Path | None = None) -> list[QAItem]:
    """Items of a LaRA text QA file (`qa_lara_text.jsonl`), each text rendered into a PDF in
    `cache_dir` (see `render_text_pdf`). `doc` in the file is relative to `text_root` (default:
    the file's folder); items name the rendered PDF (`doc`, `doc_path`), and keep the text's
    name in `extra["text_doc"]`. Texts that are missing leave `doc_path` None."""
    root = (text_root or qa_path.parent).resolve()
    rendered: dict[str, Path | None] = {}
    items: list[QAItem] = []
    for row in read_jsonl(qa_path):
        text_doc = str(row["doc"])
        if text_doc not in rendered:
            src = root / text_doc
            rendered[text_doc] = render_text_pdf(src, cache_dir) if src.is_file() else None
        pdf = rendered[text_doc]
        doc = pdf.name if pdf is not None else f"{Path(text_doc).stem}.pdf"
        item = _item_from_row(row, doc=doc, doc_path=pdf)
        item.extra["text_doc"] = text_doc
        if item.doc_type is None:
            item.doc_type = _lara_doc_type(item.id)
        items.append(item)
    return items


def load_items(
    qa_path: Path, docs_dir: Path | None = None, cache_dir: Path | None = None
) -> list[QAItem]:
    """Either format, told apart by the documents it names: `.txt` documents are LaRA texts
    (rendered into `cache_dir`, required then), anything else PDFs in `docs_dir`."""
    rows = read_jsonl(qa_path)
    if rows and all(str(r.get("doc", "")).lower().endswith(".txt") for r in rows):
        if cache_dir is None:
            raise ValueError(f"{qa_path.name} names text documents: give a cache_dir for PDFs")
        return load_lara_text(qa_path, cache_dir, text_root=docs_dir)
    return load_qa_jsonl(qa_path, docs_dir)


# --- the generated dataset ----------------------------------------------------------------------

_SURVEY = "kestrel_valley_survey_2024.pdf"
_RESULTS = "brannock_tools_q3_2024.pdf"
_HANDBOOK = "lindqvist_site_handbook.pdf"

_SURVEY_PAGES: list[tuple[str, list[str]]] = [
    (
        "Kestrel Valley Wetland Survey 2024",
        [
            "This report summarises the 2024 field season of the Kestrel Valley wetland survey, "
            "which monitors breeding birds, water quality and invasive plants along the valley "
            "floor between the Harl weir and the northern reed beds.",
            "Fieldwork ran from April to August. Results are compared with the previous season "
            "where the methods were the same.",
        ],
    ),
    (
        "Breeding birds",
        [
            "Field teams counted 347 breeding pairs of reed warblers along the northern shore, "
            "the highest count since monitoring began.",
            "Marsh harriers nested again in the eastern reed bed, and bitterns were heard "
            "booming at two sites in May.",
        ],
    ),
    (
        "Water quality and invasive plants",
        [
            "Monthly samples were taken at six stations. The average dissolved oxygen level "
            "was 7.85 mg/L over the season, well above the threshold for fish.",
            "Three invasive plant species were recorded on the banks: Himalayan balsam, "
            "Japanese knotweed and giant hogweed. Volunteers cleared balsam from two "
            "kilometres of the western bank.",
        ],
    ),
    (
        "Survey team",
        [
            "The survey was led by hydrologist Oriane Castellane of the Pellworth Institute, "
            "with eleven volunteers from the valley villages.",
            "Data are archived with the regional biodiversity records centre.",
        ],
    ),
]

_RESULTS_TABLE = [
    ["Segment", "Q3 2024 revenue", "Q3 2023 revenue", "Operating income"],
    ["Hand tools", "12,480", "11,905", "2,115"],
    ["Power tools", "18,362", "16,770", "3,408"],
    ["Garden equipment", "6,215", "6,940", "522"],
]

_HANDBOOK_TOPICS = [
    "Site access and badges",
    "Working hours",
    "Personal protective equipment",
    "Tool checkout",
    "Vehicle movements",
    "Waste sorting",
    "Working at height",
    "Hot work permits",
    "Emergencies",
    "Contacts",
]


def _survey_pdf(path: Path) -> Path:
    doc = _pymupdf.open()
    writer = PageWriter(doc)
    for i, (heading, paragraphs) in enumerate(_SURVEY_PAGES):
        if i:
            writer.new_page()
        writer.heading(heading, 18 if i == 0 else 14)
        for p in paragraphs:
            writer.paragraph(p)
    return save_pdf(doc, path, "Kestrel Valley Wetland Survey 2024", creator="docqa eval")


def _results_pdf(path: Path) -> Path:
    doc = _pymupdf.open()
    writer = PageWriter(doc)
    writer.heading("Brannock Tools plc - Third quarter 2024 results", 18)
    writer.paragraph(
        "Brannock Tools makes hand tools, power tools and garden equipment for trade and retail "
        "customers. Demand for cordless power tools stayed strong through the summer, while "
        "garden equipment suffered from a wet August."
    )
    writer.new_page()
    writer.heading("Segment results", 14)
    writer.paragraph("Amounts in thousands of US dollars.")
    writer.table(_RESULTS_TABLE, [130.0, 110.0, 110.0, 110.0])
    writer.new_page()
    writer.heading("Outlook", 14)
    writer.paragraph(
        "The company expects to open its Lisbon distribution hub in March 2025 and will "
        "report fourth quarter results in February."
    )
    return save_pdf(doc, path, "Brannock Tools Q3 2024 results", creator="docqa eval")


def _handbook_pdf(path: Path) -> Path:
    doc = _pymupdf.open()
    writer = PageWriter(doc)
    for i, topic in enumerate(_HANDBOOK_TOPICS, 1):
        if i > 1:
            writer.new_page()
        writer.heading(f"{i}. {topic}", 14)
        if topic == "Emergencies":
            writer.paragraph(
                "When the siren sounds, stop work, leave the building by the nearest exit and "
                "go to the emergency assembly point in the east car park. Wardens in orange "
                "vests take the roll call there."
            )
        else:
            writer.paragraph(
                f"This section of the Lindqvist site handbook covers {topic.lower()}. Read it "
                "before your first shift and ask your supervisor when anything is unclear."
            )
            writer.paragraph(
                "Rules in this section apply to employees, contractors and visitors alike, "
                f"and are reviewed every spring (section {i})."
            )
    return save_pdf(doc, path, "Lindqvist site handbook", creator="docqa eval")


def _qa_row(
    id_: str,
    doc: str,
    question: str,
    answer: str,
    pages: list[int],
    fmt: AnswerFormat,
    doc_type: str,
    evidence_text: Sequence[str] = (),
    sources: Sequence[str] = ("Pure-text (Plain-text)",),
) -> dict[str, Any]:
    unanswerable = fmt == "None"
    return {
        "id": id_,
        "doc": doc,
        "question": question,
        "answer": answer,
        "evidence_pages": pages,
        "source": f"{GENERATED_SOURCE} (eval/datasets.py generated_dataset)",
        "extra": {
            "answer_format": fmt,
            "doc_type": doc_type,
            "evidence_sources": [] if unanswerable else list(sources),
            "unanswerable": unanswerable,
            "evidence_text": list(evidence_text),
        },
    }


def _generated_rows() -> list[dict[str, Any]]:
    report, finance, guide = "Research report / Introduction", "Financial report", "Guidebook"
    return [
        _qa_row(
            "gen_int_warblers",
            _SURVEY,
            "How many breeding pairs of reed warblers did the field teams count?",
            "347",
            [2],
            "Int",
            report,
            ["counted 347 breeding pairs of reed warblers"],
        ),
        _qa_row(
            "gen_float_oxygen",
            _SURVEY,
            "What was the average dissolved oxygen level over the season, in mg/L?",
            "7.85",
            [3],
            "Float",
            report,
            ["average dissolved oxygen level", "7.85 mg/L"],
        ),
        _qa_row(
            "gen_str_leader",
            _SURVEY,
            "Who led the Kestrel Valley survey?",
            "Oriane Castellane",
            [4],
            "Str",
            report,
            ["led by hydrologist Oriane Castellane"],
        ),
        _qa_row(
            "gen_list_invasive",
            _SURVEY,
            "Which invasive plant species were recorded on the banks?",
            "['Himalayan balsam', 'Japanese knotweed', 'giant hogweed']",
            [3],
            "List",
            report,
            ["Himalayan balsam", "Japanese knotweed", "giant hogweed"],
        ),
        _qa_row(
            "gen_none_budget",
            _SURVEY,
            "What was the total budget of the Kestrel Valley survey?",
            "Not answerable",
            [],
            "None",
            report,
        ),
        _qa_row(
            "gen_table_power_tools",
            _RESULTS,
            "What was Brannock Tools' power tools revenue in the third quarter of 2024?",
            "$18.362 million",
            [2],
            "Float",
            finance,
            ["18,362", "Amounts in thousands of US dollars."],
            ("Table",),
        ),
        _qa_row(
            "gen_none_dividend",
            _RESULTS,
            "What dividend per share did Brannock Tools declare for the third quarter?",
            "Not answerable",
            [],
            "None",
            finance,
        ),
        _qa_row(
            "gen_str_assembly",
            _HANDBOOK,
            "Where is the emergency assembly point of the Lindqvist site?",
            "the east car park",
            [9],
            "Str",
            guide,
            ["emergency assembly point in the east car park"],
        ),
    ]


def generated_dataset(out_dir: Path) -> tuple[Path, Path]:
    """Write the project's own small dataset into `out_dir` and return `(qa_path, docs_dir)`:
    `docs/` with 3 PDFs made with PyMuPDF (a 4-page survey report, a 3-page quarterly report whose
    segment table is in thousands of dollars, a 10-page handbook) and `qa.jsonl` in the dev corpus
    format: an Int, a Float, a Str, a List question, a table question with a numeric answer
    (gold "$18.362 million" for the cell "18,362" under "Amounts in thousands"), a Str question
    on page 9 of the handbook and two unanswerable questions. `extra.evidence_text` holds the
    strings that stand on each evidence page (and on no other page of the document)."""
    docs = out_dir / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    _survey_pdf(docs / _SURVEY)
    _results_pdf(docs / _RESULTS)
    _handbook_pdf(docs / _HANDBOOK)
    qa = out_dir / "qa.jsonl"
    qa.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _generated_rows()),
        encoding="utf-8",
    )
    return qa, docs


# --- command line -------------------------------------------------------------------------------


def _summary(items: Iterable[QAItem]) -> dict[str, Any]:
    items = list(items)
    return {
        "items": len(items),
        "documents": len({i.doc for i in items}),
        "missing_documents": sorted({i.doc for i in items if i.doc_path is None}),
        "unanswerable": sum(i.unanswerable for i in items),
        "by_source": dict(Counter(i.source for i in items)),
        "by_format": dict(Counter(i.answer_format for i in items)),
        "inferred_formats": sum(i.format_inferred for i in items),
        "by_doc_type": dict(Counter(i.doc_type or "unknown" for i in items)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.datasets", description="Load (and check) or generate QA datasets."
    )
    parser.add_argument("qa", nargs="?", type=Path, help="a qa.jsonl or qa_lara_text.jsonl file")
    parser.add_argument("--docs", type=Path, help="folder of the PDFs (default: beside the file)")
    parser.add_argument("--cache", type=Path, help="folder for PDFs rendered from LaRA texts")
    parser.add_argument("--generate", type=Path, metavar="DIR", help="write the generated set")
    args = parser.parse_args(argv)
    if args.generate is not None:
        qa, docs = generated_dataset(args.generate)
        args.qa, args.docs = qa, docs
    if args.qa is None:
        parser.error("give a QA file or --generate DIR")
    try:
        items = load_items(args.qa, args.docs, args.cache)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"qa": str(args.qa), **_summary(items)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
