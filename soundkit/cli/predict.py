"""``evaluate`` (a run's report on a dataset or one of its folds) and ``predict`` (classify files with a
run). ``predict yamnet``, ``predict --events`` and ``--unknown`` are handed to :mod:`soundkit.cli.listen`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from soundkit.cli import listen as listen_cli
from soundkit.cli.common import _Bars, _int, _load_dataset, _positive_int, output, output_json

__all__ = ["add_evaluate", "cmd_evaluate", "add_predict", "cmd_predict"]

log = logging.getLogger("soundkit.cli")


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
