"""``python -m soundkit <command>``: the headless side of soundkit.

Commands::

    python -m soundkit train DATASET --model cnn --out RUN_DIR [--epochs N] [--test-fold K] [--seed S]
                                     [--augment POLICY [--copies N]] [--crops random|fixed] [--filters F1,F2,...]
                                     [--status FILE] [--labels a,b,c]
    python -m soundkit evaluate RUN_DIR DATASET [--fold K] --json
    python -m soundkit predict RUN_DIR|yamnet FILE [FILE ...] [--events] --json
    python -m soundkit listen RUN_DIR|yamnet [FILE|-] [--json] [--unknown auto|off|P] [--realtime]
    python -m soundkit cv DATASET --model cnn [--epochs N] [--augment POLICY [--copies N]] [--open-set K] --json
    python -m soundkit augment FILE --time-ratio R --semitones S --out OUT.wav --json
    python -m soundkit augment-study DATASET --sets none,stretch,pitch,stretch+pitch --json
    python -m soundkit download esc10|esc50 [--dir DIR] [--url URL_OR_PATH] [--force] --json
    python -m soundkit import DATASET_OR_ZIP [--home DIR] [--esc10] --json
    python -m soundkit featurize DATASET --out DIR --features logmel|yamnet [--engine local|ray] [--address HOST:PORT]
    python -m soundkit train DIR ...; cv DIR ... [--engine ray]   (DIR featurized: batches streamed from its shards)

Conventions: results go to stdout (JSON alone with ``--json``, else a short human summary);
progress bars, logs and library noise go to stderr (file descriptor 1 is pointed at stderr while a
command runs, so nothing a library prints can corrupt the JSON). Bad input of any kind ends with
exactly one line ``error: ...`` on stderr and exit status 2; Ctrl-C ends with status 130.

Adding a command: write ``add_<name>(parser)`` (its arguments) and ``cmd_<name>(args) -> int`` (the
work; print results with :func:`output` / :func:`output_json`), then add one line to
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from soundkit import interrupts, listen_cli
from soundkit.config import TrainConfig
from soundkit.errors import ParameterError, SoundkitError

__all__ = ["main", "build_parser", "COMMANDS", "output", "output_json"]

log = logging.getLogger("soundkit.cli")

EPILOG = """\
examples:
  python -m soundkit download esc10 --dir data
  python -m soundkit train data/ESC-10 --model cnn --out runs/esc10-cnn --epochs 30
  python -m soundkit train my_clips/ --model yamnet --out runs/mine --labels dog,rain --augment stretch+pitch
  python -m soundkit evaluate runs/esc10-cnn data/ESC-10 --fold 5 --json
  python -m soundkit predict runs/esc10-cnn bark.wav rain.ogg --json
  python -m soundkit cv data/ESC-10 --model cnn --epochs 20 --json

DATASET is a folder per class (ESC-style names 1-100-A.wav give the official folds), an ESC-50
release (meta/esc50.csv + audio/) or a soundkit store directory. The data directory for caches and
the label store is $SOUNDKIT_HOME (default ./soundkit_data).
"""

#: Where results go (the process' real stdout while a command runs).
_OUT: TextIO | None = None


def output(text: str = "") -> None:
    """Print a line of results on stdout."""
    out = _OUT or sys.stdout
    out.write(text + "\n")
    out.flush()


def output_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (the only thing a ``--json`` command prints there)."""
    output(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# -- argument types --------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so main() prints one ``error:`` line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ParameterError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _label_list(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels:
        raise argparse.ArgumentTypeError(f"expected comma-separated labels, got {text!r}")
    return labels


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


def _load_dataset(path: str, labels: list[str] | None = None, limit_per_class: int | None = None, *, seed: int = 0):
    from soundkit import datasets
    from soundkit.scale.cli import featurized_or_none

    fz = featurized_or_none(path, argparse.Namespace(labels=labels, limit_per_class=limit_per_class))
    if fz is not None:  # a featurized directory: its clips, with the folds it was written with
        return fz.dataset()
    ds = datasets.load(path)
    if labels or limit_per_class:
        ds = ds.select(labels, limit_per_class=limit_per_class, seed=seed)
    return ds


# -- progress --------------------------------------------------------------------------------------

class _Bars:
    """Progress events -> one tqdm bar per stage (and fold) on stderr."""

    _NAMES = {"augment": "augment", "features": "features", "train": "epochs", "evaluate": "evaluate",
              "export": "export"}

    def __init__(self, *, show_fold: bool = False) -> None:
        self._bar: Any = None
        self._key: tuple | None = None
        self._show_fold = show_fold
        interrupts.on_signal(self.close)  # a signal's one line starts on a line of its own

    def __call__(self, event: dict[str, Any]) -> None:
        stage = event.get("stage")
        if stage in (None, "done", "export"):
            self.close()
            return
        key = (stage, event.get("fold"))
        total = event.get("total")
        if key != self._key:
            self.close()
            from tqdm.auto import tqdm

            fold = event.get("fold")
            desc = self._NAMES.get(stage, stage) + (f" (fold {fold})" if fold is not None and self._show_fold else "")
            self._bar = tqdm(total=total or None, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)
            self._key = key
        bar = self._bar
        if total and bar.total != total:
            bar.total = total
        done = event.get("done")
        if done is not None:
            bar.n = int(done)
        post = {k: f"{event[k]:.3f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in event}
        if post:
            bar.set_postfix(post, refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._key = None, None


def _fanout(*sinks: Callable[[dict], None] | None) -> Callable[[dict], None]:
    live = [s for s in sinks if s is not None]

    def progress(event: dict) -> None:
        for s in live:
            s(event)

    return progress


# -- train -----------------------------------------------------------------------------------------

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


# -- evaluate --------------------------------------------------------------------------------------

def add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run directory")
    p.add_argument("dataset", metavar="DATASET", help="dataset directory to evaluate on")
    p.add_argument("--fold", type=_int, default=None, metavar="K",
                   help="evaluate on this fold only (default: every clip whose label the model knows)")
    p.add_argument("--json", action="store_true", help="print the report (report.json schema) as JSON")


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from soundkit import evaluation
    from soundkit.errors import DatasetError
    from soundkit.predict import Predictor

    predictor = Predictor.load(args.run_dir)
    dataset = _load_dataset(args.dataset)
    clips = dataset.clips
    if args.fold is not None:
        from soundkit.config import RunConfig

        seed = RunConfig.load(Path(args.run_dir) / "config.json").train.seed
        _, clips = dataset.with_folds(seed=seed).split(args.fold)
    known = {lab: i for i, lab in enumerate(predictor.labels)}
    skipped = sorted({c.label for c in clips if c.label not in known})
    clips = [c for c in clips if c.label in known]
    if not clips:
        raise DatasetError(f"{args.dataset}: no clips with a label the model knows ({', '.join(predictor.labels)})")
    if skipped:
        log.warning("skipping clips of label(s) the model does not know: %s", ", ".join(skipped))
    from soundkit.regions import load_ranged

    bars = _Bars()
    P = np.zeros((len(clips), len(predictor.labels)), dtype=np.float32)
    for i, clip in enumerate(clips):
        y, sr = load_ranged(clip.path, sr=predictor.sample_rate)  # a store's region: cut from its recording
        P[i] = predictor.predict(y, sr, top_k=1, allow_silent=True).probabilities
        bars({"stage": "evaluate", "done": i + 1, "total": len(clips)})
    bars.close()
    report = evaluation.Report.from_probabilities(P, [known[c.label] for c in clips], labels=predictor.labels,
                                 ids=[c.id for c in clips], paths=[str(c.path) for c in clips])
    if args.json:
        output_json(report.to_dict())
    else:
        output(f"Accuracy: {report.describe()}" + (f" (fold {args.fold})" if args.fold is not None else ""))
        width = max(len(lab) for lab in predictor.labels)
        for lab in predictor.labels:
            output(f"  {lab:<{width}}  recall {report.recall[lab]:.2f}  precision {report.precision[lab]:.2f}"
                   f"  f1 {report.f1[lab]:.2f}  ({report.support[lab]} clips)")
    return 0


# -- predict ---------------------------------------------------------------------------------------

def add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run directory, or yamnet (zero-shot: AudioSet's 521 classes)")
    p.add_argument("files", metavar="FILE", nargs="+", help="audio files to classify")
    p.add_argument("--top-k", type=_positive_int, default=5, help="labels to list per file (default 5)")
    p.add_argument("--timeline", action="store_true", help="include the per-window timeline in the JSON")
    p.add_argument("--events", action="store_true", help="list each file's events (label, start, end, confidence): long recordings")
    listen_cli.add_event_args(p)
    p.add_argument("--json", action="store_true", help='print [{"file", "label", "top": [{"label", "probability"}]}]')


def cmd_predict(args: argparse.Namespace) -> int:
    from soundkit.errors import AudioError
    from soundkit.predict import Predictor, predict_files

    if args.run_dir == "yamnet" or args.events or args.unknown != "auto":
        return listen_cli.predict_plus(args)
    for f in args.files:  # fail fast, before loading the model
        if not Path(f).exists():
            raise AudioError(f"{f}: no such file")
    predictor = Predictor.load(args.run_dir)
    results = predict_files(predictor, args.files, top_k=args.top_k)
    if args.json:
        rows = []
        for path, pred in results:
            d = pred.to_dict()
            row = {"file": str(path), "label": d["label"], "top": d["top"],
                   **({"unknown": d["unknown"]} if "unknown" in d else {})}
            if args.timeline:
                row["timeline"] = d["timeline"]
            rows.append(row)
        output_json(rows)
    else:
        for path, pred in results:
            others = ", ".join(f"{lab} {p:.0%}" for lab, p in pred.top[1:3])
            output(f"{path}: {pred.label} ({pred.top[0][1]:.0%})" + (f"; then {others}" if others else ""))
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


# -- augment, augment-study (the work lives in soundkit.augment) -----------------------------------

def add_augment(p: argparse.ArgumentParser) -> None:
    from soundkit import augment

    augment.add_augment_args(p)


def cmd_augment(args: argparse.Namespace) -> int:
    from soundkit import augment

    result, text = augment.run_augment(args)
    output_json(result) if args.json else output(text)
    return 0


def add_augment_study(p: argparse.ArgumentParser) -> None:
    from soundkit import augment_study

    augment_study.add_study_args(p)


def cmd_augment_study(args: argparse.Namespace) -> int:
    from soundkit import augment_study

    bars = _Bars()
    try:
        result, text = augment_study.run_study(args, progress=bars)
    finally:
        bars.close()
    output_json(result) if args.json else output(text)
    return 0


# -- download, import (the work lives in soundkit.datasets and soundkit.store) -----------------------

def add_download(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", choices=("esc10", "esc50"), help="esc10 (about 40 MB) or esc50 (about 600 MB)")
    p.add_argument("--dir", metavar="DIR", help="folder that receives the dataset (default: $SOUNDKIT_HOME/datasets)")
    p.add_argument("--url", metavar="URL_OR_PATH", help="fetch the zip from here instead (http(s), file:// or a local path)")
    p.add_argument("--force", action="store_true", help="download again even when the dataset is there")
    p.add_argument("--json", action="store_true", help='print {"name", "path", "clips", "labels", "folds"}')


def cmd_download(args: argparse.Namespace) -> int:
    from soundkit import datasets

    bars = _Bars()
    try:
        root = datasets.download(args.name, dest=args.dir, url=args.url, force=args.force, progress=bars)
    finally:
        bars.close()
    ds = datasets.load(root)
    result = {"name": args.name, "path": str(root), "clips": len(ds.clips), "labels": ds.labels, "folds": ds.folds}
    output_json(result) if args.json else output(f"{root}: {len(ds.clips)} clips, {len(ds.labels)} labels")
    return 0


def add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="DATASET_OR_ZIP", help="a dataset directory or a zip (folder per class, ESC-50, store export)")
    p.add_argument("--home", metavar="DIR", help="data directory holding the store (default: $SOUNDKIT_HOME)")
    p.add_argument("--esc10", action="store_true", help="from an ESC-50 release, import only the ESC-10 subset")
    p.add_argument("--json", action="store_true", help='print {"added", "duplicates", "errors", "skipped", "labels"}')


def cmd_import(args: argparse.Namespace) -> int:
    import zipfile

    from soundkit import config as cfg
    from soundkit import datasets
    from soundkit.errors import DatasetError
    from soundkit.store import Store

    source = Path(args.source)
    if not source.exists():
        raise DatasetError(f"{source}: no such file or directory")
    is_zip = source.is_file() and zipfile.is_zipfile(source)
    if source.is_file() and not is_zip:
        raise DatasetError(f"{source}: is neither a dataset directory nor a zip file")
    from soundkit.regions import find_annotations

    annotated = not is_zip and find_annotations(source) is not None  # recordings + a DCASE regions file
    dataset = None if is_zip or annotated else datasets.load(source, esc10=args.esc10)  # checks first, before the store
    store = Store(args.home or cfg.home())
    bars = _Bars()
    try:  # SIGTERM/Ctrl-C unwind through here (soundkit.interrupts): temporary files go, the transaction rolls back
        if annotated:
            result = store.import_annotated(source, progress=bars)
        else:
            result = store.import_zip(source, esc10=args.esc10, progress=bars) if is_zip else store.import_dataset(dataset, progress=bars)
    finally:
        bars.close()
    summary = {k: v for k, v in result.to_dict().items() if k != "ids"}
    summary.update(home=str(store.home), labels=store.labels())
    if args.json:
        output_json(summary)
    else:
        there = result.existing_summary() or "0 already there"
        regions = f", {result.regions} regions" if result.regions else ""
        output(f"{store.home}: {result.added} added, {there}, {len(result.errors)} failed{regions}")
        for name, message in result.errors:
            log.warning("%s: %s", name, message)
    if result.errors and not result.added and not result.duplicates:
        raise DatasetError(f"{source}: nothing could be imported ({result.errors[0][1]})")
    return 0


# -- featurize (the work lives in soundkit.scale) -----------------------------------------------------

def add_featurize(p: argparse.ArgumentParser) -> None:
    from soundkit.scale.cli import add_featurize as add

    add(p)


def cmd_featurize(args: argparse.Namespace) -> int:
    from soundkit.scale.cli import run_featurize

    bars = _Bars()
    try:
        result, text = run_featurize(args, progress=bars)
    finally:
        bars.close()
    output_json(result) if args.json else output(text)
    return 0


# -- registration ----------------------------------------------------------------------------------

#: name -> (one-line help, add_arguments, run). Add a command with one line here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "train": ("train a model on a dataset and write a run directory", add_train, cmd_train),
    "evaluate": ("evaluate a run on a dataset (or one of its folds)", add_evaluate, cmd_evaluate),
    "predict": ("classify audio files with a run", add_predict, cmd_predict),
    "cv": ("cross-validate a model family over a dataset's folds", add_cv, cmd_cv),
    "augment": ("time-stretch / pitch-shift (Rubber Band) one file, with optional noise, gain, shift",
                add_augment, cmd_augment),
    "augment-study": ("cross-validate augmentation sets per class; derive a class-conditional policy",
                      add_augment_study, cmd_augment_study),
    "download": ("download ESC-10 or ESC-50 from the official archive (or a local copy)", add_download, cmd_download),
    "import": ("import a dataset directory or zip into the label store", add_import, cmd_import),
    "featurize": ("decode every clip once into feature shards plus a manifest (local or Ray engine)",
                  add_featurize, cmd_featurize),
    "listen": ("classify a live WAV stream (stdin) or a file window by window and print its events",
               listen_cli.add_listen, listen_cli.cmd_listen),
    "background": ("write silence/noise clips for a _background_ class into a dataset folder",
                   listen_cli.add_background, listen_cli.cmd_background),
}


def build_parser() -> argparse.ArgumentParser:
    from soundkit import __version__

    parser = _Parser(
        prog="soundkit",
        description="soundkit: train, evaluate and serve everyday-sound classifiers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"soundkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for name, (help_text, add, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add(p)
        p.set_defaults(_run=run)
    return parser


# -- entry point -----------------------------------------------------------------------------------

def _quiet_libraries() -> None:
    """Before TensorFlow can load: no C++ INFO/WARNING logs, the TF backend for Keras."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    logging.captureWarnings(True)


def _protect_stdout() -> tuple[TextIO, int | None]:
    """Point file descriptor 1 at stderr and return a stream on the original stdout for results."""
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        saved = os.dup(fd)
        os.dup2(sys.stderr.fileno(), fd)
    except (AttributeError, OSError, ValueError):  # no real file descriptors (e.g. captured in tests)
        return sys.stdout, None
    return os.fdopen(os.dup(saved), "w", encoding="utf-8", closefd=True), saved


def _disconnect_ray() -> None:
    """Shut down this process' Ray connection, if a command opened one (Ray is never imported here)."""
    ray = sys.modules.get("ray")
    if ray is None or not getattr(ray, "is_initialized", lambda: False)():
        return
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001 - the command's result is already decided
        log.debug("ray.shutdown failed", exc_info=True)


def _error(message: str) -> None:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _failure(exc: BaseException) -> int:
    """Print the one line for ``exc`` and return the exit status."""
    if interrupts.received() is not None or isinstance(exc, KeyboardInterrupt | interrupts.Terminated):
        return interrupts.finish()  # 130 / 143, whatever the interrupted code turned the signal into
    if isinstance(exc, SoundkitError):
        _error(exc)
        return 2
    if isinstance(exc, OSError):  # unreadable/unwritable paths the library did not name itself
        _error(f"{exc.filename}: {exc.strerror}" if getattr(exc, "filename", None) and exc.strerror else exc)
        return 2
    if os.environ.get("SOUNDKIT_DEBUG"):  # a bug: still one line, traceback on request
        log.error("internal error", exc_info=exc)
    _error(f"internal error ({type(exc).__name__}: {exc}); set SOUNDKIT_DEBUG=1 for the traceback")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted, 1 internal error)."""
    global _OUT
    _quiet_libraries()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except ParameterError as exc:
        _error(exc)
        return 2
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    _OUT, saved = _protect_stdout()
    try:
        status = int(args._run(args) or 0)
        # a signal that some library swallowed still ends the command as a signal
        return interrupts.finish() if interrupts.received() is not None else status
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure ends in one line
        return _failure(exc)
    finally:
        _disconnect_ray()  # before stdout is restored: Ray's log thread prints to it until shut down
        try:
            _OUT.flush()
        except (OSError, ValueError):
            pass
        if saved is not None:
            os.dup2(saved, sys.stdout.fileno())
            os.close(saved)
            _OUT.close()
        _OUT = None
