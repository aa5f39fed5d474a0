"""The checks of a training request made before any expensive work (:func:`_check`: the dataset, the
configs, the model family; :func:`_check_options`: ``TrainConfig.options``) and the defaults of the
options they check."""

from __future__ import annotations

from typing import Any

from soundkit.config import FeatureConfig, TrainConfig
from soundkit.datasets import Dataset
from soundkit.errors import DatasetError, ModelError, ParameterError

#: Random crops of each training clip per epoch (``options["crops_per_clip"]``).
CROPS_PER_CLIP = 2
#: Training crops (``options["crops"]``): "random" (a random time shift per crop, every epoch) or
#: "fixed" (the clip's non-silent evaluation windows, the same every epoch).
CROPS = "random"
#: Learning-rate schedule (``options["lr_schedule"]``): "cosine" or "plateau".
LR_SCHEDULE = "cosine"


def _check(dataset: Dataset, features: FeatureConfig, config: TrainConfig):
    """Validate the request up front (before any expensive work); return the family module."""
    from soundkit.models import family

    if not isinstance(dataset, Dataset):
        raise ParameterError(f"dataset must be a soundkit.datasets.Dataset, got {type(dataset).__name__}")
    if not isinstance(features, FeatureConfig) or not isinstance(config, TrainConfig):
        raise ParameterError("features must be a FeatureConfig and config a TrainConfig")
    labels = dataset.labels
    if len(labels) < 2:
        raise DatasetError(f"{dataset.root}: training needs at least 2 labels, found {len(labels)} ({', '.join(labels)})")
    counts = dataset.counts()
    few = [lab for lab, n in counts.items() if n < 2]
    if few:
        raise DatasetError(f"{dataset.root}: label(s) {', '.join(map(repr, few))} have fewer than 2 clips")
    if config.test_fold is not None:
        folds = dataset.with_folds(seed=config.seed).folds
        if config.test_fold not in folds:
            raise ParameterError(f"test_fold {config.test_fold} does not exist; folds are {', '.join(map(str, folds))}")
    _check_options(config.options)
    fam = family(config.model)
    if fam.KIND not in ("logmel", "embedding"):
        raise ModelError(f"model family {config.model!r} has unknown KIND {fam.KIND!r}")
    if fam.KIND == "embedding" and not hasattr(fam, "training_inputs"):
        raise ModelError(f"model family {config.model!r} lacks training_inputs()")
    return fam


def _check_options(options: dict[str, Any]) -> None:
    """Type/range checks of the ``TrainConfig.options`` this module and the CNN read."""
    o = options
    if not isinstance(o, dict):
        raise ParameterError(f"options must be a JSON object, got {type(o).__name__}")
    if o.get("lr_schedule", LR_SCHEDULE) not in ("plateau", "cosine"):
        raise ParameterError(f"options.lr_schedule must be 'plateau' or 'cosine', got {o['lr_schedule']!r}")
    for key, lo in (("crops_per_clip", 1), ("min_epochs", 0), ("convs_per_block", 1)):
        v = o.get(key, lo)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ParameterError(f"options.{key} must be an integer >= {lo}, got {v!r}")
    if o.get("crops", CROPS) not in ("random", "fixed"):
        raise ParameterError(f"options.crops must be 'random' or 'fixed', got {o['crops']!r}")
    if not isinstance(o.get("isolate", False), bool):
        raise ParameterError(f"options.isolate must be true or false, got {o['isolate']!r}")
    if o.get("head", "avg") not in ("avg", "avgmax"):
        raise ParameterError(f"options.head must be 'avg' or 'avgmax', got {o['head']!r}")
    f = o.get("filters", [1])
    if not isinstance(f, (list, tuple)) or not f or not all(isinstance(x, int) and x > 0 for x in f):
        raise ParameterError(f"options.filters must be a non-empty list of positive integers, got {f!r}")
    p = o.get("input_pool", [1, 1])
    if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(isinstance(x, int) and x >= 1 for x in p):
        raise ParameterError(f"options.input_pool must be two integers >= 1, got {p!r}")
