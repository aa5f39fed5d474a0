"""A featurized directory: Parquet shards of per-clip features, a plan, and a manifest.

Layout of ``DIR``::

    featurize.json          the plan: kind, feature configuration, dataset, shard size, clip list hash
    shards/shard-00000.parquet   rows of clips [0, shard_size) in the dataset's order, one row per clip
    shards/shard-00000.json      who wrote it: node id, process, seconds, clips that failed to decode
    manifest.parquet        one row per featurized clip, built from the completed shards (written last)

A shard row holds the clip's identity (``id``, ``label``, ``fold``, ``source``, ``hash`` = content
hash of the file, ``path``) and its features as float32 bytes of shape (``rows``, ``cols``): for
``logmel`` the clip's whole log-mel (n_mels, n_frames), of which training cuts its windows and
random crops; for ``yamnet`` the clip's sounding frame embeddings (n_frames, 1024).

A shard is written atomically (temporary file, then rename; its ``.json`` first), so a shard that
exists is complete; a restarted job redoes only the shards that do not exist. The manifest is built
from the shards themselves, once all exist, so it can hold no clip twice. The bytes of a shard
depend only on its clips and the feature configuration, never on which engine or node made it.

pyarrow is imported inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.errors import DatasetError

__all__ = [
    "PLAN_NAME", "MANIFEST_NAME", "SHARDS_DIR", "Featurized", "is_featurized", "read_manifest",
    "shard_name", "encode_shard", "decode_features", "build_manifest",
]

PLAN_NAME = "featurize.json"
MANIFEST_NAME = "manifest.parquet"
SHARDS_DIR = "shards"
#: Rows per Parquet row group: the unit the reader loads at a time (about 7 MB of 5 s log-mels).
ROW_GROUP = 64
FORMAT_VERSION = 1

#: Shard columns besides the features (also the manifest's, with shard/row/node added).
ID_COLUMNS = ("id", "label", "fold", "source", "hash", "path")


def shard_name(index: int) -> str:
    """``shard-00007.parquet`` for shard 7."""
    return f"shard-{index:05d}.parquet"


def is_featurized(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory written by ``featurize`` (it holds ``featurize.json``)."""
    return (Path(path) / PLAN_NAME).is_file()


def _schema():
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("label", pa.string()), ("fold", pa.int32()), ("source", pa.string()),
        ("hash", pa.string()), ("path", pa.string()), ("rows", pa.int32()), ("cols", pa.int32()),
        ("features", pa.large_binary()),
    ])


def encode_shard(records: Sequence[dict[str, Any]], *, plan_key: str) -> bytes:
    """The Parquet bytes of one shard.

    Parameters
    ----------
    records : sequence of dict
        One per clip, in shard order: the :data:`ID_COLUMNS` and ``features`` (float32 array of
        shape (rows, cols)).
    plan_key : str
        The feature configuration's key, kept in the file's metadata.

    Returns
    -------
    bytes
        Deterministic: the same records give the same bytes (zstd, fixed row groups, no timestamps).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list] = {k: [] for k in (*ID_COLUMNS, "rows", "cols", "features")}
    for r in records:
        F = np.ascontiguousarray(r["features"], dtype="<f4")
        for k in ID_COLUMNS:
            cols[k].append(r[k])
        cols["rows"].append(int(F.shape[0]))
        cols["cols"].append(int(F.shape[1]) if F.ndim == 2 else 0)
        cols["features"].append(F.tobytes())
    schema = _schema().with_metadata({"soundkit.features": plan_key, "soundkit.format": str(FORMAT_VERSION)})
    table = pa.table(cols, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP, write_statistics=False)
    return sink.getvalue().to_pybytes()


def decode_features(rows: int, cols: int, data: bytes) -> np.ndarray:
    """A shard row's features: float32 array of shape (rows, cols) (read-only view of ``data``)."""
    return np.frombuffer(data, dtype="<f4").reshape(rows, cols)


def build_manifest(root: Path, n_shards: int, *, features_key: str) -> Path:
    """Write ``manifest.parquet`` from the completed shards (in shard order) and their sidecars."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from soundkit.fileio import atomic_path

    parts = []
    for k in range(n_shards):
        path = root / SHARDS_DIR / shard_name(k)
        info = json.loads(path.with_suffix(".json").read_text())
        t = pq.read_table(path, columns=[*ID_COLUMNS, "rows", "cols"])
        n = t.num_rows
        t = t.append_column("shard", pa.array([k] * n, pa.int32()))
        t = t.append_column("row", pa.array(range(n), pa.int32()))
        t = t.append_column("features_key", pa.array([features_key] * n, pa.string()))
        t = t.append_column("node", pa.array([info.get("node", "")] * n, pa.string()))
        parts.append(t)
    table = pa.concat_tables(parts)
    ids = table.column("id").to_pylist()
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{root}: shards hold duplicate clip ids; featurize again into an empty --out")
    out = root / MANIFEST_NAME
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return out


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The manifest of a featurized directory as a list of row dicts (in shard order)."""
    import pyarrow.parquet as pq

    path = Path(path)
    file = path / MANIFEST_NAME if path.is_dir() else path
    if not file.is_file():
        raise DatasetError(f"{path}: has no {MANIFEST_NAME}; the featurize job has not finished (run it again to resume)")
    return pq.read_table(file).to_pylist()


@dataclass
class Featurized:
    """A finished featurized directory, opened for reading.

    Attributes
    ----------
    root : Path
    plan : dict
        ``featurize.json``.
    kind : str
        "logmel" or "yamnet".
    manifest : list of dict
        One row per clip: id, label, fold, source, hash, path, rows, cols, shard, row, features_key, node.
    """

    root: Path
    plan: dict
    manifest: list[dict[str, Any]]

    @classmethod
    def open(cls, root: str | os.PathLike) -> Featurized:
        root = Path(root)
        if not is_featurized(root):
            raise DatasetError(f"{root}: is not a featurized directory (no {PLAN_NAME}); run `soundkit featurize` first")
        try:
            plan = json.loads((root / PLAN_NAME).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{root / PLAN_NAME}: unreadable ({exc})") from None
        manifest = read_manifest(root)
        if not manifest:
            raise DatasetError(f"{root}: the manifest lists no clips")
        return cls(root, plan, manifest)

    @property
    def kind(self) -> str:
        return str(self.plan["kind"])

    @property
    def features(self):
        """The FeatureConfig of a log-mel directory (None for yamnet)."""
        from soundkit.config import FeatureConfig

        return FeatureConfig.from_dict(self.plan["features"]) if self.kind == "logmel" else None

    @property
    def labels(self) -> list[str]:
        return sorted({r["label"] for r in self.manifest})

    @property
    def folds(self) -> list[int]:
        return sorted({int(r["fold"]) for r in self.manifest})

    def dataset(self):
        """The clips as a :class:`soundkit.datasets.Dataset` (paths point at the original audio)."""
        from soundkit.datasets import Clip, Dataset

        clips = [Clip(Path(r["path"]), r["label"], int(r["fold"]), r["source"], r["id"]) for r in self.manifest]
        return Dataset(self.root, clips, "featurized", bool(self.plan.get("official_folds")), {"featurized": str(self.root)})

    def shard_paths(self) -> list[Path]:
        return [self.root / SHARDS_DIR / shard_name(k) for k in range(int(self.plan["n_shards"]))]

    def iter_clips(self, ids: set[str] | None = None, *, order: Sequence[int] | None = None,
                   rng: np.random.Generator | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """(clip id, features (rows, cols)) for the clips in ``ids`` (all when None), one row group
        in memory at a time.

        Parameters
        ----------
        ids : set of str, optional
        order : sequence of int, optional
            Shard indices to read, in this order (default: all, in order).
        rng : np.random.Generator, optional
            Shuffles the row groups within each shard (shard order is ``order``).
        """
        import pyarrow.parquet as pq

        paths = self.shard_paths()
        for k in (range(len(paths)) if order is None else order):
            pf = pq.ParquetFile(paths[k])
            groups = np.arange(pf.num_row_groups)
            if rng is not None:
                rng.shuffle(groups)
            for g in groups:
                t = pf.read_row_group(int(g), columns=["id", "rows", "cols", "features"])
                for cid, r, c, data in zip(*(t.column(n).to_pylist() for n in ("id", "rows", "cols", "features")), strict=True):
                    if ids is None or cid in ids:
                        yield cid, decode_features(r, c, data)
                del t


def clips_digest(entries: Sequence[tuple]) -> str:
    """A hash of the clip list (id, path, label, fold, source) fixing what a plan covers."""
    h = hashlib.sha256()
    for e in entries:
        h.update(json.dumps(list(e), sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()
