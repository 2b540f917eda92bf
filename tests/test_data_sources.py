"""What --data names: the kind of each source, found without reading it all, and the splits."""

import wave
import zipfile

import numpy
import pytest

from convpool.data import write_idx
from convpool.data.sources import SplitMissing, kind_of, open_split


def _wav(path, samples, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((numpy.asarray(samples) * 20000).astype("<i2").tobytes())


def _png(path, value):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(numpy.full((8, 8, 3), value, numpy.uint8)).save(path)


@pytest.fixture
def sources(tmp_path):
    idx = tmp_path / "idx"
    idx.mkdir()
    write_idx(idx / "train-images-idx3-ubyte", numpy.zeros((4, 5, 5), numpy.uint8))
    write_idx(idx / "train-labels-idx1-ubyte", numpy.array([0, 1, 2, 1], numpy.uint8))
    sounds = tmp_path / "sounds"
    for name in ("0_a_1.wav", "1_a_1.wav", "3_b_2.wav"):
        _wav(sounds / "recordings" / name, numpy.sin(numpy.arange(800) / 5.0))
    images = tmp_path / "photos"
    for split in ("train", "test"):
        for label, value in (("cat", 10), ("dog", 200)):
            _png(images / "top" / split / label / "0.png", value)
            _png(images / "top" / split / label / "1.png", value + 1)
    images_zip = tmp_path / "photos.zip"
    with zipfile.ZipFile(images_zip, "w") as archive:
        for path in sorted((images / "top").rglob("*.png")):
            archive.write(path, path.relative_to(images).as_posix())
    sounds_zip = tmp_path / "sounds.zip"
    with zipfile.ZipFile(sounds_zip, "w") as archive:
        for path in sorted(sounds.rglob("*.wav")):
            archive.write(path, path.relative_to(sounds).as_posix())
    return {"idx": idx, "sounds": sounds, "sounds_zip": sounds_zip, "photos": images, "photos_zip": images_zip}


def test_each_source_is_recognised_by_what_it_holds(sources, tmp_path):
    assert kind_of(str(sources["idx"])) == "idx"
    assert kind_of(str(sources["sounds"])) == kind_of(str(sources["sounds_zip"])) == "sound"
    assert kind_of(str(sources["photos"])) == kind_of(str(sources["photos_zip"])) == "images"
    named = ("sample", "fashion-mnist", "cifar10", "fsdd")
    assert [kind_of(name) for name in named] == ["idx", "idx", "cifar", "sound"]
    with pytest.raises(FileNotFoundError, match="'nowhere': no such file or folder, and not one of: sample"):
        kind_of("nowhere")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes.txt.*must be a \.zip of images or WAVs or a CIFAR \.tar\.gz"):
        kind_of(str(tmp_path / "notes.txt"))


def test_sound_sources_give_waveforms_and_digit_labels(sources):
    for source in (sources["sounds"], sources["sounds_zip"]):
        data = open_split(str(source), "train")
        assert data.images.shape == (3, 1, 8000) and data.images.dtype == numpy.float32
        assert list(data.labels) == [0, 1, 3]


def test_a_split_source_gives_each_split_its_part_and_an_unsplit_one_is_one_pool(sources):
    for source in (sources["photos"], sources["photos_zip"]):
        train, test = open_split(str(source), "train"), open_split(str(source), "test")
        assert train.images.shape == test.images.shape == (4, 3, 8, 8)
        assert train.classes == ["cat", "dog"]
        assert sorted(train.images[:, 0, 0, 0]) == [10, 11, 200, 201]
    # the sounds have no test/ part: evaluation takes them all, training's test pass has none
    assert len(open_split(str(sources["sounds"]), "test")) == 3
    with pytest.raises(SplitMissing, match="no test/ part"):
        open_split(str(sources["sounds"]), "test", pool="train-only")
    with pytest.raises(SplitMissing, match="t10k-images-idx3-ubyte"):
        open_split(str(sources["idx"]), "test")
    assert open_split(str(sources["idx"]), "train").images.shape == (4, 1, 5, 5)


def test_a_named_set_that_is_not_on_disk_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="convpool data download cifar10"):
        open_split("cifar10", "train")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        open_split("sample", "validation")


def test_a_downloaded_cifar_archive_in_the_cache_is_read_without_unpacking(tmp_path, monkeypatch):
    import io
    import pickle
    import tarfile

    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "cifar10"
    folder.mkdir(parents=True)
    rng = numpy.random.default_rng(0)

    def batch(n):
        return pickle.dumps({b"data": rng.integers(0, 256, (n, 3072)).astype(numpy.uint8),
                             b"labels": [int(v) for v in rng.integers(0, 10, n)]}, protocol=4)

    members = {f"cifar-10-batches-py/data_batch_{i}": batch(3) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch(2)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {b"label_names": [name.encode() for name in "abcdefghij"]}, protocol=4)
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    train, test = open_split("cifar10", "train"), open_split("cifar10", "test")
    assert train.images.shape == (15, 3, 32, 32) and test.images.shape == (2, 3, 32, 32)
    assert train.classes[:2] == ["a", "b"]


def _idx_split(folder, split, labels, count=None):
    names = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    write_idx(folder / names[0], numpy.zeros((len(labels), 4, 4), numpy.uint8))
    write_idx(folder / names[1], numpy.asarray(labels, numpy.uint8))


def test_an_idx_label_beyond_the_classes_is_refused_naming_the_file(tmp_path):
    _idx_split(tmp_path, "train", list(range(10)) * 3 + [200])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: labels run up to 200, but 190 of the classes "
                                         r"0\.\.200 have no image \(10, 11, 12, 13, 14, \.\.\.\)"):
        open_split(str(tmp_path), "train")


def test_idx_test_labels_are_checked_against_the_training_classes(tmp_path):
    _idx_split(tmp_path, "train", list(range(10)) * 3)
    _idx_split(tmp_path, "test", [0, 1, 12])
    assert open_split(str(tmp_path), "train").classes == [str(i) for i in range(10)]
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: label values must be in \[0, 10\) for the 10 "
                                         r"classes of train-labels-idx1-ubyte, found 12"):
        open_split(str(tmp_path), "test")
    _idx_split(tmp_path, "test", [0, 1, 9])  # a test split may lack classes; they come from train
    assert open_split(str(tmp_path), "test").classes == [str(i) for i in range(10)]


def test_an_idx_folder_with_a_test_split_alone_takes_its_classes_from_it(tmp_path):
    _idx_split(tmp_path, "test", [0, 1, 2, 1])
    assert open_split(str(tmp_path), "test").classes == ["0", "1", "2"]
    _idx_split(tmp_path, "test", [0, 1, 200])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: labels run up to 200, but 198 of the classes"):
        open_split(str(tmp_path), "test")
