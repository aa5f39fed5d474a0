"""Past one machine: sharded features, a streaming reader, and Ray as an optional engine.

``featurize`` decodes every clip of a dataset once and writes its features (the clip's log-mel, or
its YAMNet frame embeddings) into Parquet shards plus a manifest (:mod:`soundkit.scale.shards`);
``local`` runs shards in a process pool, ``ray`` as Ray tasks on a cluster
(:mod:`soundkit.scale.featurize`). Training and cross-validation read a featurized directory
shard by shard, so memory stays flat as the data grows (:mod:`soundkit.scale.train`), and the folds
of ``cv`` / sets of ``augment-study`` can fan out as Ray tasks (:mod:`soundkit.scale.fanout`).

Ray is an optional extra (``requirements-scale.txt``): nothing here imports it at import time;
only the Ray engine does, when it runs (:mod:`soundkit.scale.ray_engine`). See docs/SCALE.md.
"""

from __future__ import annotations

from soundkit.scale.featurize import FeaturizeResult, featurize
from soundkit.scale.shards import Featurized, is_featurized, read_manifest

__all__ = ["featurize", "FeaturizeResult", "Featurized", "is_featurized", "read_manifest"]
