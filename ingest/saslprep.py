"""SASLprep (RFC 4013, a stringprep profile of RFC 3454) for the passwords of AES-256 PDFs.

PDF 2.0 (ISO 32000-2, 7.6.4.3.3/7.6.4.4.10) asks that a revision 6 password be processed with
SASLprep, encoded as UTF-8 and truncated to 127 bytes before it is hashed. MuPDF truncates but
does not prepare, so a correct password typed with a soft hyphen, a ligature or a no-break
space is refused by it; `saslprep` is applied first (see `ingest.parse.open_pdf`).

Stringprep is defined over Unicode 3.2: the stdlib `stringprep` tables and
`unicodedata.ucd_3_2_0` are that version. Unassigned code points are allowed (this is a query
against a stored password, not the storing of one).

Example:
    >>> saslprep("I\\u00adX")
    'IX'
    >>> saslprep("\\u2168")
    'IX'
"""

from __future__ import annotations

import stringprep
import unicodedata

_PROHIBITED = (
    ("a non-ASCII space", stringprep.in_table_c12),
    ("an ASCII control character", stringprep.in_table_c21),
    ("a control character", stringprep.in_table_c22),
    ("a private-use character", stringprep.in_table_c3),
    ("a non-character code point", stringprep.in_table_c4),
    ("a surrogate code point", stringprep.in_table_c5),
    ("a character inappropriate for plain text", stringprep.in_table_c6),
    ("a character inappropriate for canonical representation", stringprep.in_table_c7),
    ("a display-changing or deprecated character", stringprep.in_table_c8),
    ("a tagging character", stringprep.in_table_c9),
)


class SaslprepError(ValueError):
    """The string holds a character SASLprep prohibits, or breaks its bidirectional rule."""


def saslprep(text: str) -> str:
    """`text` prepared by RFC 4013: non-ASCII spaces become U+0020, characters "commonly
    mapped to nothing" (soft hyphen, zero-width joiners, variation selectors...) are removed,
    the result is NFKC-normalised ("ﬁ" -> "fi", fullwidth "Ａ" -> "A"), then checked.

    Raises `SaslprepError` for prohibited output (RFC 4013 section 2.3) or a string that mixes
    right-to-left and left-to-right characters, or does not begin and end with a right-to-left
    one when it has any (RFC 3454 section 6).
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    for c in prepared:
        for what, in_table in _PROHIBITED:
            if in_table(c):
                raise SaslprepError(f"contains {what} (U+{ord(c):04X})")
    if any(stringprep.in_table_d1(c) for c in prepared):
        if any(stringprep.in_table_d2(c) for c in prepared):
            raise SaslprepError("mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise SaslprepError("right-to-left text must begin and end with a right-to-left letter")
    return prepared
