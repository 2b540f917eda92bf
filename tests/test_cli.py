"""The `convpool` command and the runnable examples in docstrings."""

import doctest
import importlib
import subprocess
import sys

import pytest


def test_demo_prints_the_article_numbers_and_passes_its_gradient_check():
    result = subprocess.run([sys.executable, "-m", "convpool", "demo"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "W=256  K=3 S=3 P=0  ->  85" in result.stdout
    assert "  [[6. 8.]\n   [3. 4.]]" in result.stdout  # 2x2 max pooling of the built-in matrix
    assert "  [[3.25 5.25]\n   [2.   2.  ]]" in result.stdout  # and its average pooling
    assert "input gradient agrees" in result.stdout


def test_unknown_command_is_refused_with_exit_code_2():
    result = subprocess.run([sys.executable, "-m", "convpool", "fly"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("module", ["convpool.shapes", "convpool.ops.conv", "convpool.ops.pool"])
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "convpool", *args], capture_output=True, text=True, timeout=timeout)


def test_summary_prints_the_layer_table_with_totals():
    result = _run("summary", "--model", "lenet5", "--input-shape", "1,28,28")
    assert result.returncode == 0, result.stderr
    assert "features.0  Conv2d     [1, 6, 28, 28]      156  117,600" in result.stdout
    assert "Total params: 61,706" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("summary", "--model", "lenet5", "--input-shape", "1,28"), "expected three positive sizes C,H,W"),
    (("summary", "--model", "resnet"), "invalid choice: 'resnet'"),
    (("summary", "--model", "lenet5", "--input-shape", "3,2,2"), "kernel larger than the padded input"),
])
def test_bad_summary_input_is_one_clear_line_and_exit_code_2(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback():
    result = _run("--debug", "summary", "--model", "lenet5", "--input-shape", "3,2,2")
    assert result.returncode != 0 and "Traceback" in result.stderr
