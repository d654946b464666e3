"""Text that may repeat what a student typed, shown as typed inside Streamlit's Markdown.

Streamlit draws ``st.error``, ``st.warning``, ``st.info``, ``st.toast`` and captions as Markdown: an error
that repeats a student's text (``a name may hold letters ... but '**x** [a](http://e)' has ...``) would show bold
text, a link, a coloured word or a formula instead. Backslashes escape Markdown's own characters, but Streamlit
finds links ("http://", "www.", "a@b.c") and shortcodes (":material/warning:", ":red[x]") in the text *after*
Markdown is parsed: an invisible word joiner breaks those patterns and shows the same (docs: hazards, "Markdown
in text the student controls"). Only the standard library: Home's boundary uses it.
"""

from __future__ import annotations

import re

#: WORD JOINER: invisible, joins nothing, but no pattern sees through it.
JOINER = "\u2060"
#: Characters that start Markdown, HTML or LaTeX in Streamlit's text elements.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|#])")
#: A code span as :func:`cnnviz.data.images.code_name` writes names into messages: shown literally already.
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
#: What makes a line a list item, a heading's underline or a rule: "1. ", "2) ", "- ", "+ ", "===".
_BLOCK_START = re.compile(r"^(\s*\d+|\s*)([.)]|[-+=])")


def escaped(text: str, *, every_colon: bool = True) -> str:
    """``text`` (one line) with Markdown's characters escaped and links and shortcodes broken.

    ``every_colon``: a joiner after every ":" (names); else only where something follows at once
    (":red[", "http://"): ``": "`` starts no link or shortcode, and a message keeps its colons plain.
    """
    out = MARKDOWN_SPECIAL.sub(r"\\\1", text)
    out = re.sub(r"(?i)(https?|ftp)://", r"\1\\://", re.sub(r"(?i)\bwww\.", r"www\\.", out))
    colon = r":" if every_colon else r":(?=\S)"
    return re.sub(rf"@|{colon}", lambda m: m.group(0) + JOINER, out.replace("www\\.", f"www{JOINER}\\."))


def plain_text(text: object) -> str:
    r"""A message for ``st.error`` and its kin that shows exactly its characters: whatever a student typed into it
    stays text (no bold, link, icon, colour, formula, list or heading). Line breaks are kept, other invisible
    characters dropped; code spans (names the backend quoted with ``code_name``) are kept as they are.

    >>> print(plain_text("got '**x**' :red[b] $x$: `a_b`").replace(JOINER, "|"))
    got '\*\*x\*\*' :|red\[b\] \$x\$: `a_b`
    """
    lines = []
    for line in str(text).split("\n"):
        line = "".join(ch for ch in line if ch.isprintable())
        parts = _CODE_SPAN.split(line)
        line = "".join(part if i % 2 else escaped(part, every_colon=False) for i, part in enumerate(parts))
        lines.append(_BLOCK_START.sub(r"\1\\\2", line, count=1) if parts[0] else line)
    return "\n".join(lines)
