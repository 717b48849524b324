"""The README's tour runs as written (its python blocks, in order, in one namespace)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_first_block_has_two_lines():
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    lines = blocks[0].strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("python -m lowrank demo")


def test_readme_python_snippets_run():
    code = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    assert code
    namespace: dict = {}
    for block in code:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
