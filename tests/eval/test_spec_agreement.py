"""Where a parting of two shown answers lies in the raw answer's tokens."""

from __future__ import annotations

from collections.abc import Sequence

from eval.spec_agreement import parting_token

PIECES = ["Sales", " rose", " [p.", " 4]", " and", " then", " fell", "."]


class _Pieces:
    def detokenize(self, ids: Sequence[int]) -> str:
        return "".join(PIECES[i] for i in ids)


def test_a_parting_in_the_shown_text_maps_past_the_shortened_citations() -> None:
    raw = list(range(len(PIECES)))
    shown = "Sales rose [4] and then fell."
    # the shown answers part at " fell" (character 23): raw token 6, though in the raw text
    # (citation "[p. 4]", 3 characters longer) character 23 falls inside " then"
    assert shown.index(" fell") == 23
    assert parting_token(_Pieces(), raw, 23) == 6  # type: ignore[arg-type]
    assert parting_token(_Pieces(), raw, 0) == 0  # type: ignore[arg-type]
    assert parting_token(_Pieces(), raw, len(shown)) == len(raw)  # type: ignore[arg-type]
