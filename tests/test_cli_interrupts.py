"""Ctrl-C, sent as a real SIGINT to a real `convpool` process: no traceback, exit code 130,
and during training one line naming the intact checkpoint and the command that resumes it.
Memory running out and --debug after the subcommand, through `convpool.cli.main`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import convpool
from convpool import cli

# the convpool under test, also from the temporary folders the commands run in
SOURCE = os.path.dirname(os.path.dirname(convpool.__file__))
ENV = dict(os.environ, PYTHONUNBUFFERED="1",
           PYTHONPATH=os.pathsep.join([SOURCE, *filter(None, [os.environ.get("PYTHONPATH")])]))
pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")


def _start(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "convpool", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env=ENV)


def _wait_for(stream, text: str, limit: float = 120.0) -> str:
    """Read lines until one holds text (bounded: the stream ends or the time runs out)."""
    end = time.monotonic() + limit
    seen = ""
    while time.monotonic() < end:
        line = stream.readline()
        if not line:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; got {seen!r}")


def _interrupt(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return out, err


def test_ctrl_c_during_training_names_the_intact_checkpoint_and_the_resume_command(tmp_path):
    process = _start("train", "--epochs", "40", "--out", "run", cwd=tmp_path)
    _wait_for(process.stderr, "epoch 1/40:")  # printed once epoch 1's checkpoint is saved
    out, err = _interrupt(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("convpool train: interrupted; training stopped in epoch "), err
    match = re.search(r"(run/epoch-(\d{4})) is intact \((\d+) epochs? done\); continue with: "
                      r"convpool train --resume --out run$", lines[0])
    assert match, lines[0]
    done = int(match.group(3))
    assert done == int(match.group(2)) >= 1
    assert (tmp_path / "run" / "latest").read_text().strip() == f"epoch-{done:04d}"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name not in ("latest", f"epoch-{done:04d}")
                and p.name != f"epoch-{done - 1:04d}"]  # no unfinished folder left behind
    resumed = subprocess.run([sys.executable, "-m", "convpool", "train", "--resume", "--out", "run", "--epochs",
                              str(done + 1), "--no-progress"], capture_output=True, text=True, timeout=300,
                             cwd=tmp_path, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run from epoch {done} (run/epoch-{done:04d}) to epoch {done + 1}" in resumed.stdout
    assert f"done: epoch {done + 1}," in resumed.stdout


def test_ctrl_c_before_the_first_checkpoint_says_there_is_none(tmp_path):
    process = _start("train", "--epochs", "40", "--out", "run", cwd=tmp_path)
    _wait_for(process.stdout, "checkpoints in run")
    out, err = _interrupt(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert re.fullmatch(r"convpool train: interrupted; training stopped (in epoch 1 of 40|before its first epoch); "
                        r"no checkpoint was written yet\n", err), err
    assert not (tmp_path / "run" / "latest").exists()


def test_ctrl_c_while_a_command_reads_its_input_exits_130_without_a_traceback(tmp_path):
    """predict blocked reading a pipe that never delivers: interrupted mid-read."""
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    process = _start("predict", "pretrained:fashion-mnist", str(fifo), cwd=tmp_path)
    writer = None
    end = time.monotonic() + 120
    while writer is None and time.monotonic() < end and process.poll() is None:
        try:  # succeeds only once the reader has opened the pipe
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.05)
    assert writer is not None, process.communicate(timeout=10)
    try:
        time.sleep(0.3)
        out, err = _interrupt(process)
    finally:
        os.close(writer)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip() == "convpool predict: interrupted"


def test_memory_running_out_is_one_line_naming_what_was_read(monkeypatch, capsys):
    from convpool import workflow

    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr(workflow, "evaluate_command", exhausted)
    assert cli.main(["evaluate", "runs/x", "--data", "big-folder"]) == 2
    err = capsys.readouterr().err
    assert err == ("convpool evaluate: error: out of memory while reading runs/x, --data big-folder; try a smaller "
                   "input or --batch-size\n")


def test_debug_after_the_subcommand_shows_the_traceback():
    result = subprocess.run([sys.executable, "-m", "convpool", "summary", "--model", "lenet5", "--input-shape",
                             "3,2,2", "--debug"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" in result.stderr
    plain = subprocess.run([sys.executable, "-m", "convpool", "summary", "--model", "lenet5", "--input-shape",
                            "3,2,2"], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_every_option_with_a_default_shows_it_in_the_help():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in subparsers.choices.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if not action.option_strings or action.default in (None, False) or action.dest in ("help", "debug"):
                continue
            text = " ".join(formatter._format_action(action).split())  # the option's lines as printed
            assert "default" in text and (str(action.default) in text or action.dest == "data"), \
                f"convpool {name} {action.option_strings[-1]}: no default in {text!r}"
        command.format_help()  # and the whole help still formats


def test_given_options_tell_typed_values_from_defaults():
    assert cli.given_options(["train", "--lr", "0.1", "--ep", "3"]) == {"lr", "epochs"}
    assert cli.given_options(["--debug", "train"]) == {"debug"}


def test_ctrl_c_during_a_download_keeps_its_part_file_and_says_so(tmp_path):
    """A mirror on 127.0.0.1 that sends part of a file and then stalls."""
    import http.server
    import threading

    stop = threading.Event()
    SENT = 8 * 65536  # whole reads of the downloader, so all of it reaches the .part before the stall

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(1_000_000))
            self.end_headers()
            self.wfile.write(b"\x01" * SENT)
            self.wfile.flush()
            stop.wait(60)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        process = _start("data", "download", "fashion-mnist", "--dir", str(tmp_path / "fm"), "--no-progress",
                         "--mirror", f"http://127.0.0.1:{server.server_address[1]}", cwd=tmp_path)
        end = time.monotonic() + 60
        parts: list = []
        while time.monotonic() < end and process.poll() is None:
            parts = [p for p in (tmp_path / "fm").glob("*.part") if p.stat().st_size >= SENT]
            if parts:
                break
            time.sleep(0.05)
        assert parts, process.communicate(timeout=10)
        out, err = _interrupt(process)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip() == (f"convpool data: interrupted; the bytes fetched so far are kept as .part files in "
                           f"{tmp_path / 'fm'}; the same command resumes the download")
    assert parts[0].stat().st_size == SENT
