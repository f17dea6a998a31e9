"""What the web UI draws: verdict marks, highlighted boxes, the Markdown export."""

from __future__ import annotations

import io

from PIL import Image

from docqa.types import Answer, AnswerSentence, Box, Citation, Route, Verdict
from ui.web.highlight import ZOOM_WIDTH, highlight, zoom
from ui.web.render import answer_html, sentence_html, to_markdown


def _png(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), "white").save(out, format="PNG")
    return out.getvalue()


def test_boxes_are_drawn_where_the_page_points_say_at_the_image_scale() -> None:
    # a 100 x 50 pt page rendered at 200 x 100 px: a box at (10, 10)-(20, 20) pt is (20, 20)-(40, 40) px
    out = Image.open(
        io.BytesIO(highlight(_png(200, 100), 100, 50, [Box(page=1, x0=10, y0=10, x1=20, y1=20)]))
    )
    inside, outside = out.getpixel((30, 30)), out.getpixel((150, 80))
    assert outside == (255, 255, 255)
    assert isinstance(inside, tuple) and inside[2] < 200 < inside[0], "yellow over white"
    assert out.size == (200, 100)


def test_sentences_carry_their_verdict_and_score_and_are_escaped() -> None:
    bad = AnswerSentence(
        text="Revenue <b>fell</b>.", citations=[2], verdict=Verdict.unsupported, score=0.12
    )
    html = sentence_html(bad)
    assert 'class="docqa-unsupported"' in html and "score 0.12" in html
    assert "&lt;b&gt;fell" in html and "<sup>[2]</sup>" in html and "[unsupported]" in html
    good = AnswerSentence(text="Revenue rose.", citations=[1], verdict=Verdict.supported, score=0.9)
    assert 'class="docqa-supported"' in sentence_html(good)
    assert "[supported]" not in sentence_html(good), "only doubt is spelled out"
    plain = AnswerSentence(text="In short:", claim=False)
    assert "docqa-" not in sentence_html(plain)


def test_an_extra_citation_is_faded_and_says_why() -> None:
    s = AnswerSentence(
        text="Revenue rose.",
        citations=[1, 2],
        verdict=Verdict.supported,
        score=0.9,
        extra_citations=[2],
    )
    html = sentence_html(s)
    assert "<sup>[1]</sup>" in html, "the needed citation is drawn as ever"
    extra = html[html.index('<sup class="docqa-extra"') :]
    assert extra.startswith('<sup class="docqa-extra" title="not needed') and "[2]</sup>" in extra
    assert html.count("docqa-extra") == 1


def test_markdown_export_keeps_questions_answers_flags_and_quotes() -> None:
    a = Answer(
        question="What was revenue?",
        answer="Revenue was $5 [1]. It doubled [1].",
        abstained=False,
        sentences=[
            AnswerSentence(text="Revenue was $5.", citations=[1], verdict=Verdict.supported),
            AnswerSentence(text="It doubled.", citations=[1], verdict=Verdict.unsupported),
        ],
        citations=[Citation(n=1, doc_id="d", path="/x/report.pdf", page=3, quote="Revenue was $5")],
        route=Route(strategy="rag", reasons=["asked for"]),
        caveats=["This question is about what a picture shows ('red bar')."],
    )
    md = to_markdown([a])
    assert "> This question is about what a picture shows ('red bar')." in md
    assert "## What was revenue?" in md and "Revenue was $5 [1]." in md
    assert "- *unsupported*: It doubled." in md
    assert "- [1] report.pdf p. 3: “Revenue was $5”" in md
    assert answer_html(a).count("<span") == 2


def test_zoom_crops_around_the_boxes_with_a_margin_and_scales_up() -> None:
    box = Box(page=1, x0=10, y0=20, x1=20, y1=25)
    out = Image.open(io.BytesIO(zoom(_png(200, 100), 100, 50, [box], margin=5)))
    # 5..25 x 15..30 pt at 2 px/pt: 41 x 31 px, scaled up to ZOOM_WIDTH wide
    assert out.width == ZOOM_WIDTH and abs(out.height - round(31 * ZOOM_WIDTH / 41)) <= 1
    assert zoom(b"same", 100, 50, []) == b"same"


def test_context_boxes_are_outlined_but_not_filled() -> None:
    line = Box(page=1, x0=10, y0=10, x1=40, y1=15)
    passage = Box(page=1, x0=10, y0=10, x1=80, y1=40)
    out = Image.open(io.BytesIO(highlight(_png(200, 100), 100, 50, [line], [passage])))
    filled, inside_passage = out.getpixel((50, 25)), out.getpixel((100, 60))
    assert isinstance(filled, tuple) and filled[2] < 200, "the quoted line is filled"
    assert inside_passage == (255, 255, 255), "the rest of the passage is not"
    edge = out.getpixel((2 * (80 + 5), 60))
    assert edge != (255, 255, 255), "but outlined"
