"""Text that came from a demo (its output, its error) made safe for every file a record reaches.

A demo may print anything: colour codes, NUL, BEL, half of a surrogate pair. XML
1.0 forbids most control characters (one makes junit.xml unparseable), git calls a
file with a NUL binary, and a terminal obeys escape sequences. A record therefore
keeps none of them (`CellResult` cleans its text fields), and Markdown gets no raw
HTML from a record: a `<script>` or `<!--` in an error would be read as markup.
"""

from __future__ import annotations

import re

# terminal escape sequences: CSI (colours, cursor moves), OSC (titles, links), and the two-character ones
_ESCAPE_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
# control characters other than tab and newline, lone surrogates, and the two non-characters XML forbids
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# what starts raw HTML in Markdown (a tag, a closing tag, a comment, a declaration); `a < b` stays as it is
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")


def clean_text(text: str) -> str:
    """The text without escape sequences or control characters; tab and newline stay, a carriage return ends a
    line (progress bars redraw with it)."""
    if not _UNSAFE.search(text):
        return text
    text = _ESCAPE_SEQUENCES.sub("", text.replace("\r\n", "\n"))
    return _UNSAFE.sub(lambda m: "\n" if m.group() == "\r" else "", text)


def markdown_text(text: str, limit: int | None = None) -> str:
    """Clean text as one line of a Markdown table cell or list item: no line break, no raw HTML, no column
    break; cut to `limit` characters before escaping, so an escape is never cut in half."""
    line = " ".join(clean_text(text).split())
    if limit is not None:
        line = line[:limit]
    return _HTML_START.sub("&lt;", line).replace("|", "\\|")
