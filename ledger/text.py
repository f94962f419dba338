"""What a text field may hold. A control character (NUL above all) or a lone surrogate
cannot be stored in PostgreSQL's text or jsonb, breaks terminals and CSV exports, and is
never part of a name, a reference or a note; tabs and line breaks are."""

from __future__ import annotations

import re

# C0 controls except tab, line feed and carriage return; DEL; C1 controls; surrogates
# (JSON's \\ud800 escapes decode to them and no UTF-8 encoder accepts them alone).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def forbidden_character(value: str) -> str | None:
    """A description of the first character ``value`` may not hold, or None."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at offset {found.start()}"


def control_character_refusal(value: str) -> str | None:
    """Why ``value`` is refused, in the words every door uses (the API's, the command
    line's), or None when it may be stored."""
    bad = forbidden_character(value)
    if bad is None:
        return None
    return f"holds a control character ({bad}); only tabs and line breaks are allowed"
