"""The fit behind :func:`soundkit.training.train`: :func:`_fit_and_save` (split, augment, featurize,
fit, evaluate, write ``model.keras``) and the glue that runs it and the LiteRT export each in a child
process of its own (:func:`_isolates`, :func:`_fit_in_child`, :func:`_export_in_child`, for
:func:`soundkit.isolate.run_in_child`)."""

from __future__ import annotations

from pathlib import Path

from soundkit.config import FeatureConfig, TrainConfig
from soundkit.datasets import Dataset
from soundkit.errors import ParameterError
from soundkit.training.fit import _fit_evaluate
from soundkit.training.inputs import _augment, _Inputs, validation_split
from soundkit.training.runs import _export, _run_meta


def _fit_and_save(dataset: Dataset, out: Path, features: FeatureConfig, config: TrainConfig, cache_dir, estimate=None,
                  *, emit, should_stop):
    """Split, augment, featurize, fit and evaluate; write ``out/model.keras``. With ``estimate`` (a
    Report made beforehand) every clip is fitted and nothing is evaluated.

    Returns (model, report, history rows, meta dict).
    """
    from soundkit.models import family
    from soundkit.runs import save_model

    fam = family(config.model)
    labels = dataset.labels
    if config.test_fold is not None:
        dataset = dataset.with_folds(seed=config.seed)
        train_clips, test_clips = dataset.split(config.test_fold)
    else:
        train_clips, test_clips = list(dataset.clips), []
    fit_clips, val_clips = validation_split(train_clips, fraction=config.validation_fraction, seed=config.seed)
    if not test_clips and estimate is None:
        if not val_clips:
            raise ParameterError("no test fold and no validation split: nothing to evaluate on; set test_fold or validation_fraction")
        test_clips = val_clips
    aug_clips, engine = _augment(fit_clips, config, cache_dir=cache_dir, emit=emit)
    inputs = _Inputs(fam, features, cache_dir)
    inputs.compute(fit_clips + aug_clips + val_clips + test_clips, emit=emit)
    model, report, history, info = _fit_evaluate(
        fam, labels, fit_clips + aug_clips, val_clips, test_clips, inputs,
        features=features, config=config, emit=emit, should_stop=should_stop,
    )
    if estimate is not None:
        report = estimate
    meta = _run_meta(
        dataset=dataset.root, layout=dataset.layout, config=config, n_train=len(fit_clips), n_augmented=len(aug_clips),
        n_val=len(val_clips), n_test=len(test_clips), augment_engine=engine, info=info,
        evaluated_on="cross-validation" if estimate is not None else "test" if config.test_fold is not None else "validation",
    )
    Path(out).mkdir(parents=True, exist_ok=True)
    save_model(out, model)
    return model, report, history, meta


def _isolates(fam, config: TrainConfig) -> bool:
    """Whether :func:`train` runs the fit and the export in child processes: ``options["isolate"]``,
    else the family's ``ISOLATE`` (True for Inception V3, whose converter needs about 1 GB)."""
    return bool(config.options.get("isolate", getattr(fam, "ISOLATE", False)))


def _fit_in_child(*job, emit, should_stop):
    _, report, history, meta = _fit_and_save(*job, emit=emit, should_stop=should_stop)
    return report, history, meta  # the model stays behind: it is in model.keras


def _export_in_child(out: Path, *, emit, should_stop):
    return _export(None, out)
