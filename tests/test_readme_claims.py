"""What the README says about the command line and the layout, checked against the code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from convpool import cli
from convpool.train import fit

README = Path(__file__).resolve().parent.parent / "README.md"
SOURCE = Path(__file__).resolve().parent.parent / "src" / "convpool"

pytestmark = pytest.mark.skipif(not README.is_file(), reason="README.md is not beside the tests")


def test_the_layout_list_names_every_module_and_package():
    layout = README.read_text().split("## Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"([a-z_]+(?:\.py|/))", layout))
    present = {p.name + "/" for p in SOURCE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    present |= {p.name for p in SOURCE.glob("*.py") if not p.name.startswith("_")}
    missing = sorted(present - named)
    assert not missing, f"README's layout does not name {missing}"


def test_every_subcommand_is_shown_and_the_checkpoint_count_is_the_real_one():
    text = README.read_text()
    commands = next(a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in commands.choices:
        assert f"convpool {name}" in text, name
    assert inspect.signature(fit).parameters["keep_checkpoints"].default == 2
    assert "the newest two kept" in text and "one checkpoint per epoch" not in text
    assert "exit code 130" in text and "before or after the subcommand" in text
