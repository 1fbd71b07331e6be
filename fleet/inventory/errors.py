"""The one error an inventory import raises: where in the file, and what is wrong.

Messages quote what the file says, but never more than `QUOTE_LIMIT` characters of one value
(`shorten`, `show`): a hostile file must not turn its error into megabytes. `InventoryError`
caps the whole message as a last guard.
"""

import reprlib
from typing import Any

QUOTE_LIMIT = 120
MESSAGE_LIMIT = 2000

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = _repr.maxother = _repr.maxlong = QUOTE_LIMIT
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 8


def shorten(text: Any, limit: int = QUOTE_LIMIT) -> str:
    """`text` as a string of at most `limit` characters (the cut is marked with `…`)."""
    if isinstance(text, list | tuple | dict | set | frozenset):
        text = _repr.repr(text)  # str() of a nested value would walk all of it
    elif not isinstance(text, str):
        text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def show(value: Any) -> str:
    """A bounded `repr` of a parsed value: never walks a whole nested structure."""
    return shorten(_repr.repr(value))


class InventoryError(Exception):
    """A file that cannot be imported. Nothing is written when this is raised."""

    def __init__(self, filename: str, line: int | None, message: str) -> None:
        filename = shorten(filename, 255)
        message = shorten(message, MESSAGE_LIMIT)
        super().__init__(filename, line, message)
        self.filename = filename
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.filename}: {self.message}"
        return f"{self.filename}:{self.line}: {self.message}"
