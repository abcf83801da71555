"""The documentation is built and its examples run.

- ``docs/`` builds with Sphinx with warnings as errors (a broken link, an unknown
  directive, a docstring numpydoc cannot read, a page outside the table of
  contents fail the build), and its references list every command and every
  public name: the CLI page is generated from the commands' help, the API page
  from the docstrings.
- Python examples (```python blocks of ``>>>`` lines in ``README.md`` and
  ``docs/*.md``, each block ending with an empty line) run as doctests,
  collected by pytest (``--doctest-glob=*.md``, ``docs/conftest.py``); a test
  here holds every such block to that form, so no block is shown without being
  run.
- Shell examples (```console blocks: ``$ atlas ...`` lines, each followed by its
  output) run here, in order, page by page, against a copy of the session's
  atlas in a folder of their own; the output must match (``...`` stands for any
  text, runs of whitespace compare equal). ``$ echo $?`` prints the previous
  command's exit code. Blocks marked ```sh show syntax and are not run.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import atlas

from .conftest import REPO

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MARKDOWN = [REPO / "README.md", *PAGES]
_CHECK_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def fences(path: Path) -> list[tuple[str, int, str]]:
    """The fenced blocks of a Markdown file: (info string, line of the opening fence, text)."""
    blocks, info, start, body = [], None, 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if info is None:
            if line.startswith("```"):
                info, start, body = line[3:].strip(), number, []
        elif line.rstrip() == "```":
            blocks.append((info, start, "\n".join(body) + "\n"))
            info = None
        else:
            body.append(line)
    assert info is None, f"{path.name}: the block opened on line {start} is never closed"
    return blocks


def commands(block: str) -> list[tuple[str, str]]:
    """A console block as (command, expected output) pairs: ``$ `` starts a command."""
    pairs: list[tuple[str, str]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], ""))
        else:
            assert pairs, f"output before the first command: {line!r}"
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + line + "\n")
    return pairs


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the ``atlas`` group, nested groups included, as name paths."""
    paths = []
    for name, cmd in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(cmd, click.Group):
            paths += command_paths(cmd, (*prefix, name))
    return paths


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = _main()
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _main() -> click.Group:
    from atlas.cli import main  # the stable entry point (pyproject: atlas = "atlas.cli:main")

    return main


# --- the build ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors_and_list_every_command_and_public_name(tmp_path):
    out = tmp_path / "html"
    env = {**os.environ, "ATLAS_OUTPUT": str(tmp_path / "output")}
    res = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
                          str(DOCS), str(out)], capture_output=True, text=True, env=env,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-6000:]
    for page in PAGES:  # every page is in the table of contents (else Sphinx warns) and built
        assert (out / page.with_suffix(".html").name).is_file(), page.name

    cli = (out / "cli.html").read_text(encoding="utf-8")
    paths = command_paths(_main())
    assert len(paths) >= 17
    for path in paths:  # sphinx-click: a section per command, an entry per option and argument
        anchor = "-".join(("atlas", *path))
        assert f'id="{anchor}"' in cli, f"atlas {' '.join(path)} is not in the CLI reference"
        command = _command(path)
        for param in command.params:
            if isinstance(param, click.Option) and param.hidden:
                continue
            names = [param.name.upper()] if isinstance(param, click.Argument) else param.opts
            for name in names:
                kind = "arg-" if isinstance(param, click.Argument) else ""
                ident = f"cmdoption-{anchor}-{kind}{name.lstrip('-')}"
                assert f'id="{ident}"' in cli, f"atlas {' '.join(path)} {name} is not in the CLI reference"

    api = (out / "api.html").read_text(encoding="utf-8")
    for name in atlas.__all__:  # autodoc: one entry per public name, id "atlas.<name>"
        assert f'id="atlas.{name}"' in api, f"atlas.{name} is not in the API reference"
    # the docstrings came along, read by numpydoc (its "Parameters" field lists, not raw text)
    assert api.count('<dt class="field-odd">Parameters') + api.count('<dt class="field-even">Parameters') >= 30


# --- the Python examples -----------------------------------------------------------------------


def test_python_examples_are_doctests_and_collected(pytestconfig):
    """Every ```python block is ``>>>`` examples (run by pytest), never code that nothing runs."""
    assert {"docs", "README.md"} <= set(pytestconfig.getini("testpaths"))
    assert "--doctest-glob=*.md" in pytestconfig.getini("addopts")
    parser = doctest.DocTestParser()
    total = 0
    for path in MARKDOWN:
        for info, line, text in fences(path):
            if info.split()[:1] not in (["python"], ["pycon"]):
                continue
            examples = parser.get_examples(text)
            first = next(s for s in text.splitlines() if s.strip())
            assert first.startswith(">>> ") and examples, (
                f"{path.name}:{line}: a Python block that is not run; write it as >>> examples")
            assert text.endswith("\n\n"), (
                f"{path.name}:{line}: end the block with an empty line, else doctest reads the "
                "closing ``` as the last example's expected output")
            total += len(examples)
    assert total >= 40  # the docs' examples, counted here so that losing them shows


# --- the shell examples ------------------------------------------------------------------------


def _console_pages() -> list[Path]:
    return [p for p in MARKDOWN if any(info == "console" for info, _, _ in fences(p))]


def _run(argv: list[str], monkeypatch) -> tuple[int, str]:
    """``atlas ARGV`` in this process, as a shell would show it (stdout and stderr interleaved)."""
    import warnings

    from atlas import io

    # Module state an earlier command of this process left behind (a new process starts without
    # it): the files replaced so far, which an error message lists, and the warning printer.
    if hasattr(io, "REPLACED"):
        monkeypatch.setattr(io, "REPLACED", [])
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    result = CliRunner().invoke(_main(), argv, prog_name="atlas")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize("page", _console_pages(), ids=lambda p: p.name)
def test_shell_examples_print_what_the_page_shows(page, gpkg, tmp_path, monkeypatch):
    output = tmp_path / "output"
    output.mkdir()
    shutil.copyfile(gpkg, output / "atlas.gpkg")
    for path in (DOCS / "examples").iterdir():
        shutil.copyfile(path, tmp_path / path.name)
    monkeypatch.setenv("ATLAS_OUTPUT", str(output))
    monkeypatch.chdir(tmp_path)
    checker = doctest.OutputChecker()
    rc, ran = 0, 0
    for info, line, text in fences(page):
        if info != "console":
            continue
        pairs = commands(text)
        for i, (command, expected) in enumerate(pairs):
            where = f"{page.name}:{line}: $ {command}"
            argv = shlex.split(command)
            if argv == ["echo", "$?"]:
                got = f"{rc}\n"
            else:
                assert argv[0] == "atlas", f"{where}: only atlas commands and 'echo $?' are run"
                rc, got = _run(argv[1:], monkeypatch)
                got = got.replace(str(tmp_path) + os.sep, "")
                checked_next = i + 1 < len(pairs) and pairs[i + 1][0] == "echo $?"
                assert rc == 0 or checked_next, f"{where}: exit code {rc}\n{got}"
            if not checker.check_output(expected, got, _CHECK_FLAGS):
                pytest.fail(f"{where}\n" + checker.output_difference(
                    doctest.Example(command, expected), got, _CHECK_FLAGS))
            ran += 1
    assert ran


def test_the_cli_page_at_a_glance_names_every_command():
    """The hand-written summary above the generated reference must not forget a command."""
    glance = next(text for info, _, text in fences(DOCS / "cli.md") if info == "sh")
    for name in _main().commands:
        assert re.search(rf"^atlas {re.escape(name)}\b", glance, re.M), f"atlas {name} is not at a glance"


def test_console_blocks_hold_only_commands_that_are_run():
    """A ```console block is checked; syntax with placeholders belongs in ```sh."""
    for path in MARKDOWN:
        for info, line, text in fences(path):
            if info != "console":
                continue
            for command, _ in commands(text):
                argv = shlex.split(command)
                assert argv[0] == "atlas" or argv == ["echo", "$?"], f"{path.name}:{line}: {command}"
                assert not re.search(r"(?<![\w-])[A-Z]{3,}(?![\w-])|\[--|…", command), (
                    f"{path.name}:{line}: a placeholder in a command that is run: {command}")


# --- types -------------------------------------------------------------------------------------


def test_py_typed_ships_only_with_a_type_checker_run_in_the_tests():
    """``py.typed`` tells users' type checkers to trust the annotations (docs/contributing.md)."""
    promised = (REPO / "atlas" / "py.typed").exists() or "py.typed" in (
        REPO / "pyproject.toml").read_text(encoding="utf-8")
    checked = any(re.search(r"\b(mypy|pyright)\b", path.read_text(encoding="utf-8"))
                  for path in (REPO / "tests").glob("test_*.py") if path.name != "test_docs.py")
    assert checked or not promised, "py.typed without a test that runs a type checker"
