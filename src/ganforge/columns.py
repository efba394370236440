"""Text laid out in columns as a terminal shows it: a CJK character (运行, 猫) takes two columns, so
padding by characters (``str.ljust``, ``f"{s:16s}"``) pushes the next column right by one per character.
Widths come from tqdm's ``disp_len``, which the progress bar measures its own text with."""
from __future__ import annotations

from tqdm.utils import disp_len


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` columns, on the left where ``right`` (numbers)."""
    spaces = " " * max(width - disp_len(text), 0)
    return spaces + text if right else text + spaces


def clip(text: str, width: int) -> str:
    """The longest start of ``text`` that fits in ``width`` columns."""
    while disp_len(text) > width:
        text = text[:-1]
    return text
