"""The downloader against a local HTTP server on 127.0.0.1 (tests never touch the network): a full
download, resuming a .part with a Range request, a server that ignores Range, 416, a dropped
connection, a checksum mismatch, and a file already present that is not fetched again."""

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy
import pytest

from convpool.data.download import (
    Checksum,
    ChecksumError,
    DownloadError,
    DownloadTooLarge,
    cache_root,
    download,
    part_path,
)

DATA = numpy.random.default_rng(0).integers(0, 256, 300_000, dtype=numpy.uint8).tobytes()


class Server:
    """Serves `files` ({"/path": bytes}) on 127.0.0.1, honouring `Range: bytes=N-` unless ranges is
    False, and logs each request as (path, Range header or None, body bytes sent). `cut_after`
    sends only that many body bytes, then closes the connection."""

    def __init__(self, files: dict[str, bytes], ranges: bool = True):
        self.files, self.ranges, self.cut_after, self.log = dict(files), ranges, None, []
        self.stall_after, self.announce, self.stalled = None, True, threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (the name http.server calls)
                data = server.files.get(self.path)
                header = self.headers.get("Range")
                if data is None:
                    server.log.append((self.path, header, 0))
                    self.send_error(404)
                    return
                start = int(re.fullmatch(r"bytes=(\d+)-", header)[1]) if header and server.ranges else 0
                if start >= len(data) and header and server.ranges:
                    server.log.append((self.path, header, 0))
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if server.announce:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.close_connection = True
                self.end_headers()
                if server.stall_after is not None:  # send some, then nothing until the test is done
                    self.wfile.write(body[:server.stall_after])
                    self.wfile.flush()
                    server.stalled.wait(10)
                    return
                if server.cut_after is not None:
                    body = body[:server.cut_after]
                    self.close_connection = True
                self.wfile.write(body)
                server.log.append((self.path, header, len(body)))

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stalled.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: a connection there is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.bin"


@pytest.fixture
def server():
    with Server({"/file.bin": DATA}) as s:
        yield s


SHA = Checksum.of_bytes("sha256", hashlib.sha256(DATA).hexdigest())


def test_full_download(server, tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "downloaded"
    assert dest.read_bytes() == DATA
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]  # no .part left
    assert server.log == [("/file.bin", None, len(DATA))]


def test_resume_requests_only_the_remaining_bytes(server, tmp_path):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(DATA[:123_456])
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "resumed"
    assert dest.read_bytes() == DATA and not part_path(dest).exists()
    assert server.log == [("/file.bin", "bytes=123456-", len(DATA) - 123_456)]


def test_a_server_that_ignores_range_is_read_from_the_start(tmp_path):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(b"x" * 1000)  # not even a prefix: it must all be rewritten
    with Server({"/file.bin": DATA}, ranges=False) as server:
        assert download(server.url + "/file.bin", dest, SHA, progress=False) == "downloaded"
        assert server.log == [("/file.bin", "bytes=1000-", len(DATA))]
    assert dest.read_bytes() == DATA


def test_416_with_a_complete_part_just_verifies_it(server, tmp_path):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(DATA)
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "resumed"
    assert dest.read_bytes() == DATA and not part_path(dest).exists()
    assert server.log == [("/file.bin", f"bytes={len(DATA)}-", 0)]


def test_416_with_a_wrong_part_starts_over(server, tmp_path):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(DATA + b"trailing junk")
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "downloaded"
    assert dest.read_bytes() == DATA
    assert server.log == [("/file.bin", f"bytes={len(DATA) + 13}-", 0), ("/file.bin", None, len(DATA))]


def test_a_dropped_connection_keeps_the_part_and_the_next_try_resumes(server, tmp_path):
    dest = tmp_path / "file.bin"
    server.cut_after = 100_000
    with pytest.raises(DownloadError, match=r"closed after 100,000 of 300,000 bytes.*kept in .*file\.bin\.part"):
        download(server.url + "/file.bin", dest, SHA, progress=False)
    assert part_path(dest).read_bytes() == DATA[:100_000] and not dest.exists()
    server.cut_after = None
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "resumed"
    assert server.log[-1] == ("/file.bin", "bytes=100000-", 200_000)
    assert dest.read_bytes() == DATA


def test_checksum_mismatch_deletes_the_part_and_names_url_and_both_checksums(server, tmp_path):
    dest = tmp_path / "file.bin"
    wrong = Checksum.of_bytes("md5", "0" * 32)
    url = server.url + "/file.bin"
    with pytest.raises(ChecksumError) as info:
        download(url, dest, wrong, progress=False)
    message = str(info.value)
    assert url in message and "0" * 32 in message and hashlib.md5(DATA).hexdigest() in message
    assert "MD5" in message
    assert list(tmp_path.iterdir()) == []  # neither the .part nor anything at the destination


def test_a_present_file_that_verifies_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(DATA)
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "present"
    assert server.log == []


def test_a_present_file_that_fails_is_replaced(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"damaged")
    assert download(server.url + "/file.bin", dest, SHA, progress=False) == "downloaded"
    assert dest.read_bytes() == DATA


def test_no_connection_names_the_url_and_keeps_the_part(tmp_path):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(DATA[:5000])
    url = closed_port_url()
    with pytest.raises(DownloadError, match=rf"cannot download {re.escape(url)}: .*5,000 bytes are kept"):
        download(url, dest, SHA, progress=False, timeout=5)
    assert part_path(dest).read_bytes() == DATA[:5000]


def test_http_errors_name_the_status(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/missing\.bin: the server answered HTTP 404"):
        download(server.url + "/missing.bin", tmp_path / "m.bin", SHA, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_shows_the_total_only_when_asked(server, tmp_path, capsys):
    download(server.url + "/file.bin", tmp_path / "a.bin", SHA, progress=False)
    assert capsys.readouterr().err == ""
    download(server.url + "/file.bin", tmp_path / "b.bin", SHA, progress=True)
    err = capsys.readouterr().err
    assert "b.bin" in err and "293k" in err  # 300,000 bytes in KiB units


def test_checksum_names_and_cache_root(monkeypatch, tmp_path):
    assert Checksum.of_bytes("md5", "AB").what == "MD5" and Checksum.of_bytes("md5", "AB").expected == "ab"
    assert Checksum.of_bytes("sha256", "cd").what == "SHA-256"
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("CONVPOOL_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "convpool"


def test_a_stall_says_how_many_bytes_arrived_and_keeps_them(server, tmp_path):
    dest = tmp_path / "file.bin"
    server.stall_after = 70_000
    with pytest.raises(DownloadError, match=r"file\.bin: the download stalled: nothing arrived for 0\.5 s after "
                                            r"70,000 of 300,000 bytes; 70,000 bytes are kept in .*file\.bin\.part"):
        download(server.url + "/file.bin", dest, SHA, progress=False, timeout=0.5)
    assert part_path(dest).read_bytes() == DATA[:70_000]


def test_a_download_over_its_cap_is_refused_announced_or_not(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadTooLarge, match=r"file\.bin: the server announces 300,000 bytes, more than the "
                                               r"100,000 this download may take"):
        download(server.url + "/file.bin", dest, SHA, progress=False, max_bytes=100_000)
    assert list(tmp_path.iterdir()) == []
    server.announce = False
    with pytest.raises(DownloadTooLarge, match=r"file\.bin: more than the 100,000 bytes this download may take "
                                               r"arrived"):
        download(server.url + "/file.bin", dest, SHA, progress=False, max_bytes=100_000)
    assert list(tmp_path.iterdir()) == []
    assert download(server.url + "/file.bin", dest, SHA, progress=False, max_bytes=300_000) == "downloaded"
    assert dest.read_bytes() == DATA
