"""``train`` and ``cv``, and what they share: the model, augmentation and model-shape arguments and the
checks that turn them into a :class:`soundkit.config.TrainConfig` before any work starts.

The work lives in :mod:`soundkit.training` (and :mod:`soundkit.scale` for featurized datasets and the
Ray engine); ``cv --open-set`` in :mod:`soundkit.openset` (via :mod:`soundkit.cli.listen`).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soundkit import interrupts
from soundkit.cli import listen as listen_cli
from soundkit.cli.common import _Bars, _fanout, _int, _label_list, _load_dataset, _positive_int, output, output_json
from soundkit.config import TrainConfig
from soundkit.errors import ParameterError, SoundkitError

__all__ = ["add_train", "cmd_train", "add_cv", "cmd_cv"]


# -- shared train setup ------------------------------------------------------------------------------

def _model_arg(p: argparse.ArgumentParser) -> None:
    from soundkit.config import MODEL_FAMILIES

    p.add_argument("--model", default="cnn", choices=MODEL_FAMILIES, help="model family (default: cnn)")


def _augment_policy(arg: str | None, copies: int | None = None) -> dict[str, Any] | None:
    """A policy dict for TrainConfig.augment from --augment (None for 'none'), with --copies
    overriding the policy's number of copies per training clip."""
    none = arg is None or arg.strip().lower() == "none"
    if copies is not None and none:
        raise ParameterError("--copies needs --augment: a policy whose transforms render the copies")
    if none:
        return None
    from soundkit import augment

    policy = augment.policy_from_arg(arg)
    if copies is not None:
        policy = augment.Policy.from_dict({**policy.to_dict(), "copies": copies})
    return policy.to_dict() or None


def _augment_args(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--augment", metavar="POLICY", default=None, help=help_text)
    p.add_argument("--copies", type=_int, default=None, metavar="N",
                   help="augmented copies of each training clip (0..32; default: the policy's own, 4 for recipe, else 2)")


def _filter_list(text: str) -> list[int]:
    try:
        filters = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,64,128,256, got {text!r}") from None
    if not filters or not all(1 <= f <= 1024 for f in filters):
        raise argparse.ArgumentTypeError(f"filters must be integers within 1..1024, got {text!r}")
    return filters


def _model_shape_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crops", choices=("random", "fixed"), default=None,
                   help="log-mel models' training windows: random (a random time shift every epoch, the default) "
                        "or fixed (each clip's evaluation windows: no augmentation at all)")
    p.add_argument("--filters", type=_filter_list, default=None, metavar="F1,F2,...",
                   help="cnn only: filters of each convolutional block (default 16,32,64,128; "
                        "32,64,128,256 is the wider CNN of BENCHMARKS.md)")


def _model_shape_options(args: argparse.Namespace) -> dict[str, Any]:
    """options for --crops and --filters (checked against --model)."""
    if args.filters is not None and args.model != "cnn":
        raise ParameterError(f"--filters applies to --model cnn only, not {args.model}")
    return {**({"crops": args.crops} if args.crops else {}), **({"filters": args.filters} if args.filters else {})}


def add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="dataset directory")
    _model_arg(p)
    p.add_argument("--out", metavar="RUN_DIR", help="run directory to create (default: $SOUNDKIT_HOME/runs/<model>-<time>)")
    p.add_argument("--epochs", type=_positive_int, default=None, help=f"most epochs (early stopping may end sooner; default {TrainConfig().epochs})")
    p.add_argument("--test-fold", type=_int, default=None, metavar="K",
                   help="fold held out for the report (default: the last fold - the official one where the data "
                        "has folds, else of 5 folds assigned by label and source; 0: none, report on the validation clips)")
    p.add_argument("--seed", type=_int, default=0, help="random seed (folds, validation split, initialisation)")
    _augment_args(p, "augmentation of the training clips: none, stretch, pitch, stretch+pitch, ... or a JSON file")
    _model_shape_args(p)
    p.add_argument("--labels", type=_label_list, default=None, metavar="a,b,c", help="train on these labels only")
    p.add_argument("--limit-per-class", type=_positive_int, default=None, metavar="N",
                   help="use at most N clips of each label, drawn across folds and sources (seeded by --seed)")
    p.add_argument("--background", type=_positive_int, nargs="?", const=20, default=None, metavar="N",
                   help="add a _background_ class of N (default 20) silence/noise clips soundkit makes, so that a "
                        "listener answers background rather than a class when nothing it knows is heard")
    p.add_argument("--cv-first", action="store_true",
                   help="small data: estimate accuracy by k-fold cross-validation grouped by source (saved as "
                        "RUN_DIR/cv.json), then train the final model on all clips (no held-out fold)")
    p.add_argument("--weights", default=None, metavar="imagenet|none|FILE",
                   help="inception only: ImageNet weights (default, from $SOUNDKIT_WEIGHTS_DIR or Keras' cache), "
                        "a local .h5 weights file, or none (random initialisation: not transfer learning)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help=f"batch size (default {TrainConfig().batch_size})")
    p.add_argument("--status", metavar="FILE", default=None, help="keep a JSON job status in FILE (used by the app)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _resolve_test_fold(dataset, requested: int | None, seed: int) -> int | None:
    if requested == 0:
        return None
    folded = dataset.with_folds(seed=seed)
    if requested is None:
        return folded.folds[-1]
    if requested not in folded.folds:
        raise ParameterError(f"--test-fold {requested} does not exist; this dataset's folds are "
                             f"{', '.join(map(str, folded.folds))} (0 for none)")
    return requested


def _train_setup(args: argparse.Namespace):
    """(dataset, test_fold, TrainConfig, out) from train's arguments; every check before any work."""
    import time

    from soundkit import config as cfg

    dataset = _load_dataset(args.dataset, args.labels, args.limit_per_class, seed=args.seed)
    if getattr(args, "background", None):
        from soundkit.openset import with_background

        if dataset.layout == "featurized":
            raise ParameterError("--background needs audio clips, not a featurized dataset (add the class before featurizing)")
        dataset = with_background(dataset, folder=cfg.cache_dir() / "background", n=args.background, seed=args.seed)
    if len(dataset.labels) < 2:
        raise ParameterError(f"{args.dataset}: training needs at least 2 labels, found {len(dataset.labels)}")
    test_fold = None if getattr(args, "cv_first", False) else _resolve_test_fold(dataset, args.test_fold, args.seed)
    options: dict[str, Any] = {"model": args.model, "seed": args.seed, "test_fold": test_fold,
                               "augment": _augment_policy(args.augment, args.copies)}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.weights is not None:
        if args.model != "inception":
            raise ParameterError(f"--weights applies to --model inception only, not {args.model}")
        if args.weights not in ("imagenet", "none"):
            from soundkit.models.inception import resolve_weights

            resolve_weights(args.weights)  # a missing or foreign file fails now, before any work
        options["options"] = {"weights": args.weights}
    options["options"] = {**options.get("options", {}), **_model_shape_options(args)}
    out = Path(args.out) if args.out else cfg.runs_dir() / f"{args.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "model.keras").exists():
        raise ParameterError(f"{out}: already holds a trained model; choose another --out")
    return dataset, test_fold, TrainConfig(**options), out


def _cv_progress(writer, folds: list[int]) -> Callable[[dict], None] | None:
    """Cross-validation events -> one "cv" stage for the status file (fold k of n)."""
    if writer is None:
        return None
    order = {f: i for i, f in enumerate(folds)}

    def progress(event: dict) -> None:
        fold = event.get("fold")
        if fold is None:
            return
        i = order.get(fold, 0)
        part = 0.0
        if event.get("stage") == "train" and event.get("epoch") and event.get("epochs"):
            part = min(1.0, float(event["epoch"]) / float(event["epochs"]))
        elif event.get("stage") in ("evaluate", "export"):
            part = 1.0
        writer({"stage": "cv", "done": i + part, "total": len(folds), "fold": fold,
                "message": f"estimating accuracy: cross-validation fold {i + 1} of {len(folds)}"})

    return progress


def cmd_train(args: argparse.Namespace) -> int:
    from soundkit import config as cfg
    from soundkit import training
    from soundkit.config import FeatureConfig

    writer = None
    if args.status:  # a background job: the status file tells the app how it goes, whatever happens
        from soundkit.jobs import StatusWriter

        writer = StatusWriter(args.status, home=cfg.home())
    # While the model fits, a signal only asks training to stop after the batch (it polls should_stop);
    # at any other stage it interrupts at once (soundkit.interrupts). Either way the status file says
    # "cancelled" and main() prints the one line.
    fitting = [False]

    def track(event: dict) -> None:
        if (event.get("stage") == "train") != fitting[0]:
            fitting[0] = not fitting[0]
            interrupts.defer(fitting[0])

    bars = _Bars()
    try:
        dataset, test_fold, train_config, out = _train_setup(args)
        stop = lambda: interrupts.received() is not None  # noqa: E731
        cv_result = None
        if dataset.layout == "featurized":  # stream batches from the shards (soundkit.scale.train)
            from soundkit.scale import train as stream

            run = stream.train(args.dataset, out=out, config=train_config, progress=_fanout(track, bars, writer),
                               should_stop=stop)
        else:
            if args.cv_first:
                cv_result = training.cross_validate(
                    dataset, features=FeatureConfig(), config=train_config, cache_dir=cfg.cache_dir(),
                    progress=_fanout(track, bars, _cv_progress(writer, dataset.with_folds(seed=args.seed).folds)),
                    should_stop=stop,
                )
            run = training.train(
                dataset, out=out, features=FeatureConfig(), config=train_config, cache_dir=cfg.cache_dir(),
                progress=_fanout(track, bars, writer), should_stop=stop,
                report=cv_result.pooled_report() if cv_result is not None else None,
            )
    except BaseException as exc:
        bars.close()
        if writer:
            if interrupts.received() is not None or isinstance(exc, KeyboardInterrupt | training.TrainingCancelled):
                writer.finish("cancelled", "cancelled by the user")
            else:
                writer.finish("failed", str(exc) if isinstance(exc, SoundkitError) else f"internal error: {type(exc).__name__}: {exc}")
        raise
    finally:
        if fitting[0]:
            interrupts.defer(False)
        if args.status:
            from soundkit.jobs import release_lock

            release_lock(cfg.home(), pid=os.getpid())
    bars.close()
    report = run.load_report() if hasattr(run, "load_report") else None
    meta = run.load_meta() if hasattr(run, "load_meta") else {}
    if cv_result is not None:
        from soundkit.runs import write_atomic

        write_atomic(Path(run.path) / "cv.json", json.dumps(cv_result.to_dict(), indent=2))
    summary = {
        "run_dir": str(Path(run.path if hasattr(run, "path") else out)),
        "model": args.model,
        "labels": dataset.labels,
        "test_fold": test_fold,
        "accuracy": getattr(report, "accuracy", None),
        "accuracy_ci": list(report.accuracy_ci) if report is not None else None,
        "n_test": getattr(report, "n_test", None),
        "epochs_run": meta.get("epochs_run"),
        "seconds": meta.get("seconds"),
    }
    if cv_result is not None:
        summary["cv"] = {k: v for k, v in cv_result.to_dict().items() if k not in ("reports", "clips")}
    if writer:
        text = ("accuracy " + cv_result.describe() + " by cross-validation" if cv_result is not None
                else "accuracy " + report.describe() if report is not None else "done")
        writer.finish("done", text, accuracy=summary["accuracy"], run_dir=summary["run_dir"])
    if args.json:
        output_json(summary)
    else:
        where = f"fold {test_fold}" if test_fold is not None else "the validation clips"
        acc = report.describe() if report is not None else "?"
        output(f"Trained {args.model} on {len(dataset.labels)} labels in {summary['seconds']} s "
               f"({summary['epochs_run']} epochs).")
        if cv_result is not None:
            output(f"Estimated accuracy ({len(cv_result.fold_accuracy)}-fold cross-validation grouped by source): "
                   f"{cv_result.describe()}; the final model was then trained on all {meta.get('n_train')} clips.")
            for warning in cv_result.warnings:
                output(f"warning: {warning}")
        else:
            output(f"Accuracy on {where}: {acc}.")
        output(f"Run directory: {summary['run_dir']}")
    return 0


# -- cv --------------------------------------------------------------------------------------------

def add_cv(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="dataset directory")
    _model_arg(p)
    p.add_argument("--epochs", type=_positive_int, default=None, help=f"most epochs per fold (default {TrainConfig().epochs})")
    _augment_args(p, "augmentation policy for the training folds")
    _model_shape_args(p)
    p.add_argument("--seed", type=_int, default=0, help="random seed")
    p.add_argument("--labels", type=_label_list, default=None, metavar="a,b,c", help="use these labels only")
    p.add_argument("--limit-per-class", type=_positive_int, default=None, metavar="N",
                   help="use at most N clips of each label, drawn across folds and sources (seeded by --seed)")
    from soundkit.scale.cli import add_engine_args

    add_engine_args(p)
    p.add_argument("--save", metavar="FILE", default=None,
                   help="write the full result (per-fold reports, every tested clip with its fold) as JSON")
    p.add_argument("--open-set", type=_positive_int, default=None, metavar="K",
                   help="leave K classes out (--draws times), train on the rest and score their clips as unknowns")
    p.add_argument("--draws", type=_positive_int, default=3, metavar="N", help="--open-set: draws of left-out classes (default 3)")
    p.add_argument("--json", action="store_true",
                   help='print {"mean_accuracy", "std_accuracy", "fold_accuracy", "pooled_accuracy", "accuracy_ci", '
                        '"n_test", "fold_spread", "notes", "warnings", "seconds"}')


def cmd_cv(args: argparse.Namespace) -> int:
    from soundkit import config as cfg
    from soundkit.config import FeatureConfig, TrainConfig

    dataset = _load_dataset(args.dataset, args.labels, args.limit_per_class, seed=args.seed)
    if len(dataset.labels) < 2:
        raise ParameterError(f"{args.dataset}: cross-validation needs at least 2 labels, found {len(dataset.labels)}")
    options: dict[str, Any] = {"model": args.model, "seed": args.seed, "augment": _augment_policy(args.augment, args.copies),
                               "options": _model_shape_options(args)}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    train_config = TrainConfig(**options)
    from soundkit import training

    bars = _Bars(show_fold=True)
    if args.open_set:
        try:
            result = listen_cli.open_set_cv_command(args, dataset, train_config, bars)
        finally:
            bars.close()
        if args.json:
            output_json({"open_set": result})
        else:
            for m, r in result["methods"].items():
                output(f"{m:12s} AUROC {r['auroc_mean']:.3f} +/- {r['auroc_std']:.3f}  known accepted {r['known_accepted']:.1%}"
                       f"  unknown rejected {r['unknown_rejected']:.1%}  accuracy on accepted {r['accuracy_on_accepted']:.1%}"
                       f"  (closed set {r['closed_set_accuracy']:.1%})")
        return 0
    data = args.dataset if dataset.layout == "featurized" else dataset
    nodes: list[str] = []
    try:
        if args.engine == "ray":  # every fold a Ray task (soundkit.scale.fanout)
            from soundkit.scale import fanout

            result = fanout.cross_validate(data, features=FeatureConfig(), config=train_config,
                                           cache_dir=cfg.cache_dir(), address=args.address, nodes=nodes)
        elif dataset.layout == "featurized":
            from soundkit.scale import train as stream

            result = stream.cross_validate(data, config=train_config, progress=bars)
        else:
            result = training.cross_validate(dataset, features=FeatureConfig(), config=train_config,
                                             cache_dir=cfg.cache_dir(), progress=bars)
    finally:
        bars.close()
    full = result.to_dict()
    summary = {
        "mean_accuracy": result.mean_accuracy,
        "std_accuracy": result.std_accuracy,
        "fold_accuracy": {str(k): v for k, v in sorted(result.fold_accuracy.items())},
        "pooled_accuracy": full["pooled_accuracy"],
        "accuracy_ci": full["accuracy_ci"],
        "n_test": full["n_test"],
        "fold_n_test": full["fold_n_test"],
        "fold_spread": full["fold_spread"],
        "notes": full["notes"],
        "warnings": full["warnings"],
        "seconds": result.seconds,
    }
    if nodes:
        summary["nodes"] = nodes  # the Ray node of every fold's task, in fold order
    if args.save:
        from soundkit.runs import write_atomic

        write_atomic(Path(args.save), json.dumps(full, indent=2))
    if args.json:
        output_json(summary)
    else:
        folds = ", ".join(f"{k}: {v:.1%}" for k, v in summary["fold_accuracy"].items())
        output(f"{args.model}: {result.describe()} pooled over {len(result.fold_accuracy)} folds; "
               f"folds {result.mean_accuracy:.1%} +/- {result.std_accuracy:.1%} ({folds}) in {result.seconds:.0f} s")
        for warning in result.warnings:
            output(f"warning: {warning}")
    return 0
