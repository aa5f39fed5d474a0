"""soundkit.weights: lookup order, downloads from file:// URLs and paths, verification, clear errors.

Nothing here touches the network: sources are local files (``file://`` URLs or plain paths) and one
refused connection on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from soundkit import weights
from soundkit.errors import ModelError

SPEC = weights.WeightsSpec(name="test model", filename="model.bin", member="model.bin", min_bytes=100, max_bytes=10_000)
PAYLOAD = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SOUNDKIT_WEIGHTS_DIR", raising=False)


def _source(tmp_path: Path, data: bytes = PAYLOAD, name: str = "upstream.bin") -> Path:
    p = tmp_path / "upstream" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    assert weights.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("SOUNDKIT_WEIGHTS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "soundkit" / "weights"


def test_download_file_url_verifies_records_and_is_used_once(tmp_path):
    src = _source(tmp_path)
    path = weights.fetch(SPEC, urls=[src.as_uri()])
    assert path == weights.cache_dir() / "model.bin"
    assert path.read_bytes() == PAYLOAD
    records = json.loads((weights.cache_dir() / "checksums.json").read_text())
    assert records[str(path.resolve())]["sha256"] == weights.sha256_file(src)
    assert records[str(path.resolve())]["source"] == src.as_uri()
    # second use: found in the cache, the (now missing) source is not needed
    src.unlink()
    assert weights.fetch(SPEC, urls=[src.as_uri()]) == path
    assert not [p for p in weights.cache_dir().iterdir() if p.name.startswith(".download-")]


def test_plain_path_source_and_tar_gz_member(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("README", b"not this"), ("model.bin", PAYLOAD)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = _source(tmp_path, buf.getvalue(), "model.tar.gz")
    path = weights.fetch(SPEC, urls=[str(archive)])
    assert path.read_bytes() == PAYLOAD


def test_lookup_order_explicit_then_weights_dir_then_cache(tmp_path, monkeypatch):
    cached = weights.fetch(SPEC, urls=[str(_source(tmp_path))])
    wdir = tmp_path / "wdir"
    wdir.mkdir()
    (wdir / "model.bin").write_bytes(PAYLOAD[::-1])
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(wdir))
    assert weights.fetch(SPEC, urls=[]) == wdir / "model.bin"
    explicit = tmp_path / "explicit.bin"
    explicit.write_bytes(PAYLOAD[:500])
    assert weights.fetch(SPEC, path=explicit) == explicit
    (wdir / "model.bin").unlink()
    assert weights.fetch(SPEC, urls=[]) == cached


def test_explicit_path_must_exist(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        weights.fetch(SPEC, path=tmp_path / "nope.bin")


def test_missing_without_sources_says_where_to_put_it():
    with pytest.raises(ModelError, match=r"model\.bin.*SOUNDKIT_WEIGHTS_DIR"):
        weights.fetch(SPEC, allow_download=False)


def test_unreachable_source_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError) as err:
        weights.fetch(SPEC, urls=["http://127.0.0.1:9/model.bin", (tmp_path / "missing.bin").as_uri()])
    message = str(err.value)
    assert "not available" in message and "SOUNDKIT_WEIGHTS_DIR" in message and "\n" not in message
    assert not (weights.cache_dir() / "model.bin").exists()


def test_truncated_download_is_rejected_and_not_kept(tmp_path):
    src = _source(tmp_path, PAYLOAD[:50])
    with pytest.raises(ModelError, match="corrupt"):
        weights.fetch(SPEC, urls=[str(src)])
    assert not (weights.cache_dir() / "model.bin").exists()
    assert not list(weights.cache_dir().glob(".download-*"))


def test_failed_test_inference_rejects_download(tmp_path):
    def validate(path: Path) -> None:
        if path.read_bytes()[:4] != b"SKIT":
            raise ValueError("bad magic")

    with pytest.raises(ModelError, match="bad magic"):
        weights.fetch(SPEC, urls=[str(_source(tmp_path))], validate=validate)
    assert not (weights.cache_dir() / "model.bin").exists()
    good = weights.fetch(SPEC, urls=[str(_source(tmp_path, b"SKIT" + PAYLOAD))], validate=validate)
    assert good.read_bytes()[:4] == b"SKIT"


def test_file_changed_after_first_use_is_reported_as_corrupt(tmp_path):
    path = weights.fetch(SPEC, urls=[str(_source(tmp_path))])
    path.write_bytes(PAYLOAD[:-1] + b"\x00")  # same size, one byte flipped
    with pytest.raises(ModelError, match="changed since it was first used"):
        weights.fetch(SPEC)
    weights.forget(path)
    assert weights.fetch(SPEC) == path  # accepted again and re-recorded


def test_pinned_checksum_mismatch(tmp_path):
    pinned = weights.WeightsSpec(name="pinned", filename="p.bin", min_bytes=1, sha256="0" * 64)
    src = _source(tmp_path)
    with pytest.raises(ModelError, match="sha256"):
        weights.verify(src, pinned)
    md5 = weights.WeightsSpec(name="pinned", filename="p.bin", min_bytes=1, md5="0" * 32)
    with pytest.raises(ModelError, match="MD5"):
        weights.verify(src, md5)


def test_unsupported_scheme(tmp_path):
    with pytest.raises(ModelError, match="only http"):
        weights.download("ftp://example.org/model.bin", SPEC)
