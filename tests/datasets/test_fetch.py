"""Downloads against a real HTTP server on loopback: verification, resume, corrupted archives, and
no half-unpacked dataset that looks complete."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import re
import tarfile
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from frbench.datasets import load_lfw
from frbench.datasets.fetch import check_dataset, download, extract_tar, fetch_dataset
from frbench.datasets.registry import LFW, RFW, DatasetInfo, dataset_status, kumar_csv_from_npz
from frbench.errors import DatasetError


class _State:
    """What the server serves and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
        self.ignore_range: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self.served: dict[str, int] = defaultdict(int)
        self.url = ""


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # no connection can hang a test

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        state: _State = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range")))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and self.path not in state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        cut = state.cut.pop(self.path, None)
        if cut is not None:
            payload = payload[:cut]
            self.close_connection = True
        # Counted before writing: the client may check the count as soon as the bytes arrive.
        state.served[self.path] += len(payload)
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = _State()  # type: ignore[attr-defined]
    httpd.state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


BLOB = bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8))


def test_download_verifies_and_renames_into_place(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    dest = download([server.url + "/blob.bin"], tmp_path / "d" / "blob.bin", sha256=sha256(BLOB), timeout=5)
    assert dest.read_bytes() == BLOB and not (tmp_path / "d" / "blob.bin.part").exists()
    # Present and verified: not downloaded again.
    download([server.url + "/blob.bin"], dest, sha256=sha256(BLOB), timeout=5)
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    server.cut["/blob.bin"] = 12_345
    dest = tmp_path / "blob.bin"
    with pytest.raises(DatasetError, match=r"blob.bin: no source gave verified bytes .*12345 of 50000 bytes"):
        download([server.url + "/blob.bin"], dest, sha256=sha256(BLOB), timeout=5)
    assert not dest.exists() and (tmp_path / "blob.bin.part").stat().st_size == 12_345
    logged = []
    download([server.url + "/blob.bin"], dest, sha256=sha256(BLOB), timeout=5, log=logged.append)
    assert dest.read_bytes() == BLOB
    assert server.requests[-1] == ("/blob.bin", "bytes=12345-")
    assert server.served["/blob.bin"] == len(BLOB)  # the first 12,345 bytes were not sent twice
    assert any("resuming at byte 12345" in m for m in logged)


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    server.ignore_range.add("/blob.bin")
    (tmp_path / "blob.bin.part").write_bytes(BLOB[:1000])
    download([server.url + "/blob.bin"], tmp_path / "blob.bin", sha256=sha256(BLOB), timeout=5)
    assert (tmp_path / "blob.bin").read_bytes() == BLOB


def test_resumed_bytes_that_do_not_verify_are_fetched_again(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    (tmp_path / "blob.bin.part").write_bytes(b"\0" * 1000)  # a stale part from other content
    logged = []
    download([server.url + "/blob.bin"], tmp_path / "blob.bin", sha256=sha256(BLOB), timeout=5, log=logged.append)
    assert (tmp_path / "blob.bin").read_bytes() == BLOB
    assert [r[1] for r in server.requests] == ["bytes=1000-", None]
    assert any("starting again from zero" in m for m in logged)


def test_wrong_bytes_are_rejected_and_nothing_is_left(server, tmp_path):
    corrupted = BLOB[:-1] + bytes([BLOB[-1] ^ 1])
    server.files["/blob.bin"] = corrupted
    with pytest.raises(DatasetError, match=rf"SHA-256 is {sha256(corrupted)}, expected {sha256(BLOB)}"):
        download([server.url + "/blob.bin"], tmp_path / "blob.bin", sha256=sha256(BLOB), timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_next_mirror_after_a_404_and_md5_only(server, tmp_path):
    server.files["/mirror/blob.bin"] = BLOB
    dest = download(
        [server.url + "/gone/blob.bin", server.url + "/mirror/blob.bin"],
        tmp_path / "blob.bin",
        md5=hashlib.md5(BLOB).hexdigest(),
        timeout=5,
    )
    assert dest.read_bytes() == BLOB and [r[0] for r in server.requests] == ["/gone/blob.bin", "/mirror/blob.bin"]


def test_without_a_hash_a_partial_download_is_not_kept(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    server.cut["/blob.bin"] = 100
    with pytest.raises(DatasetError):
        download([server.url + "/blob.bin"], tmp_path / "blob.bin", timeout=5)
    assert list(tmp_path.iterdir()) == []  # nothing could tell a bad splice, so nothing is resumed
    download([server.url + "/blob.bin"], tmp_path / "blob.bin", timeout=5)
    assert server.requests[-1][1] is None and (tmp_path / "blob.bin").read_bytes() == BLOB


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", pixels)[1].tobytes()


def tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


FACES = {f"lfw-deepfunneled/{s}/{s}_{i:04d}.jpg": jpeg(k) for k, (s, i) in enumerate(
    [("Ann_Smith", 1), ("Ann_Smith", 2), ("Bob_Jones", 1), ("Bob_Jones", 2), ("Chen_Li", 1)]
)}


def no_partials(folder: Path) -> bool:
    return not any(".partial-" in p.name for p in folder.rglob("*"))


def test_extract_tar_renames_the_top_folder_when_complete(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(tgz(FACES))
    target = extract_tar(archive, tmp_path / "ds" / "images_deepfunneled", "lfw-deepfunneled", expect_images=5)
    assert (target / "Chen_Li" / "Chen_Li_0001.jpg").read_bytes() == FACES["lfw-deepfunneled/Chen_Li/Chen_Li_0001.jpg"]
    assert no_partials(tmp_path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not an archive at all", "corrupted archive"),
        # gzip data cut in the middle: the first members unpack, then the stream ends.
        (tgz(FACES)[: len(tgz(FACES)) * 2 // 3], "corrupted archive"),
    ],
)
def test_corrupted_archive_is_rejected_and_deleted(tmp_path, data, message):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(data)
    target = tmp_path / "ds" / "images_deepfunneled"
    with pytest.raises(DatasetError, match=rf"a.tgz: {message} .*it was deleted, run the fetch again"):
        extract_tar(archive, target, "lfw-deepfunneled", expect_images=5)
    assert not target.exists() and not archive.exists() and no_partials(tmp_path)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({k: v for k, v in list(FACES.items())[:4]}, "holds 4 images, expected 5"),
        ({**FACES, "README.txt": b"x"}, r"expected one top-level folder 'lfw-deepfunneled', found \['README.txt', "),
        ({**FACES, "../escape.jpg": jpeg(9)}, "corrupted archive"),
    ],
)
def test_archive_with_unexpected_content_never_becomes_the_target(tmp_path, members, message):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(tgz(members))
    target = tmp_path / "ds" / "images_deepfunneled"
    with pytest.raises(DatasetError, match=message):
        extract_tar(archive, target, "lfw-deepfunneled", expect_images=5)
    assert not target.exists() and no_partials(tmp_path) and not (tmp_path / "escape.jpg").exists()
    assert not archive.exists()  # so that the next fetch downloads it again


def test_leftovers_of_an_interrupted_extraction_are_removed(tmp_path):
    stale = tmp_path / ".images_deepfunneled.partial-old" / "lfw-deepfunneled" / "Ann_Smith"
    stale.mkdir(parents=True)
    archive = tmp_path / "a.tgz"
    archive.write_bytes(tgz(FACES))
    extract_tar(archive, tmp_path / "images_deepfunneled", "lfw-deepfunneled", expect_images=5)
    assert no_partials(tmp_path)
    assert dataset_status(tiny_lfw_info("http://unused", lfw_sources()), tmp_path).missing[0] == "pairs.txt: missing"


def lfw_sources() -> dict[str, bytes]:
    """A five-image LFW in the published files: archive, pairs, gender lists, race JSON, Kumar npz."""
    files = [name.split("/")[-1] for name in FACES]
    npz = io.BytesIO()
    names = np.array([b"Asian", b"Black", b"Indian", b"Male", b"White"])  # bytes, as numpy.savez wrote them
    data = np.array([[0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [1, 0, 0, 1, 0]], bool)
    np.savez(npz, description="test", data=data, attrname=names)
    return {
        "lfw-deepfunneled.tgz": tgz(FACES),
        "pairs.txt": b"1\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\t1\n",
        "male_names.txt": b"Bob_Jones_0001.jpg\r\nBob_Jones_0002.jpg\r\nChen_Li_0001.jpg\r\n",
        "female_names.txt": b"Ann_Smith_0001.jpg\r\nAnn_Smith_0002.jpg\r\n",
        "lfw_race_dict.json": json.dumps({"Ann_Smith": "african"}).encode(),
        "lfw_binary_attributes2.npz": npz.getvalue(),
        "filelist.txt": "".join(f"lfw/{f.rsplit('_', 1)[0]}/{f}\n" for f in files).encode(),
    }


def tiny_lfw_info(base_url: str, sources: dict[str, bytes], known_hashes: bool = True) -> DatasetInfo:
    """The real LFW registry entry, pointed at the loopback server and this five-image LFW."""
    files = []
    for remote in LFW.files:
        body = sources[remote.filename]
        sha = sha256(body) if remote.sha256 is not None and known_hashes else None
        md5 = hashlib.md5(body).hexdigest() if remote.md5 is not None and known_hashes else None
        files.append(
            dataclasses.replace(
                remote,
                urls=(f"{base_url}/{remote.filename}",),
                sha256=sha,
                md5=md5,
                expect_images=5 if remote.archive_top else None,
            )
        )
    derived = tuple(dataclasses.replace(d, make=functools.partial(kumar_csv_from_npz, rows=5)) for d in LFW.derived)
    return dataclasses.replace(LFW, files=tuple(files), derived=derived, image_counts={"images_deepfunneled": 5})


def serve(server, sources: dict[str, bytes]) -> None:
    server.files.update({f"/{name}": body for name, body in sources.items()})


def test_fetch_lfw_end_to_end(server, tmp_path):
    sources = lfw_sources()
    serve(server, sources)
    info = tiny_lfw_info(server.url, sources)
    folder = tmp_path / "lfw"
    fetch_dataset(info, folder, timeout=5)
    assert dataset_status(info, folder).complete
    assert check_dataset(info, folder) == []
    assert not (folder / ".downloads").exists()  # the verified archive is removed once unpacked
    assert (folder / "labels" / "kumar_attributes_binary.csv").read_text().splitlines()[:2] == [
        "image,Asian,Black,Indian,Male,White",
        "Ann_Smith_0001.jpg,0,1,0,0,0",
    ]
    ds = load_lfw(folder)
    assert len(ds.images) == 5
    assert ds.images.set_index("image_id").loc["Ann_Smith/Ann_Smith_0001.jpg", "race"] == "african"
    # A second fetch finds everything in place and downloads nothing.
    before = len(server.requests)
    fetch_dataset(info, folder, timeout=5)
    assert [r for r in server.requests[before:] if r[0] == "/lfw-deepfunneled.tgz"] == []


def test_interrupted_fetch_resumes_and_never_looks_complete(server, tmp_path):
    sources = lfw_sources()
    serve(server, sources)
    server.cut["/lfw-deepfunneled.tgz"] = 700
    info = tiny_lfw_info(server.url, sources)
    folder = tmp_path / "lfw"
    with pytest.raises(DatasetError, match="lfw-deepfunneled.tgz: no source gave verified bytes"):
        fetch_dataset(info, folder, timeout=5)
    status = dataset_status(info, folder)
    assert not status.complete and "images_deepfunneled: missing" in status.missing
    assert check_dataset(info, folder)  # check reports it too
    fetch_dataset(info, folder, timeout=5)
    assert ("/lfw-deepfunneled.tgz", "bytes=700-") in server.requests
    assert check_dataset(info, folder) == []


def test_corrupted_archive_without_a_known_hash(server, tmp_path):
    """Zeros over the second half: tarfile alone stops early at what looks like the end of the
    archive (two of five images); the gzip CRC, read to the end, catches it."""
    sources = lfw_sources()
    good = sources["lfw-deepfunneled.tgz"]
    serve(server, sources)
    server.files["/lfw-deepfunneled.tgz"] = good[: len(good) // 2] + bytes(len(good) - len(good) // 2)
    info = tiny_lfw_info(server.url, sources, known_hashes=False)
    folder = tmp_path / "lfw"
    with pytest.raises(DatasetError, match=r"lfw-deepfunneled.tgz: corrupted archive \(.*\); it was deleted"):
        fetch_dataset(info, folder, timeout=5)
    assert not (folder / "images_deepfunneled").exists() and no_partials(folder)
    assert not dataset_status(info, folder).complete
    # The bad archive was deleted, so once the source is good a rerun completes.
    server.files["/lfw-deepfunneled.tgz"] = good
    fetch_dataset(info, folder, timeout=5)
    assert check_dataset(info, folder) == []


def test_files_downloaded_by_hand_are_tried_first(server, tmp_path):
    sources = lfw_sources()
    serve(server, sources)
    by_hand = tmp_path / "Downloads"
    by_hand.mkdir()
    (by_hand / "lfw-deepfunneled.tgz").write_bytes(sources["lfw-deepfunneled.tgz"])
    info = tiny_lfw_info(server.url, sources)
    fetch_dataset(info, tmp_path / "lfw", local=by_hand, timeout=5)
    assert "/lfw-deepfunneled.tgz" not in [r[0] for r in server.requests]
    assert check_dataset(info, tmp_path / "lfw") == []
    # A file by hand with other bytes is rejected by the same hash check; the URL then serves it.
    (by_hand / "pairs.txt").write_bytes(b"1\t1\n")
    fetch_dataset(info, tmp_path / "lfw2", local=by_hand, timeout=5)
    assert (tmp_path / "lfw2" / "pairs.txt").read_bytes() == sources["pairs.txt"]


def test_datasets_released_on_request_cannot_be_fetched(tmp_path):
    with pytest.raises(DatasetError, match=r"rfw cannot be downloaded by frbench; get it from http://whdeng.cn/RFW"):
        fetch_dataset(RFW, tmp_path / "rfw")


def test_check_reports_each_problem(server, tmp_path):
    sources = lfw_sources()
    serve(server, sources)
    info = tiny_lfw_info(server.url, sources)
    folder = tmp_path / "lfw"
    fetch_dataset(info, folder, timeout=5)
    (folder / "images_deepfunneled" / "Chen_Li" / "Chen_Li_0001.jpg").write_bytes(b"")
    (folder / "images_deepfunneled" / "Bob_Jones" / "Bob_Jones_0002.jpg").write_bytes(b"GIF89a")
    (folder / "pairs.txt").write_bytes(b"1\t1\n")
    (folder / "labels" / "lfw_race_dict.json").unlink()
    problems = check_dataset(info, folder)
    assert any(p.endswith("labels/lfw_race_dict.json: missing") for p in problems)
    assert any("pairs.txt: SHA-256 is" in p for p in problems)
    assert any(p.endswith("Chen_Li_0001.jpg: empty file") for p in problems)
    assert any(p.endswith("Bob_Jones_0002.jpg: neither a JPEG nor a PNG") for p in problems)
    [missing] = check_dataset(info, tmp_path / "elsewhere")
    assert missing.startswith(f"{tmp_path / 'elsewhere'}: not found (") and "set FRBENCH_DATA or --data-root" in missing


def test_check_runs_the_loader(server, tmp_path):
    sources = lfw_sources()
    serve(server, sources)
    info = tiny_lfw_info(server.url, sources)
    folder = tmp_path / "lfw"
    fetch_dataset(info, folder, timeout=5)
    (folder / "labels" / "lfw_race_dict.json").write_text('{"Zed": "martian"}')
    info = dataclasses.replace(info, files=tuple(f for f in info.files if f.target != "labels/lfw_race_dict.json"))
    assert check_dataset(info, folder) == [
        f"loading it fails: {folder / 'labels' / 'lfw_race_dict.json'}: key 'Zed' has label(s) ['martian'], "
        "expected some of ['african', 'asianindian', 'caucasian', 'eastasian', 'latino', 'nativeamerican', 'other', "
        "'pacificislander']"
    ]


def test_kumar_conversion_checks_the_shape(tmp_path):
    sources = lfw_sources()
    (tmp_path / "a.npz").write_bytes(sources["lfw_binary_attributes2.npz"])
    (tmp_path / "filelist.txt").write_bytes(sources["filelist.txt"])
    with pytest.raises(DatasetError, match="expected 13143 rows"):
        kumar_csv_from_npz([tmp_path / "a.npz", tmp_path / "filelist.txt"], tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
