import functools
import hashlib
import http.server
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import DataWarning, InMemoryBatches, load_images, load_labeled
from ganforge.data.batches import LabeledBatch
from ganforge.data import cifar, idx
from ganforge.data.download import download, fetch, md5_of
from ganforge.data.folder import decode_image, load_folder, load_folder_classes
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import array_batches, evaluate_images

from conftest import fake_garments, needs_debian_fashion_mnist, run_cli, tiny, write_cifar_folder, write_idx


class Quiet(http.server.SimpleHTTPRequestHandler):
    """A static file handler that logs nothing (its log lines went to the stderr that tests read)."""

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """A static file server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


# ------------------------------------------------------------------ IDX

def test_idx_roundtrip_gz_and_raw(tmp_path):
    images = fake_garments(10)
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "b", images)
    assert np.array_equal(idx.read_idx(tmp_path / "a.gz"), images)
    assert np.array_equal(idx.read_idx(tmp_path / "b"), images)


def test_idx_truncated_and_bad_magic(tmp_path):
    write_idx(tmp_path / "t", fake_garments(4))
    (tmp_path / "t").write_bytes((tmp_path / "t").read_bytes()[:-10])
    with pytest.raises(GanforgeError, match="truncated or padded"):
        idx.read_idx(tmp_path / "t")
    (tmp_path / "m").write_bytes(b"hello world, not idx")
    with pytest.raises(GanforgeError, match="bad magic number"):
        idx.read_idx(tmp_path / "m")


def test_idx_from_root_and_split(idx_root):
    train = load_images(DataConfig(root=str(idx_root)))
    test = load_images(DataConfig(root=str(idx_root), split="test"))
    assert train.shape == (256, 1, 28, 28) and test.shape == (64, 1, 28, 28) and train.dtype == torch.uint8


def test_idx_missing_root_names_path(tmp_path):
    with pytest.raises(GanforgeError, match=f"data.root '{tmp_path / 'nope'}' does not exist"):
        load_images(DataConfig(root=str(tmp_path / "nope")))
    with pytest.raises(GanforgeError, match="has no train-images-idx3-ubyte.gz; it needs the fashion-mnist IDX files.$"):
        load_images(DataConfig(root=str(tmp_path)))


def test_a_folder_of_images_given_as_another_datasets_root_says_how_to_read_it(tmp_path, capsys):
    """data.root=photos with a preset of Fashion-MNIST or CIFAR-10 said only that the dataset's files were missing."""
    (tmp_path / "photos" / "trip").mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "photos" / "trip" / "a.png")
    photos = str(tmp_path / "photos")
    hint = " It holds images ('trip/a.png'): to read them as a folder of images, set data.name to folder."
    with pytest.raises(GanforgeError, match=re.escape(f"it needs the fashion-mnist IDX files.{hint}")):
        load_images(DataConfig(root=photos))
    with pytest.raises(GanforgeError, match=re.escape(f"lacks CIFAR-10 batches {cifar.BATCHES['train']}.{hint}")):
        load_images(DataConfig(name="cifar10", root=photos))
    assert run_cli("train", "srcnn-x4", "--out", tmp_path / "sr", "--set", f"data.root={photos}") == 2
    assert capsys.readouterr().err.endswith(f"it needs the fashion-mnist IDX files.{hint}\n")
    np.save(tmp_path / "s.npy", np.zeros((8, 1, 28, 28), np.uint8))  # the commands whose flags set the dataset
    assert run_cli("evaluate", tmp_path / "s.npy", "--metrics", "swd", "--data-root", photos) == 2
    assert capsys.readouterr().err.endswith(hint.replace("data.name", "--dataset") + "\n")
    assert run_cli("data", "mnist", "--root", photos, "--out", tmp_path / "m.npy") == 2
    assert capsys.readouterr().err.endswith(hint.replace("data.name", "the dataset argument") + "\n")
    assert run_cli("train", "srcnn-x4", "--out", tmp_path / "sr", "--set", f"data.root={photos}",
                   "--set", "data.name=folder", "--set", "train.max_steps=1", "--set", "train.batch_size=1") == 0


def test_idx_files_where_torchvision_and_kaggle_put_them_are_found(idx_root, tmp_path, capsys):
    """Seeds 000 and 001 load MNIST with torchvision's datasets.MNIST(root), which writes root/MNIST/raw; Kaggle's
    copies name the unpacked files 'train-images.idx3-ubyte'. data.root=root, root/MNIST or the Kaggle folder said
    they had no train-images-idx3-ubyte.gz."""
    want = load_images(DataConfig(root=str(idx_root)))
    raw = tmp_path / "dataset" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in idx_root.glob("*.gz"):  # torchvision keeps the download and the unpacked file side by side
        shutil.copy(f, raw / f.name)
        write_idx(raw / f.name.removesuffix(".gz"), idx.read_idx(f))
    for root in (tmp_path / "dataset", tmp_path / "dataset" / "MNIST"):
        assert torch.equal(load_images(DataConfig(name="mnist", root=str(root))), want)
        labels = load_labeled(DataConfig(name="mnist", root=str(root), split="test"))[1]
        assert labels.shape == (64,)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    for f in idx_root.glob("*.gz"):
        write_idx(kaggle / f.name.removesuffix(".gz").replace("-idx", ".idx"), idx.read_idx(f))
    assert torch.equal(load_images(DataConfig(name="mnist", root=str(kaggle))), want)
    # the Fashion-MNIST presets pointed at seed 001's download: it is MNIST, and only torchvision's folder says so
    hint = " It holds mnist's ('MNIST/raw', as torchvision writes it): to train on it, set data.name to mnist."
    with pytest.raises(GanforgeError, match=re.escape(f"it needs the fashion-mnist IDX files.{hint}")):
        load_images(DataConfig(root=str(tmp_path / "dataset")))
    assert run_cli("train", "mlp-gan-fmnist", "--out", tmp_path / "r", "--set", f"data.root={tmp_path / 'dataset'}",
                   "--set", "train.max_steps=1") == 2
    assert capsys.readouterr().err.endswith(f"IDX files.{hint}\n")


def test_a_data_root_that_is_a_file_or_a_typo_says_which_folder_to_give(idx_root, tmp_path, capsys):
    """data.root given one of the dataset's files, an image, or a misspelt folder said only that it did not exist or
    was not a folder; evaluate's --data-root of a file offered another file named like it."""
    gz = idx_root / "train-images-idx3-ubyte.gz"
    with pytest.raises(GanforgeError, match=re.escape(f"data.root '{gz}' is a file, not a folder; point it at the "
                                                      f"folder that holds the fashion-mnist IDX files: '{idx_root}'.")):
        load_images(DataConfig(root=str(gz)))
    typo = idx_root.parent / (idx_root.name + "x")
    with pytest.raises(GanforgeError, match=re.escape(f"does not exist or is not a folder. Did you mean '{idx_root}'?")):
        load_images(DataConfig(root=str(typo)))
    (tmp_path / "photos").mkdir()
    photo = tmp_path / "photos" / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
    with pytest.raises(GanforgeError, match=re.escape(f"data.root '{photo}' is one image, not a folder of the CIFAR-10 "
                                                      "files; to train on images, set data.name to folder and point "
                                                      f"data.root at the folder that holds them, such as "
                                                      f"'{photo.parent}'.")):
        load_images(DataConfig(name="cifar10", root=str(photo)))
    with pytest.raises(GanforgeError, match=re.escape(f"data.root '{photo}' is not a folder; it is one image: point it "
                                                      f"at the folder of images, such as '{photo.parent}'.")):
        load_images(DataConfig(name="folder", root=str(photo), resolution=32, channels=3))
    with pytest.raises(GanforgeError, match=re.escape(f"does not exist. Did you mean '{photo.parent}'?")):
        load_images(DataConfig(name="folder", root=str(tmp_path / "photo"), resolution=32, channels=3))
    np.save(tmp_path / "s.npy", np.zeros((8, 1, 28, 28), np.uint8))
    assert run_cli("evaluate", tmp_path / "s.npy", "--metrics", "swd", "--data-root", gz) == 2
    assert capsys.readouterr().err.endswith(f"the reference dataset's files. It is a file: '{idx_root}' holds it.\n")


def test_resize_and_channels(idx_root):
    x = load_images(DataConfig(root=str(idx_root), resolution=32, channels=3))
    assert x.shape == (256, 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 2])  # gray repeated into RGB


def test_grey_made_rgb_is_resized_once_then_repeated(idx_root, monkeypatch):
    """Fashion-MNIST at 64x64x3 (the hw6 presets on the embedded dataset) resized the three equal channels one by
    one: 15.5 s and 3x the float memory, against 3.7 s for the grey ones. The memory check says so."""
    grey = load_images(DataConfig(root=str(idx_root), resolution=64, channels=1))
    # 256 images: 1.0 MB resized grey, beside 4.2 MB of float chunk or 3.1 MB repeated (three channels: 15.7 MB)
    monkeypatch.setattr("ganforge.memory.psutil.virtual_memory", lambda: SimpleNamespace(available=6_000_000))
    rgb = load_images(DataConfig(root=str(idx_root), resolution=64, channels=3))
    assert rgb.shape == (256, 3, 64, 64) and all(torch.equal(rgb[:, i], grey[:, 0]) for i in range(3))
    monkeypatch.setattr("ganforge.memory.psutil.virtual_memory", lambda: SimpleNamespace(available=5_000_000))
    with pytest.raises(GanforgeError, match=r"256 images of 3x64x64 \(data.resolution=64\) would need about 5.2 MB "):
        load_images(DataConfig(root=str(idx_root), resolution=64, channels=3))


def test_resize_in_chunks_equals_one_pass(idx_root, monkeypatch):
    import ganforge.data as data

    whole = load_images(DataConfig(root=str(idx_root), resolution=20))
    monkeypatch.setattr(data, "CHUNK_BYTES", 4 * 20 * 20 * 7)  # 7 images a chunk: 37 chunks, the last one short
    assert torch.equal(load_images(DataConfig(root=str(idx_root), resolution=20)), whole)
    raw = torch.from_numpy(idx.read_idx(idx_root / "train-images-idx3-ubyte.gz")).float()
    one_pass = torch.nn.functional.interpolate(raw[:, None], size=(20, 20), mode="bilinear", antialias=True)
    assert torch.equal(whole, one_pass.round().clamp(0, 255).to(torch.uint8))


def test_a_resize_says_how_far_it_has_got(idx_root, monkeypatch, capsys):
    """Fashion-MNIST's 60,000 images made 64x64x3 took 7 s, at 256x256 minutes, with nothing on the screen."""
    import ganforge.data as data
    from ganforge import progress

    monkeypatch.setattr(data, "CHUNK_BYTES", 4 * 20 * 20 * 100)  # 100 images a chunk: three chunks of 256
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)  # a line after every chunk, not every 30 s
    load_images(DataConfig(root=str(idx_root), resolution=20))
    assert capsys.readouterr().err.splitlines() == [
        "ganforge: resizing 28x28 to 20x20: 100 of 256 images (39 %)",
        "ganforge: resizing 28x28 to 20x20: 200 of 256 images (78 %)",
        "ganforge: resizing 28x28 to 20x20: 256 of 256 images (100 %)"]


def test_a_resolution_too_large_for_memory_is_refused_before_allocating(idx_root, image_folder, tmp_path):
    """A real check against this machine's available memory: terabytes fit nowhere (it was an allocator traceback)."""
    with pytest.raises(GanforgeError, match=r"256 images of 1x100000x100000 \(data.resolution=100000\) would need "
                                            r"about 2,600.0 GB of memory, but .* GB is available; lower "
                                            r"data.resolution"):
        load_images(DataConfig(root=str(idx_root), resolution=100_000))
    with pytest.raises(GanforgeError, match=r"24 images of 3x100000x100000 in .* would need about 720.0 GB of memory"):
        load_folder(str(image_folder), 100_000, 3, str(tmp_path))


def test_download_from_mirror_with_checksum(http_server, tmp_path, monkeypatch):
    www, url = http_server
    images = fake_garments(40)
    write_idx(www / "train-images-idx3-ubyte.gz", images)
    md5 = md5_of(www / "train-images-idx3-ubyte.gz")
    # The real table holds the official checksums; this test serves its own small file.
    spec = dict(idx.IDX_SETS["mnist"], debian=str(tmp_path / "no-debian"),
                files={"train": ("train-images-idx3-ubyte.gz", md5)})
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    cache = tmp_path / "dl-cache"
    x = load_images(DataConfig(name="mnist", mirror=url, cache_dir=str(cache)))
    assert np.array_equal(x[:, 0].numpy(), images)
    assert (cache / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    assert not list((cache / "mnist").glob("*.part"))  # no temp files left behind


def test_data_and_evaluate_download_from_a_mirror_given_on_the_command_line(http_server, tmp_path, monkeypatch,
                                                                             capsys):
    """--mirror for `data` and `evaluate`: only training could use a mirror (data.mirror)."""
    www, url = http_server
    images = fake_garments(40)
    write_idx(www / "train-images-idx3-ubyte.gz", images)
    spec = dict(idx.IDX_SETS["mnist"], debian=str(tmp_path / "no-debian"),
                files={"train": ("train-images-idx3-ubyte.gz", md5_of(www / "train-images-idx3-ubyte.gz"))})
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))  # empty: the official mirrors are unreachable here
    assert run_cli("data", "mnist", "--mirror", url, "--out", tmp_path / "m.npy") == 0
    assert np.array_equal(np.load(tmp_path / "m.npy")[:, 0], images)
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache2"))
    assert run_cli("evaluate", tmp_path / "m.npy", "--dataset", "mnist", "--mirror", url, "--metrics", "kid") == 0
    assert (tmp_path / "cache2" / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    capsys.readouterr()
    assert run_cli("data", "mnist", "--mirror", "mirror.example.org", "--out", tmp_path / "x.npy") == 2
    assert ("--mirror is 'mirror.example.org', not a URL: give the base URL the dataset's files are under "
            "(https://..., or file:///srv/mirror/); for files already on this machine, give --root FOLDER instead."
            ) in capsys.readouterr().err
    assert run_cli("evaluate", tmp_path / "m.npy", "--mirror", "mirror.example.org") == 2
    assert "for files already on this machine, give --data-root FOLDER instead." in capsys.readouterr().err


def test_loader_errors_name_the_flag_that_set_the_folder(tmp_path, capsys, monkeypatch):
    """A loader's error names the setting as the command took it: data's --root, evaluate's --data-root (or
    data_root from Python), and data.root again once the command is over."""
    import ganforge

    empty = tmp_path / "data.root"  # a folder named like the key: ganforge data rewrote it to '--root'
    empty.mkdir()
    samples = tmp_path / "s.npy"
    np.save(samples, fake_garments(40)[:, None])
    assert run_cli("data", "fashion-mnist", "--root", empty, "--out", tmp_path / "x.npy") == 2
    assert f"--root '{empty}' has no train-images-idx3-ubyte.gz;" in capsys.readouterr().err
    # it said "data.root '...' has no ...", a key evaluate has no flag for
    assert run_cli("evaluate", samples, "--metrics", "kid", "--data-root", empty) == 2
    assert f"--data-root '{empty}' has no train-images-idx3-ubyte.gz;" in capsys.readouterr().err
    with pytest.raises(GanforgeError, match=r"^data_root '.*' has no train-images"):
        ganforge.evaluate(samples, "kid", data_root=str(empty))
    # before the samples' features were computed, it said to --set data.root
    assert run_cli("evaluate", samples, "--metrics", "kid", "--dataset", "folder") == 2
    assert capsys.readouterr().err.endswith(
        "ganforge: error: --dataset folder compares with a folder of images; name it: --data-root PATH.\n")
    with pytest.raises(GanforgeError, match=r"^dataset='folder' compares .* name it: data_root=PATH\.$"):
        ganforge.evaluate(samples, "kid", dataset="folder")
    # a failed download said to "point data.root at a folder that holds it", without --data-root given
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(idx.IDX_SETS, "mnist", dict(idx.IDX_SETS["mnist"], debian=str(tmp_path / "no-debian")))
    assert run_cli("evaluate", samples, "--metrics", "kid", "--dataset", "mnist", "--mirror", "http://127.0.0.1:9/") == 2
    assert capsys.readouterr().err.endswith("or point --data-root at a folder that holds it.\n")
    with pytest.raises(GanforgeError, match=r"^data\.root '.*' has no train-images"):  # the names are put back
        load_images(DataConfig(root=str(empty)))


def test_download_rejects_bad_checksum_and_keeps_nothing(http_server, tmp_path):
    www, url = http_server
    (www / "f.bin").write_bytes(b"tampered")
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(GanforgeError, match=r"checksum .* != expected 0{32}"):
        download([url + "f.bin"], dest, "0" * 32)
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_download_tries_next_mirror(http_server, tmp_path):
    www, url = http_server
    (www / "f.bin").write_bytes(b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    dest = download([url + "missing/f.bin", url + "f.bin"], tmp_path / "f.bin", md5)
    assert dest.read_bytes() == b"payload"



def test_a_download_says_what_it_fetches_and_how_far_it_has_got(http_server, tmp_path, monkeypatch, capsys):
    """A line naming the URL and the size, then (stderr being no terminal here) a line as it goes; a 170 MB
    archive took minutes with nothing on the screen."""
    from ganforge import progress

    www, url = http_server
    payload = bytes(range(256)) * (3 * 4096)  # 3 MiB: three of the copy's 1 MiB chunks
    (www / "f.bin").write_bytes(payload)
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)  # a line after every chunk, not every 30 s
    download([url + "f.bin"], tmp_path / "cache" / "f.bin", hashlib.md5(payload).hexdigest())
    err = capsys.readouterr().err
    assert f"ganforge: downloading {url}f.bin (3.1 MB) into {tmp_path / 'cache'}\n" in err
    assert "ganforge: f.bin: 1.0 MB of 3.1 MB (33 %)\n" in err
    assert err.rstrip().endswith("ganforge: f.bin: 3.1 MB of 3.1 MB (100 %)")


def test_processes_fetching_one_file_download_it_once(tmp_path, capsys):
    """torchrun's ranks on one machine each downloaded the whole dataset at once into the one cache: now the
    first fetches it and the others wait for it (a flock; threads hold separate ones, as processes do)."""
    payload = b"payload" * 1000
    www = tmp_path / "www"
    www.mkdir()
    (www / "f.bin").write_bytes(payload)
    asked = []

    class Slow(Quiet):
        def do_GET(self):
            asked.append(self.path)
            time.sleep(0.5)  # long enough for every caller to come while the first is fetching
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Slow, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/f.bin"
    dest = tmp_path / "cache" / "f.bin"
    got = []

    def slow_check(path):  # a checksum of 170 MB takes a while: a waiter holds the lock as it checks the file
        time.sleep(0.2)
        return None if path.read_bytes() == payload else "wrong"

    callers = [threading.Thread(target=lambda: got.append(fetch([url], dest, slow_check))) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    server.shutdown()
    assert got == [dest] * 4 and dest.read_bytes() == payload
    assert asked == ["/f.bin"]
    # once each, though one may wait its turn again behind a third for the lock file's successor
    assert capsys.readouterr().err.count(f"waiting for another process downloading f.bin into {dest.parent}") == 3
    assert [p.name for p in dest.parent.iterdir()] == ["f.bin"]  # neither the lock file nor a part file is left



def test_a_cache_on_a_filesystem_without_locks_still_downloads(http_server, tmp_path, no_file_locks):
    """Some network and FUSE filesystems refuse flock (ENOLCK): the download goes on unguarded, as it did before
    downloads took a lock, where it ended in an OSError traceback."""
    www, url = http_server
    (www / "f.bin").write_bytes(b"payload")
    dest = download([url + "f.bin"], tmp_path / "cache" / "f.bin", hashlib.md5(b"payload").hexdigest())
    assert dest.read_bytes() == b"payload"

def test_the_part_file_of_a_killed_download_is_removed_by_the_next(tmp_path):
    """kill -9 (or the OOM killer) mid-download leaves its part file, which nothing removed: up to 170 MB of
    CIFAR-10 each time. The next fetch of the file holds its lock, so no other process is writing it: it removes
    them."""
    payload = b"payload" * 100_000
    www = tmp_path / "www"
    www.mkdir()
    (www / "f.bin").write_bytes(payload)
    sent, release = threading.Event(), threading.Event()

    class StallsFirst(Quiet):
        def do_GET(self):
            if sent.is_set():
                return super().do_GET()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[:1000])
            self.wfile.flush()
            sent.set()
            release.wait(30)  # the client is killed meanwhile

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(StallsFirst, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/f.bin"
    dest, md5 = tmp_path / "cache" / "f.bin", hashlib.md5(payload).hexdigest()
    code = f"from pathlib import Path; from ganforge.data.download import download; download([{url!r}], " \
           f"Path({str(dest)!r}), {md5!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    assert sent.wait(60) and proc.poll() is None
    proc.kill()
    proc.wait()
    release.set()
    assert sorted(p.suffix for p in dest.parent.iterdir()) == [".lock", ".part"]  # its lock file and its part file
    assert download([url], dest, md5).read_bytes() == payload
    server.shutdown()
    assert [p.name for p in dest.parent.iterdir()] == ["f.bin"]


def test_a_download_cut_short_says_where_the_server_hung_up(tmp_path):
    """A connection closed before the Content-Length was sent ended the copy quietly, and the download was said to
    have a wrong checksum; now it says that the server hung up, and where."""
    payload = b"payload" * 1000
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload[:1000]  # then hangs up
    with pytest.raises(GanforgeError, match=re.escape("/f.bin: the server hung up after 1.0 kB of 7.0 kB. Put the "
                                                      "file in")):
        download([_server_replying(reply)], tmp_path / "f.bin", hashlib.md5(payload).hexdigest())


def _server_replying(reply: bytes) -> str:
    """The URL of a server on 127.0.0.1 that answers every request with ``reply`` and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        while True:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(reply)
    threading.Thread(target=answer, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/f.bin"


def test_a_mirror_that_breaks_off_or_does_not_speak_http_is_passed_over(http_server, tmp_path):
    www, url = http_server
    (www / "f.bin").write_bytes(b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    broken = _server_replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\npaylo\r\n")  # then hangs up
    other = _server_replying(b"SSH-2.0-OpenSSH_9.6\r\n")  # another service on the mirror's port
    # http.client's errors are no OSError: the first mirror's ended the command with a traceback
    assert download([broken, other, url + "f.bin"], tmp_path / "f.bin", md5).read_bytes() == b"payload"
    with pytest.raises(GanforgeError, match=re.escape(f"could not download f.bin: {broken}: the server's reply broke "
                                                      "off or is not HTTP (IncompleteRead(5 bytes read)); "
                                                      f"{other}: the server's reply broke off or is not HTTP "
                                                      "(BadStatusLine('SSH-2.0-OpenSSH_9.6\\r\\n')). Put the file")):
        download([broken, other], tmp_path / "g" / "f.bin", md5)
    assert not list((tmp_path / "g").iterdir())  # no part file is left


def test_the_cache_is_ganforge_cache_else_in_the_xdg_cache_folder(tmp_path, monkeypatch):
    """$XDG_CACHE_HOME (a cluster's scratch space, which torch and Hugging Face use too) was passed over for
    ~/.cache."""
    from ganforge.data.download import default_cache_dir

    monkeypatch.delenv("GANFORGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ganforge"
    for ignored in ("", "relative/cache"):  # unset or relative: the spec's ~/.cache
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert default_cache_dir() == Path.home() / ".cache" / "ganforge"
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "ours"))  # ganforge's own, then a config's, come first
    assert default_cache_dir() == tmp_path / "ours"
    assert default_cache_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"


def test_download_cache_that_cannot_be_made_says_how_to_fix(http_server, tmp_path):
    www, url = http_server
    (www / "f.bin").write_bytes(b"payload")
    (tmp_path / "a-file").write_bytes(b"")  # a file where the cache folder should go
    with pytest.raises(GanforgeError, match="cannot create the folder .*a-file/mnist.* Set GANFORGE_CACHE"):
        download([url + "f.bin"], tmp_path / "a-file" / "mnist" / "f.bin", hashlib.md5(b"payload").hexdigest())


def test_inception_download_checks_the_hash_and_leaves_no_part_file(http_server, tmp_path, monkeypatch):
    from ganforge.metrics import inception

    www, url = http_server
    (www / "w.pth").write_bytes(b"not the weights")
    monkeypatch.setattr(inception, "WEIGHTS_URLS", [url + "missing.pth", url + "w.pth"])
    with pytest.raises(GanforgeError, match=r"missing.pth: HTTP Error 404.*w.pth: wrong SHA-256"):
        inception._download_checked(tmp_path / "inception" / "w.pth")
    assert not list((tmp_path / "inception").iterdir())  # neither the file nor a .part of either attempt


def test_download_disabled_says_how_to_fix(tmp_path, monkeypatch):
    spec = dict(idx.IDX_SETS["mnist"], debian=str(tmp_path / "none"))
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    with pytest.raises(GanforgeError, match="data.download is false. Set data.root"):
        load_images(DataConfig(name="mnist", download=False))
    with pytest.raises(GanforgeError, match="data.download is false. Set data.root to a folder holding "
                                            "cifar-10-batches-py or cifar-10-python.tar.gz, or allow the download"):
        load_images(DataConfig(name="cifar10", download=False, cache_dir=str(tmp_path)))


def test_debian_fashion_mnist_when_installed():
    needs_debian_fashion_mnist()
    x = load_images(DataConfig(name="fashion-mnist", download=False))
    assert x.shape == (60000, 1, 28, 28) and 70 < x.float().mean() < 80  # Fashion-MNIST mean is ~72.9


# ------------------------------------------------------------------ CIFAR-10

def test_cifar_from_folder_and_archive(tmp_path, http_server):
    folder = write_cifar_folder(tmp_path, per_batch=4, test=3)
    x = load_images(DataConfig(name="cifar10", root=str(tmp_path), resolution=32, channels=3))
    assert x.shape == (20, 3, 32, 32)
    # the same data as a tar.gz served over HTTP
    www, url = http_server
    with tarfile.open(www / cifar.ARCHIVE, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    md5 = md5_of(www / cifar.ARCHIVE)
    import ganforge.data.cifar as c
    old = c.ARCHIVE_MD5
    c.ARCHIVE_MD5 = md5
    try:
        y = load_images(DataConfig(name="cifar10", split="test", mirror=url, resolution=32, channels=3,
                                   cache_dir=str(tmp_path / "cc")))
    finally:
        c.ARCHIVE_MD5 = old
    assert y.shape == (3, 3, 32, 32)


def test_a_damaged_archive_says_so_and_how_to_fix_it(tmp_path):
    # gzip's header, then a deflate block of the reserved type: zlib's error is no OSError, and came as a traceback
    (tmp_path / "t.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07" + bytes(20))
    with pytest.raises(GanforgeError, match=r"^cannot read IDX file '.*t.gz': Error -3 while decompressing data: "
                                            r"invalid block type. It is damaged or incomplete: delete it and download "
                                            r"it again.$"):
        idx.read_idx(tmp_path / "t.gz")
    folder = write_cifar_folder(tmp_path / "c", per_batch=4, test=3)
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    root = tmp_path / "root"
    root.mkdir()
    # a download cut short (EOFError) and a file that is no archive at all (tarfile's ReadError): both tracebacks
    for damaged, why in ((whole.read_bytes()[:len(whole.read_bytes()) // 2], "Compressed file ended"),
                         (b"<html>404 Not Found</html>", "not a gzip file")):
        (root / cifar.ARCHIVE).write_bytes(damaged)
        with pytest.raises(GanforgeError, match=rf"^cannot read the CIFAR-10 archive '.*{cifar.ARCHIVE}': {why}.*\. "
                                                r"It is damaged or incomplete \(its MD5 should be "
                                                rf"{cifar.ARCHIVE_MD5}\): delete it and download it again.$"):
            load_images(DataConfig(name="cifar10", root=str(root), resolution=32, channels=3))


def test_cifar_refuses_code_in_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    raw = pickle.dumps({b"data": Evil()})
    with pytest.raises(GanforgeError, match="is not a CIFAR-10 python batch"):
        cifar.read_batch(raw, "evil")
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------ image folders

def test_a_cache_that_cannot_be_written_is_a_warning(image_folder, tmp_path, capsys):
    (tmp_path / "a-file").write_bytes(b"")  # a read-only home, say: the cache only saves work
    x = load_folder(str(image_folder), 32, 3, str(tmp_path / "a-file"))
    assert x.shape == (24, 3, 32, 32)
    # once: the decoded images' three files each said it
    assert capsys.readouterr().err.count("warning: not cached, so the next run redoes this work: cannot create the "
                                         "folder") == 1
    ref = DataConfig(name="folder", root=str(image_folder), resolution=28, channels=1,  # the reference features' cache
                     cache_dir=str(tmp_path / "a-file"))
    result = evaluate_images(array_batches(torch.as_tensor(x[:8, :1, :28, :28])), 8, ref, ("fid",))
    assert np.isfinite(result["fid"])
    assert "ref-features" in capsys.readouterr().err


def test_a_16_bit_png_is_scaled_not_clipped(tmp_path):
    levels = np.arange(256, dtype=np.uint16).reshape(16, 16)
    Image.fromarray(levels * 257).save(tmp_path / "deep.png")  # uint16: a 16-bit PNG of 0 ... 65535
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode == "I;16"  # how Pillow opens a 16-bit PNG
    gray = decode_image(tmp_path / "deep.png", 0, 1).image
    assert np.array_equal(gray[0], levels)  # Pillow's convert("L") would give 255 for all but the first level
    rgb = decode_image(tmp_path / "deep.png", 0, 3)
    assert rgb.converted and np.array_equal(rgb.image[1], levels)
    Image.fromarray(levels.astype(np.int32) * 257 - 5).save(tmp_path / "signed.tif")  # 32-bit: Pillow's mode I
    assert decode_image(tmp_path / "signed.tif", 0, 1) == (
        "ValueError: a 32-bit integer image with values from -5 to 65530; ganforge reads integer images in "
        "[0, 65535]: rescale it, or save it as 8- or 16-bit")  # it was decoded by a scaling that wraps such values


def test_a_float_tiff_is_scaled_not_clipped(tmp_path, capsys):
    """A 32-bit float TIFF (Pillow's mode "F") in [0, 1] or [0, 255]; another range is skipped, saying why."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(levels.astype(np.float32) / 255, "F").save(tmp_path / "unit.tif")
    Image.fromarray(levels.astype(np.float32), "F").save(tmp_path / "bytes.tif")
    Image.fromarray(levels.astype(np.float32) * 4 - 100, "F").save(tmp_path / "odd.tif")
    with Image.open(tmp_path / "unit.tif") as im:
        assert im.mode == "F"
    for name in ("unit.tif", "bytes.tif"):
        gray = decode_image(tmp_path / name, 0, 1)  # Pillow's convert("L") would make unit.tif 0s and 1s
        assert np.array_equal(gray.image[0], levels) and not gray.converted
    rgb = decode_image(tmp_path / "unit.tif", 0, 3)
    assert rgb.converted and np.array_equal(rgb.image[2], levels)
    why = ("ValueError: a float image with values from -100 to 920; ganforge reads float images in [0, 1] or "
           "[0, 255]: rescale it to one of them, or save it as 8- or 16-bit")
    assert decode_image(tmp_path / "odd.tif", 0, 1) == why
    with pytest.warns(DataWarning, match=r"skipped 1 of 3 files .* odd.tif \(ValueError: a float image"):
        assert load_folder(str(tmp_path), 16, 1, str(tmp_path / "cache")).shape == (2, 1, 16, 16)


def test_a_photo_is_turned_as_its_exif_orientation_says(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high as stored; the left half bright
    stored[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: shown turned 90 degrees clockwise, as a phone held upright writes it
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = decode_image(tmp_path / "phone.jpg", 0, 3).image
    assert shown.shape == (3, 40, 20)  # upright: 20 wide, 40 high
    assert shown[:, :18].mean() > 200 and shown[:, 22:].mean() < 50  # the bright half is now on top


def test_transparent_pixels_are_put_on_white_not_kept_as_stored(tmp_path):
    sprite = np.zeros((16, 16, 4), np.uint8)  # transparent black around, as sprite sheets store it
    sprite[4:12, 4:12] = (200, 30, 30, 255)  # an opaque red square
    sprite[0, 0] = (0, 0, 255, 128)  # one half-transparent blue pixel
    Image.fromarray(sprite, "RGBA").save(tmp_path / "sprite.png")
    Image.fromarray(sprite[..., 3], "L").convert("P").save(tmp_path / "keyed.png", transparency=0)  # GIF-style key
    Image.fromarray(np.full((16, 16, 4), (90, 90, 90, 255), np.uint8), "RGBA").save(tmp_path / "opaque.png")
    Image.fromarray(sprite[..., 3]).convert("LA").save(tmp_path / "gray.png")  # alpha 255 everywhere

    rgb = decode_image(tmp_path / "sprite.png", 0, 3)
    assert rgb.flattened and not rgb.converted
    assert (rgb.image[:, 15, 15] == 255).all()  # white where it was transparent black
    assert tuple(rgb.image[:, 8, 8]) == (200, 30, 30)
    assert tuple(rgb.image[:, 0, 0]) in ((127, 127, 255), (128, 128, 255))  # half blue over white
    assert decode_image(tmp_path / "sprite.png", 0, 1).image[0, 15, 15] == 255
    keyed = decode_image(tmp_path / "keyed.png", 0, 1)
    assert keyed.flattened and keyed.image[0, 15, 15] == 255  # palette index 0 was the transparent one
    for name, channels in (("opaque.png", 3), ("gray.png", 1)):  # an alpha channel with nothing transparent
        kept = decode_image(tmp_path / name, 0, channels)
        assert not kept.flattened
    assert (decode_image(tmp_path / "opaque.png", 0, 3).image == 90).all()
    with pytest.warns(DataWarning, match=r"2 of 4 images in .* have transparent pixels, which were put on a white "
                                         r"background: keyed.png, sprite.png"):
        load_folder(str(tmp_path), 16, 3, str(tmp_path / "cache"))


def test_a_folder_reads_the_formats_torchvision_reads(tmp_path):
    for i, suffix in enumerate((".bmp", ".tif", ".TIFF", ".ppm", ".pgm", ".webp", ".jpeg")):
        Image.new("RGB", (12, 12), (30 * i, 0, 0)).save(tmp_path / f"img{i}{suffix}")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_folder(str(tmp_path), 8, 3, str(tmp_path / "cache"))
    assert len(images) == 7  # each format read, the text file not listed


def test_folder_resize_crop_and_cache(image_folder, tmp_path):
    cache = tmp_path / "fc"
    x = load_folder(str(image_folder), 64, 3, str(cache))
    assert x.shape == (24, 3, 64, 64) and x.dtype == np.uint8
    cached = list((cache / "folders").glob("*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.zeros_like(x))  # prove the second load reads the cache, not the images
    assert load_folder(str(image_folder), 64, 3, str(cache)).sum() == 0
    gray = load_folder(str(image_folder), 32, 1, str(cache))  # another key: decoded anew
    assert gray.shape == (24, 1, 32, 32) and gray.sum() > 0



def test_processes_loading_one_folder_decode_it_once(image_folder, tmp_path, monkeypatch, capsys):
    """torchrun's ranks on one machine each decoded the whole folder at once, each on all the cores, into the
    one cache: now the first decodes it and the others wait, then read its cache."""
    from ganforge.data import folder as folder_module

    decodes = []
    real_decode = folder_module.decode_files

    def decode_files(*args, **kwargs):  # the real decoding, counted and made slow enough for the others to come
        decodes.append(args[0])
        time.sleep(0.3)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(folder_module, "decode_files", decode_files)
    cache = tmp_path / "fc"
    got = []
    loaders = [threading.Thread(target=lambda: got.append(load_folder(str(image_folder), 32, 3, str(cache))))
               for _ in range(3)]
    for loader in loaders:
        loader.start()
    for loader in loaders:
        loader.join()
    assert decodes == [image_folder]
    assert len(got) == 3 and all(np.array_equal(x, got[0]) for x in got) and got[0].shape == (24, 3, 32, 32)
    waiting = f"waiting for another process decoding '{image_folder}' into {cache / 'folders'}"
    assert capsys.readouterr().err.count(waiting) == 2
    assert not list((cache / "folders").glob(".*"))  # neither a lock file nor a temp file is left


def test_the_temp_array_of_a_killed_decoding_is_removed_by_the_next(image_folder, tmp_path):
    """A process killed while writing a folder's decoded array (as large as the whole) left its temp file in the
    cache; the next decoding of the folder holds its lock, so no other process is writing the array: it removes it."""
    cache = tmp_path / "fc"
    load_folder(str(image_folder), 32, 3, str(cache))
    [array] = (cache / "folders").glob("*[0-9a-f].npy")
    for made in (cache / "folders").iterdir():  # as if the first process had been killed writing its array
        made.unlink()
    left = cache / "folders" / f".{array.name}.0123456789abcdef.tmp"
    left.write_bytes(b"\0" * 1000)
    load_folder(str(image_folder), 32, 3, str(cache))
    assert not left.exists() and array.is_file()

def test_folder_center_crop_keeps_middle(tmp_path):
    arr = np.zeros((40, 120, 3), dtype=np.uint8)
    arr[:, 40:80] = 255  # white middle third of a wide image
    (tmp_path / "imgs").mkdir()
    Image.fromarray(arr).save(tmp_path / "imgs" / "wide.png")
    x = load_folder(str(tmp_path / "imgs"), 40, 3, str(tmp_path / "c"))
    assert x.shape == (1, 3, 40, 40) and x[0, :, :, 5:35].min() == 255


def test_folder_skips_corrupt_files_with_one_warning(image_folder, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted(image_folder.rglob("*.png"))[:5]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "zz_truncated.png").write_bytes(next(iter(folder.glob("*.png"))).read_bytes()[:100])
    (folder / "zz_text.png").write_text("this is not an image")
    with pytest.warns(DataWarning, match=r"skipped 2 of 7 files .*zz_t"):
        x = load_folder(str(folder), 32, 3, str(tmp_path / "c"))
    assert len(x) == 5


def test_a_cached_folder_warns_as_its_first_load_did_naming_where_it_is_now(image_folder, tmp_path, monkeypatch):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted(image_folder.rglob("*.png"))[:3]:  # RGB, 64 to 120 pixels a side
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "zz_text.png").write_text("this is not an image")
    cache = tmp_path / "c"

    def load(root):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = load_folder(str(root), 128, 1, str(cache))
        return x, sorted(str(w.message) for w in caught if w.category is DataWarning)

    x, first = load(folder)
    assert len(first) == 3 and len(x) == 3
    assert any("3 of 4 images" in m and "smaller than 128x128" in m for m in first)
    assert any("converted to grayscale" in m for m in first) and any("skipped 1 of 4" in m for m in first)
    [cached] = (cache / "folders").glob("*[0-9a-f].npy")
    np.save(cached, np.zeros_like(x))  # the loads below read the cache, not the images
    x, again = load(folder)
    assert x.sum() == 0 and again == first
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)  # same names, sizes and times: the same cache entry
    x, there = load(moved)
    assert x.sum() == 0 and there == [m.replace(str(folder), str(moved)) for m in first] != first
    monkeypatch.chdir(moved)  # a folder named "." names itself so, and every other dot stays
    x, here = load(".")
    assert x.sum() == 0 and here == [m.replace(str(folder), ".") for m in first]


def test_a_folder_has_no_test_split(image_folder, tmp_path):
    with pytest.raises(GanforgeError, match="an image folder has one set of images and no test split"):
        load_images(DataConfig(name="folder", root=str(image_folder), split="test"))  # it used to load the same images
    assert run_cli("train", "hw6-dcgan-64", "--out", tmp_path / "r", "--set", f"data.root={image_folder}",
                   "--set", "eval.ref=test") == 2  # before training, not at its first evaluation


def test_folder_errors_name_the_path(tmp_path):
    with pytest.raises(GanforgeError, match=f"'{tmp_path / 'missing'}' does not exist"):
        load_folder(str(tmp_path / "missing"), 64, 3)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(GanforgeError, match=f"'{tmp_path / 'empty'}' holds no images"):
        load_folder(str(tmp_path / "empty"), 64, 3)
    with pytest.raises(GanforgeError, match=r"data.root is empty; name the folder: --set data.root=PATH.$"):
        load_folder("", 64, 3)
    (tmp_path / "faces.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an (empty) zip, as datasets are shipped
    with pytest.raises(GanforgeError, match=r"is not a folder; it looks like an archive: extract it"):
        load_folder(str(tmp_path / "faces.zip"), 64, 3)
    with pytest.raises(GanforgeError, match=r"'.*readme.txt' is not a folder\.$"):
        load_folder(str(tmp_path / "empty" / "readme.txt"), 64, 3)


# ------------------------------------------------------------------ class labels

def test_idx_labels_come_with_their_images(idx_root, tmp_path):
    images, labels, classes = load_labeled(DataConfig(root=str(idx_root)))
    assert images.shape == (256, 1, 28, 28) and labels.dtype == torch.int64 and labels.shape == (256,)
    assert classes[7] == "Sneaker" and labels.max() < 10
    assert torch.equal(images, load_images(DataConfig(root=str(idx_root))))
    # a label file of another length: the files do not belong together
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "train-images-idx3-ubyte.gz").write_bytes((idx_root / "train-images-idx3-ubyte.gz").read_bytes())
    write_idx(odd / "train-labels-idx1-ubyte.gz", np.zeros(255, np.uint8))
    with pytest.raises(GanforgeError, match="256 images but 255 labels"):
        load_labeled(DataConfig(root=str(odd)))
    write_idx(odd / "train-labels-idx1-ubyte.gz", np.full(256, 10, np.uint8))
    with pytest.raises(GanforgeError, match="not class labels 0-9"):
        load_labeled(DataConfig(root=str(odd)))


def test_idx_labels_download_with_their_checksum(http_server, tmp_path, monkeypatch):
    www, url = http_server
    write_idx(www / "train-images-idx3-ubyte.gz", fake_garments(40))
    write_idx(www / "train-labels-idx1-ubyte.gz", np.arange(40) % 10)
    spec = dict(idx.IDX_SETS["mnist"], debian=str(tmp_path / "no-debian"),
                files={"train": ("train-images-idx3-ubyte.gz", md5_of(www / "train-images-idx3-ubyte.gz"))},
                labels={"train": ("train-labels-idx1-ubyte.gz", md5_of(www / "train-labels-idx1-ubyte.gz"))})
    monkeypatch.setitem(idx.IDX_SETS, "mnist", spec)
    _, labels, classes = load_labeled(DataConfig(name="mnist", mirror=url, cache_dir=str(tmp_path / "dl")))
    assert labels.tolist() == [i % 10 for i in range(40)] and classes[3] == "3"
    spec["labels"] = {"train": ("train-labels-idx1-ubyte.gz", "0" * 32)}  # a tampered label file is refused
    with pytest.raises(GanforgeError, match="checksum"):
        load_labeled(DataConfig(name="mnist", mirror=url, cache_dir=str(tmp_path / "dl2")))


def test_cifar_labels(tmp_path):
    write_cifar_folder(tmp_path, per_batch=4, test=3)
    images, labels, classes = load_labeled(DataConfig(name="cifar10", root=str(tmp_path), resolution=32, channels=3))
    assert len(images) == len(labels) == 20 and labels.tolist() == [i % 10 for i in range(4)] * 5
    assert classes[1] == "automobile"


def test_folder_classes_are_its_subfolders_and_survive_the_cache(image_folder, tmp_path):
    images, labels, classes = load_folder_classes(str(image_folder), 32, 3, str(tmp_path / "c"))
    assert classes == ("a", "b")
    # the fixture puts odd-numbered images in a/, even in b/; the files are read in sorted order
    names = sorted(image_folder.rglob("*.*"))
    assert labels.tolist() == [0 if p.parent.name == "a" else 1 for p in names]
    np.save(next((tmp_path / "c" / "folders").glob("*.labels.npy")), 1 - labels)  # the second load reads the cache
    assert load_folder_classes(str(image_folder), 32, 3, str(tmp_path / "c"))[1].tolist() == (1 - labels).tolist()
    assert np.array_equal(load_folder(str(image_folder), 32, 3, str(tmp_path / "c")), images)


def test_a_run_inside_a_folder_of_images_is_left_out(image_folder, idx_root, tmp_path):
    """data.root=~/data holding a run in ~/data/runs/a read the run's sample grids as images."""
    folder = tmp_path / "data"
    shutil.copytree(image_folder, folder)
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "a", *tiny(idx_root, "train.max_steps=4")) == 0
    shutil.copytree(tmp_path / "a", folder / "runs" / "a")  # a run moved in, or made before data.root was widened
    assert list((folder / "runs" / "a" / "samples").glob("*.png"))
    with pytest.warns(DataWarning, match=r"'.*data' holds ganforge run folder \(runs/a\); 1 image in it, a grid of "
                                         r"samples, was left out. Keep runs outside folders of images"):
        images = load_folder(str(folder), 32, 3, str(tmp_path / "c"))
    assert len(images) == 24
    # a run killed after a grid, before its first checkpoint, is a run too (its grid was read as an image)
    shutil.copytree(tmp_path / "a", folder / "runs" / "b", ignore=shutil.ignore_patterns("checkpoints"))
    with pytest.warns(DataWarning, match=r"run folders \(runs/[ab], runs/[ab]\); 2 images in them, grids of samples"):
        assert len(load_folder(str(folder), 32, 3, str(tmp_path / "c"))) == 24
    with pytest.raises(GanforgeError, match=r"data.root '.*b' is a ganforge run's folder: its PNGs are grids"):
        load_folder(str(folder / "runs" / "b"), 32, 3, str(tmp_path / "c"))
    with pytest.warns(DataWarning, match="left out"):
        _, _, classes = load_folder_classes(str(folder), 32, 3, str(tmp_path / "c"))
    assert classes == ("a", "b")  # runs/ is no class


def test_folder_classes_skip_unreadable_files_and_refuse_loose_images(image_folder, tmp_path):
    folder = tmp_path / "pets"
    for cls, count in (("cat", 3), ("dog", 2)):
        (folder / cls).mkdir(parents=True)
        for p in sorted(image_folder.rglob("*.png"))[:count]:
            (folder / cls / p.name).write_bytes(p.read_bytes())
    (folder / "cat" / "broken.png").write_text("not an image")
    with pytest.warns(DataWarning, match="skipped 1 of 6"):
        _, labels, classes = load_folder_classes(str(folder), 32, 3, str(tmp_path / "c"))
    assert classes == ("cat", "dog") and labels.tolist() == [0, 0, 0, 1, 1]
    (folder / "loose.png").write_bytes((folder / "dog" / next(iter(p.name for p in (folder / "dog").iterdir()))).read_bytes())
    with pytest.raises(GanforgeError, match=r"holds 1 image directly in it \(loose.png\).*data.root/CLASS/image.png.* "
                                            r"Move it into class folders"):
        load_folder_classes(str(folder), 32, 3, str(tmp_path / "c"))


def test_labeled_batches_keep_images_and_classes_together():
    images = torch.arange(12, dtype=torch.uint8).view(12, 1, 1, 1)
    labels = torch.arange(12) * 10
    for world in (1, 2):
        parts = [InMemoryBatches(images, 4, seed=3, rank=r, world_size=world, labels=labels) for r in range(world)]
        for _ in range(5):
            for b in (part.next() for part in parts):
                assert isinstance(b, LabeledBatch)
                pixel = ((b.images[:, 0, 0, 0] + 1) * 255 / 2).round().long()
                assert torch.equal(b.labels, pixel * 10)


# ------------------------------------------------------------------ batches

def test_batches_are_seeded_and_resumable():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    a = InMemoryBatches(images, 16, seed=3)
    seen = [a.next() for _ in range(10)]  # crosses an epoch boundary (6 batches per epoch)
    assert a.epoch == 1
    first_epoch = torch.cat(seen[:6]).flatten()
    assert len(set(first_epoch.tolist())) == 96  # no repeats within an epoch
    assert seen[0].min() >= -1 and seen[0].max() <= 1
    b = InMemoryBatches(images, 16, seed=3)
    for _ in range(4):
        b.next()
    c = InMemoryBatches(images, 16, seed=3)
    c.load_state_dict(b.state_dict())
    assert all(torch.equal(c.next(), s) for s in seen[4:])
    assert not torch.equal(InMemoryBatches(images, 16, seed=4).next(), seen[0])


def test_a_resume_with_another_batch_size_goes_on_from_the_next_unseen_image():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    a = InMemoryBatches(images, 16, seed=3)
    first = [a.next() for _ in range(3)]  # 48 images of epoch 0
    b = InMemoryBatches(images, 24, seed=3)
    b.load_state_dict(a.state_dict())
    assert b.epochs_done == pytest.approx(48 / 96)  # of the 96 images a 16-batch epoch uses
    later = [b.next() for _ in range(2)]  # 48 more: the epoch's images 48..95
    epoch0 = torch.cat(first + later).flatten()
    assert len(set(epoch0.tolist())) == 96 and b.epoch == 0  # nothing skipped, nothing repeated
    b.next()  # 96 + 24 > 100: the next epoch begins
    assert b.epoch == 1 and b.epochs_done == pytest.approx(1 + 24 / 96)


def test_a_resume_on_data_of_another_size_says_so():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    a = InMemoryBatches(images, 16, seed=3)
    for _ in range(3):
        a.next()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same data: nothing to say
        InMemoryBatches(images, 16, seed=3).load_state_dict(a.state_dict())
    more = InMemoryBatches(torch.cat([images, images[:20]]), 16, seed=3)  # images added to the folder
    with pytest.warns(DataWarning, match=r"the data now has 120 images, but the run's checkpoint was made with "
                                         r"100; training goes on with the data as it is now; this epoch \(1\) is "
                                         r"reshuffled"):
        more.load_state_dict(a.state_dict())
    assert more.start == 48  # still goes on from the position it had
    at_epoch_end = {**a.state_dict(), "epoch": 1, "start": 0}  # images removed: no reshuffle to speak of
    with pytest.warns(DataWarning, match=r"made with 100; training goes on with the data as it is now\.$"):
        InMemoryBatches(images[:50], 16, seed=3).load_state_dict(at_epoch_end)


def test_a_checkpoint_that_counted_batches_resumes_the_same_order():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    a = InMemoryBatches(images, 16, seed=3)
    for _ in range(4):
        a.next()
    old = InMemoryBatches(images, 16, seed=3)
    old.load_state_dict({"epoch": 0, "index": 4, "seed": 3})  # the state before positions counted images
    assert torch.equal(old.next(), a.next())


def test_uint8_to_float_matches_totensor_normalize():
    images = torch.tensor([0, 128, 255], dtype=torch.uint8).view(3, 1, 1, 1)
    x = InMemoryBatches(images, 3, 0).next().flatten().sort().values
    expected = (torch.tensor([0, 128, 255]) / 255.0 - 0.5) / 0.5
    assert torch.allclose(x, expected, atol=1e-6)


def test_dataset_smaller_than_batch():
    with pytest.raises(GanforgeError, match="has 8 images, fewer than one batch \\(train.batch_size=16\\)"):
        InMemoryBatches(torch.zeros(8, 1, 4, 4, dtype=torch.uint8), 16, 0)
