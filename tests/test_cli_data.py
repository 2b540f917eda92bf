"""`convpool data list` and `convpool data download`, through a subprocess against a local mirror
on 127.0.0.1 (CONVPOOL_DOWNLOAD_MIRROR) and, for the successful downloads of made-up data sets,
in-process with the catalogue patched. Never the network."""

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_data_download import Server, closed_port_url

from convpool import cli
from convpool.data import catalog as cat
from convpool.data.download import Checksum

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _run(*args, cache, mirror=None, timeout=120):
    env = {**os.environ, "CONVPOOL_CACHE": str(cache), "HOME": str(cache.parent)}
    env.pop(cat.MIRROR_ENV, None)
    if mirror is not None:
        env[cat.MIRROR_ENV] = mirror
    return subprocess.run([sys.executable, "-m", "convpool", "data", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_list_shows_every_data_set_with_its_status_and_folder(tmp_path):
    cache = tmp_path / "cache"
    part = cache / "cifar10" / "cifar-10-python.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    result = _run("list", cache=cache)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "WHAT", "SIZE", "LICENCE", "STATUS", "WHERE"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert list(rows) == ["fashion-mnist", "cifar10", "cifar100", "fsdd"]
    assert "partial (1 .part to resume)" in rows["cifar10"] and rows["cifar10"].endswith(str(cache / "cifar10"))
    assert "missing" in rows["cifar100"] and "CC BY-SA 4.0" in rows["fsdd"] and "MIT" in rows["fashion-mnist"]
    assert f"cache root: {cache}" in result.stdout


def test_unknown_name_is_one_line_listing_the_names_and_exit_2(tmp_path):
    result = _run("download", "mnist", cache=tmp_path / "cache")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "convpool data: error: unknown data set 'mnist'; the names are: fashion-mnist, cifar10, cifar100, fsdd, all"]


def test_no_connection_is_one_line_naming_the_url_and_the_part_is_kept(tmp_path):
    cache = tmp_path / "cache"
    part = cache / "cifar100" / "cifar-100-python.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 2000)
    mirror = closed_port_url().removesuffix("/file.bin")
    result = _run("download", "cifar100", cache=cache, mirror=mirror)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"cannot download {mirror}/cifar100/cifar-100-python.tar.gz" in line
    assert "2,000 bytes are kept" in line and "--data-dir" in line
    assert part.read_bytes() == b"x" * 2000


def test_checksum_mismatch_names_url_and_both_md5s_and_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    body = b"not the CIFAR-10 archive"
    with Server({"/cifar10/cifar-10-python.tar.gz": body}) as server:
        result = _run("download", "cifar10", cache=cache, mirror=server.url)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"{server.url}/cifar10/cifar-10-python.tar.gz" in line
    assert "c58f30108f718f92721af3b95e74349a" in line and hashlib.md5(body).hexdigest() in line
    assert list((cache / "cifar10").iterdir()) == []


def test_format_is_for_cifar_only(tmp_path):
    result = _run("download", "fsdd", "--format", "binary", cache=tmp_path / "cache")
    assert result.returncode == 2 and "--format is for CIFAR" in result.stderr


# ----- successful downloads, in-process with made-up entries -----------------------------------
@pytest.fixture
def toys(tmp_path, monkeypatch):
    """cifar10 and fsdd replaced by small made-up files, served by a local mirror."""
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cat.MIRROR_ENV, raising=False)
    served = {}
    for name in cat.names():
        ds = cat.CATALOG[name]
        files = []
        for file in ds.files:
            data = f"{name}/{file.name}".encode() * 5000
            served[f"/{name}/{file.name}"] = data
            files.append(dataclasses.replace(file, checksum=Checksum.of_bytes("md5", hashlib.md5(data).hexdigest())))
        monkeypatch.setitem(cat.CATALOG, name, dataclasses.replace(ds, files=tuple(files), unpack=None, places=()))
    with Server(served) as server:
        yield server, tmp_path / "cache"


def test_download_reports_each_file_and_never_downloads_twice(toys, capsys):
    server, cache = toys
    assert cli.main(["data", "download", "cifar10", "--mirror", server.url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "cifar10: cifar-10-python.tar.gz downloaded and verified (MD5)" in out
    assert f"cifar10: ready in {cache / 'cifar10'}" in out
    assert (cache / "cifar10" / "cifar-10-python.tar.gz").is_file()
    assert not (cache / "cifar10" / "cifar-10-binary.tar.gz").exists()  # python format by default
    server.log.clear()
    assert cli.main(["data", "download", "cifar10", "--mirror", server.url, "--no-progress"]) == 0
    assert "cifar-10-python.tar.gz is already present and verified (MD5); not downloaded" in capsys.readouterr().out
    assert server.log == []
    assert cli.main(["data", "download", "cifar10", "--format", "binary", "--mirror", server.url]) == 0
    assert (cache / "cifar10" / "cifar-10-binary.tar.gz").is_file()


def test_download_all_into_a_given_folder(toys, capsys, tmp_path):
    server, _ = toys
    assert cli.main(["data", "download", "all", "--dir", str(tmp_path / "d"), "--mirror", server.url]) == 0
    for name in cat.names():
        for file in cat.get(name).files_for():
            assert (tmp_path / "d" / name / file.name).is_file()
    assert capsys.readouterr().out.count("ready in") == 4
    assert cli.main(["data", "download", "fsdd", "--dir", str(tmp_path / "one"), "--mirror", server.url]) == 0
    assert [p.name for p in (tmp_path / "one").iterdir()] == [cat.get("fsdd").files[0].name]


# ----- the real Fashion-MNIST files through the command, when ../shared/data has them ----------------
FASHION = SHARED / "fashion-mnist"


@pytest.mark.skipif(not all((FASHION / f.name).is_file() for f in cat.get("fashion-mnist").files),
                    reason=f"Fashion-MNIST not found in {FASHION}")
def test_real_fashion_mnist_through_a_local_mirror(tmp_path):
    cache = tmp_path / "cache"
    files = {f"/fashion-mnist/{f.name}": (FASHION / f.name).read_bytes() for f in cat.get("fashion-mnist").files}
    with Server(files) as server:
        result = _run("download", "fashion-mnist", cache=cache, mirror=server.url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("downloaded and verified (SHA-256 of the decompressed content)") == 4
        server.log.clear()
        again = _run("download", "fashion-mnist", cache=cache, mirror=server.url)
        assert again.returncode == 0 and again.stdout.count("already present and verified") == 4
        assert server.log == []
    for path, data in files.items():
        assert (cache / path.lstrip("/")).read_bytes() == data  # stored as served
    listed = _run("list", cache=cache)
    assert any(line.startswith("fashion-mnist") and "present" in line for line in listed.stdout.splitlines())
