"""The README's marked Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- tested: tests/test_readme.py"
BLOCKS = re.findall(re.escape(MARKER) + r"[^\n]*\n```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_tested_examples():
    assert BLOCKS, "README.md has no Python block marked for testing"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out  # the examples print what they show
