"""The README and the pages under docs/ say what the code does: their marked Python examples run as written, every
Python block at least compiles and its imports exist, every option a documented command passes to one of our
scripts is one the script accepts, every fine-tuning command starts from a folder a documented pre-training command
writes, and every relative link (and #anchor) points at something that exists."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import runpy
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# the pages a user reads: their links must resolve; their commands must match the scripts
PAGES = [README, *DOCS, ROOT / "benchmarks" / "RESULTS.md", ROOT / "tests" / "README.md"]
MARKER = "<!-- tested: tests/test_readme.py"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


TESTED = [
    (f"{_name(path)} block {index}", body)
    for path in (README, *DOCS)
    for index, body in enumerate(
        re.findall(re.escape(MARKER) + r"[^\n]*\n```python\n(.*?)```", path.read_text(), flags=re.S)
    )
]
PYTHON = [(f"{_name(path)} python block {index}", body) for path in (README, *DOCS) for index, body in enumerate(_blocks(path, "python"))]


def test_readme_has_tested_examples():
    assert any(name.startswith("README.md") for name, _ in TESTED), "README.md has no Python block marked for testing"


@pytest.mark.parametrize("name, source", TESTED, ids=[name for name, _ in TESTED])
def test_readme_example_runs(name, source, capsys):
    exec(compile(source, name, "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out  # the examples print what they show


@pytest.mark.parametrize("name, source", PYTHON, ids=[name for name, _ in PYTHON])
def test_python_block_compiles_and_its_imports_exist(name, source):
    """Blocks that need data or the network are not run, but the names they import must exist."""
    tree = ast.parse(source, filename=name)
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    exec(compile(ast.Module(body=imports, type_ignores=[]), name, "exec"), {"__name__": "__readme__"})


# ---- commands: every `--option` given to scripts/*.py (or an existing benchmarks/*.py) is accepted by it ----

SCRIPT = re.compile(r"\b((?:scripts|benchmarks)/[\w/]+\.py)\b")
OPTION = re.compile(r"^\[?(--[A-Za-z][\w-]*)")


def _commands(path: Path) -> list[str]:
    """Command lines of the page: the lines of its bash blocks (continuations joined, comments dropped) and its
    inline code spans that run a script."""
    text = path.read_text()
    lines = []
    for body in _blocks(path, "bash") + _blocks(path, ""):
        for line in body.replace("\\\n", " ").splitlines():
            lines.append(line.split(" # ")[0] if not line.lstrip().startswith("#") else "")
    prose = FENCE.sub("", text)
    lines += re.findall(r"`([^`\n]*\.py[^`\n]*)`", prose)
    return [line for line in lines if SCRIPT.search(line)]


def _documented_options() -> dict[str, dict[str, set[str]]]:
    """`{script: {option: {pages}}}` for the options passed after each script on a command line."""
    found: dict[str, dict[str, set[str]]] = {}
    for page in PAGES:
        for line in _commands(page):
            match = SCRIPT.search(line)
            options = found.setdefault(match.group(1), {})
            for token in line[match.end():].split():
                option = OPTION.match(token)
                if option:
                    options.setdefault(option.group(1).split("=")[0], set()).add(_name(page))
    return found


DOCUMENTED = _documented_options()


@functools.cache
def _help_text(script: str) -> str:
    """`python <script> --help`, run in this process (the imports are already loaded) as Python runs a script: its
    folder first on `sys.path`."""
    argv, path, out = sys.argv, list(sys.path), io.StringIO()
    sys.argv, sys.path[:0] = [script, "--help"], [str(Path(script).parent)]
    try:
        with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stdout(out):
            runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv, sys.path[:] = argv, path
    assert exit_info.value.code in (0, None), f"{script} --help exited with {exit_info.value.code}"
    return out.getvalue()


def _unknown(options, help_text: str) -> list[str]:
    return sorted(option for option in options if not re.search(re.escape(option) + r"(?![\w-])", help_text))


def test_documented_commands_name_existing_scripts():
    missing = sorted(script for script in DOCUMENTED if script.startswith("scripts/") and not (ROOT / script).is_file())
    assert not missing, f"the docs run scripts that do not exist: {missing}"


@pytest.mark.parametrize("script", sorted(s for s in DOCUMENTED if DOCUMENTED[s] and (ROOT / s).is_file()))
def test_documented_options_exist(script):
    """Benchmarks removed from the tree are skipped: their results stay cited with the commit that made them."""
    unknown = _unknown(DOCUMENTED[script], _help_text(str(ROOT / script)))
    where = {option: sorted(DOCUMENTED[script][option]) for option in unknown}
    assert not unknown, f"{script} --help does not list these documented options (option: pages): {where}"


def _docstring_commands() -> list[str]:
    """The command lines in the training scripts' docstrings (continuations joined)."""
    lines = []
    for script in ("run_pretraining.py", "run_finetuning.py"):
        text = ast.get_docstring(ast.parse((ROOT / "scripts" / script).read_text())) or ""
        lines += [line for line in text.replace("\\\n", " ").splitlines() if SCRIPT.search(line)]
    return lines


def _option_value(tokens: list[str], option: str) -> str | None:
    return tokens[tokens.index(option) + 1] if option in tokens[:-1] else None


@pytest.mark.parametrize("name, commands", [(_name(page), _commands(page)) for page in (README, *DOCS)]
                         + [("the scripts' docstrings", _docstring_commands())])  # fmt: skip
def test_finetuning_commands_start_from_a_documented_pretraining_output(name, commands):
    """A fine-tuning command whose `--model_name_or_path` is a local `outputs/` folder names one that a pre-training
    command on the same page writes (its `--output_dir`, else its recipe's)."""
    from adamae_hf.recipes import DEFAULT_RECIPE, recipe_values
    from adamae_hf.training import DEFAULT_OUTPUT_DIR

    written, started_from = set(), set()
    for line in commands:
        tokens = line.split()
        if "scripts/run_pretraining.py" in line and "--dry_run" not in tokens:
            recipe = _option_value(tokens, "--recipe") or DEFAULT_RECIPE
            default = recipe_values(recipe, "pretraining").get("output_dir", DEFAULT_OUTPUT_DIR)
            written.add((_option_value(tokens, "--output_dir") or default).rstrip("/"))
        elif "scripts/run_finetuning.py" in line and (start := _option_value(tokens, "--model_name_or_path")):
            if start.startswith("outputs/"):
                started_from.add(start.rstrip("/"))
    assert started_from <= written, f"{name}: fine-tuning starts from {sorted(started_from - written)}, which no " \
                                    f"pre-training command there writes (they write {sorted(written)})"


@pytest.mark.parametrize("page", [README, *DOCS], ids=[_name(p) for p in (README, *DOCS)])
def test_options_named_in_the_text_exist(page):
    """An option named in the prose (`--resume_from_checkpoint`, `--test_num_clips 2`) is accepted by one of the
    scripts and benchmarks the pages run."""
    named = {m for span in re.findall(r"`([^`\n]+)`", FENCE.sub("", page.read_text())) for m in re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", span)}
    helps = "\n".join(_help_text(str(ROOT / script)) for script in sorted(DOCUMENTED) if (ROOT / script).is_file())
    unknown = _unknown(named, helps)
    assert not unknown, f"{_name(page)} names options that no documented script accepts: {unknown}"


# ---- links ----

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", path.read_text()), flags=re.M):
        slug = _slug(heading)
        anchors.add(slug if slug not in counts else f"{slug}-{counts[slug]}")
        counts[slug] = counts.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[_name(p) for p in PAGES])
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{_name(page)} has broken links: {broken}"
