"""What a clear error is, for the property tests: a ValueError or TypeError whose message names
the offending argument as a whole word (so "something went wrong" names nothing, and "e.g." does
not name an argument g)."""

import re


def names_argument(message: str, name: str) -> bool:
    """True if ``name`` occurs in ``message`` as a word of its own (not inside another word or a
    dotted name such as ``e.g.``; quotes and brackets around it are fine)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) is not None


def assert_clear(exc: BaseException, *names: str) -> None:
    """``exc`` is a ValueError/TypeError whose message names one of the arguments ``names``."""
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    assert any(names_argument(str(exc), name) for name in names), f"{names} not in: {exc}"
