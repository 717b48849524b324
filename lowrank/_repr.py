"""One short ``repr`` for the package's result dataclasses: a summary, never a dump of arrays.

``print(result)`` must stay readable (under 2 KB) whatever the size of the arrays a result holds:
arrays show their shape and dtype (their values when they hold at most 6 numbers), sequences
their length, nested results their own short repr.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["compact_repr", "MAX_REPR"]

#: longest repr produced (characters)
MAX_REPR = 2000
_MAX_FIELD = 160


def _value(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 6 and value.dtype.kind in "biufc":
            text = np.array2string(value, precision=6, separator=", ", max_line_width=10**6)
            return text.replace("\n", "")
        return f"<array {value.shape} {value.dtype}>"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, dict) and len(value) > 4:
        return f"<dict of {len(value)}: {', '.join(map(str, list(value)[:4]))}, ...>"
    text = repr(value).replace("\n", " ")
    if len(text) > _MAX_FIELD:
        if isinstance(value, (list, tuple)):
            return f"<{type(value).__name__} of {len(value)}>"
        return text[: _MAX_FIELD - 3] + "..."
    return text


def compact_repr(self) -> str:
    """``ClassName(field=summary, ...)`` over the dataclass fields that are shown in its repr."""
    parts = [
        f"{f.name}={_value(getattr(self, f.name))}"
        for f in dataclasses.fields(self)
        if f.repr
    ]
    text = f"{type(self).__name__}({', '.join(parts)})"
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 4] + "...)"
