"""Every command the docs and the CLI print works as printed: the program is the project's,
the subcommand exists and each option it shows is one the command takes.

Commands are read from README.md and docs/*.md (code blocks and inline code starting with
`.venv/bin/` or `make `) and from what the CLI prints (`where_to_look`). Each is checked
against the program's own `--help`, run for real; running each to completion is the rest of the
suite's job (the pipeline, serve, drift and rollback tests run them)."""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

from features.settings import PROJECT_ROOT, Settings
from flows.cli.lines import where_to_look

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
_BLOCK_LINE = re.compile(r"^\s*((?:\.venv/bin/|make )[^#\n]*?)\s*(?:#.*)?$", re.MULTILINE)
_INLINE = re.compile(r"`((?:\.venv/bin/|make )[^`]+)`")
_OPTIONAL = re.compile(r"\[[^\]]*\]")  # `[--as-of ...]`: shown as optional, checked below
_TIMEOUT = 120  # a module's --help can cost seconds of imports; each is run once


def _documented() -> list[str]:
    found: list[str] = []
    for path in DOCS:
        text = path.read_text()
        found += [m.group(1) for m in _BLOCK_LINE.finditer(text)]
        found += [m.group(1) for m in _INLINE.finditer(text)]
    return sorted({" ".join(line.replace("\\", " ").split()) for line in found})


def _options(command: str) -> list[str]:
    """Every `--option` the command shows, the optional ones included."""
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][\w-]*", command)))


def _words(command: str) -> list[str]:
    """The command's words without its optional parts, alternatives (`a|b`) as the first."""
    plain = _OPTIONAL.sub(" ", command).split("&&")[0]
    return [word.split("|")[0] for word in shlex.split(plain)]


@cache
def _help(*words: str) -> str:
    result = subprocess.run(
        [*words, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=_TIMEOUT
    )
    assert result.returncode == 0, f"{' '.join(words)} --help failed: {result.stderr[-500:]}"
    return result.stdout


def _program(words: list[str]) -> list[str]:
    """The part of the command that names what runs (program, module, subcommands)."""
    tool = Path(words[0]).name
    if tool == "python":
        return words[:3]  # python -m module
    subcommands = [w for w in words[1:3] if re.fullmatch(r"[a-z][a-z_-]*", w)]
    depth = {"fleetcast": 2, "bentoml": 1, "mlflow": 1, "prefect": 2, "uv": 1}.get(tool, 0)
    return words[: 1 + min(depth, len(subcommands))]


COMMANDS = [c for c in _documented() if not c.startswith("make ")]
TARGETS = sorted({c.split()[1] for c in _documented() if c.startswith("make ")})


_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_GLOBAL = re.compile(r"^\s*(uv|fleetcast|bentoml|mlflow|prefect|python3?|pytest|pip|ruff) ")


def test_no_documented_command_needs_a_tool_on_path() -> None:
    """A fresh clone has none of them on PATH: `make run` installs them under the project."""
    bare = [
        f"{path.name}: {line.strip()}"
        for path in DOCS
        for block in _FENCE.findall(path.read_text())
        for line in block.splitlines()
        if _GLOBAL.match(line)
    ]
    assert not bare, f"commands that need a global tool: {bare}"


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 20 and {"run", "test"} <= set(TARGETS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_documented_command_exists_with_its_options(command: str) -> None:
    words = _words(command)
    program = _program(words)
    assert (PROJECT_ROOT / program[0]).exists(), f"{program[0]} is not installed by the project"
    if Path(program[0]).name == "fleetcast" and len(program) > 2:  # `shadow set V --reason`
        group = _help(str(PROJECT_ROOT / program[0]), program[1])
        assert program[2] in group, f"`{command}`: {program[1]} has no subcommand {program[2]}"
    shown = _help(*[str(PROJECT_ROOT / program[0]), *program[1:]])
    for option in _options(command):
        assert option in shown, f"`{command}`: {' '.join(program)} has no option {option}"
    if Path(program[0]).name == "fleetcast" and len(words) > 2 and words[1] in ("server", "redis"):
        assert words[2] in shown, f"`{command}`: no subcommand {words[2]}"


@pytest.mark.parametrize("target", TARGETS)
def test_each_documented_make_target_exists(target: str) -> None:
    dry = subprocess.run(["make", "-n", target], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, f"make {target}: {dry.stderr.strip()}"


def test_the_printed_mlflow_command_runs_as_printed(tmp_path: Path) -> None:
    printed = where_to_look(Settings(home=tmp_path), "http://127.0.0.1:4200/api")
    line = next(row for row in printed.splitlines() if row.startswith("MLflow UI"))
    command = shlex.split(line.split(": ", 1)[1].split("  #")[0])
    assert Path(command[0]).is_file(), f"{command[0]} does not exist"
    shown = _help(command[0], command[1])
    assert all(option in shown for option in _options(" ".join(command)))
