"""The augmentation study: cross-validate each set per class and derive a class-conditional policy.

It sits above both :mod:`soundkit.augment` (the sets it compares) and :mod:`soundkit.training` (the
models it trains), so neither imports the other's way back. Also the ``augment-study`` command
(:func:`add_study_args`, :func:`run_study`, :func:`study_text`), registered in soundkit.cli.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.augment.offline import Progress
from soundkit.augment.policy import Policy, _set_specs
from soundkit.augment.transforms import _check
from soundkit.errors import ParameterError

log = logging.getLogger(__name__)

STUDY_METHOD = (
    "Each augmentation set is cross-validated on the same folds (copies of training clips only). "
    "Class-conditional policy, evaluated without test-fold information: for each test fold f, every class "
    "gets the set with the best pooled accuracy for that class on the other folds' test results (fold f's "
    "labels and predictions are never used for f's choice; ties go to the earlier set in --sets), then a "
    "model is trained on the training folds with that per-class policy and tested on fold f. The policy "
    "saved for later training picks per class on all folds."
)
STUDY_METHOD_NESTED = (
    "Each augmentation set is cross-validated on the same folds (copies of training clips only). "
    "Class-conditional policy, nested: for each test fold f, every set is cross-validated again inside the "
    "other folds alone (fold f's clips are in no model that informs f's choice), every class gets the set "
    "with the best pooled accuracy there (ties go to the earlier set in --sets), then a model is trained on "
    "the training folds with that per-class policy and tested on fold f. The policy saved for later training "
    "picks per class on all folds."
)


def _counts(reports: dict[int, Any], labels: Sequence[str]) -> dict[int, dict[str, tuple[int, int]]]:
    """{fold: {label: (correct, support)}} from evaluation Reports."""
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for f, r in reports.items():
        out[f] = {}
        for label in labels:
            n = int(r.support.get(label, 0))
            out[f][label] = (int(round(r.per_class_accuracy.get(label, 0.0) * n)), n)
    return out


def _pooled(counts: dict[int, dict[str, tuple[int, int]]], label: str, folds: Iterable[int]) -> float | None:
    c = sum(counts[f][label][0] for f in folds)
    n = sum(counts[f][label][1] for f in folds)
    return c / n if n else None


def _choose(per_set: dict[str, dict], label: str, folds: Sequence[int]) -> str:
    best, best_acc = next(iter(per_set)), -1.0
    for name, counts in per_set.items():
        acc = _pooled(counts, label, folds)
        if acc is not None and acc > best_acc + 1e-12:
            best, best_acc = name, acc
    return best


def _summary(reports: dict[int, Any], labels: Sequence[str], seconds: float) -> tuple[dict, dict]:
    counts = _counts(reports, labels)
    accs = {f: float(r.accuracy) for f, r in reports.items()}
    vals = np.array(list(accs.values()))
    return counts, {
        "mean_accuracy": float(vals.mean()),
        "std_accuracy": float(vals.std()),
        "fold_accuracy": {str(f): a for f, a in accs.items()},
        "per_class_accuracy": {label: _pooled(counts, label, reports) for label in labels},
        "fold_per_class_accuracy": {str(f): {label: _pooled(counts, label, [f]) for label in labels} for f in reports},
        "clips": [{"fold": f, "id": c["id"], "predicted": c["predicted"], "probabilities": c.get("probabilities")}
                  for f, r in sorted(reports.items()) for c in r.clips],
        "seconds": round(seconds, 2),
    }


def study(
    dataset: Any,
    *,
    sets: Sequence[str] = ("none", "stretch", "pitch", "stretch+pitch"),
    copies: int = 2,
    features: Any = None,
    config: Any = None,
    folds: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    conditional: bool = True,
    nested: bool = False,
    progress: Progress | None = None,
    runner: Any = None,
) -> dict:
    """Cross-validate each augmentation set and derive a class-conditional policy.

    Parameters
    ----------
    dataset : datasets.Dataset
    sets : sequence of str
        Set names (see :data:`SETS`; "a+b" combines); "none" is the baseline.
    copies : int
        Augmented copies per training clip for every set.
    features : FeatureConfig, optional
    config : TrainConfig, optional
        Its ``augment`` is replaced by each set's policy.
    folds : sequence of int, optional
        Test folds (default all). The class-conditional evaluation needs at least two.
    cache_dir : path, optional
        Cache root (features and augmented copies are shared by all sets).
    conditional : bool
        Also train and test the class-conditional policy fold by fold.
    nested : bool
        Choose fold f's per-class sets by cross-validating every set inside the other folds (no
        model that informs the choice has seen fold f; about ``len(folds) - 1`` times the cost of
        the study). Default: choose from the other folds' results of the main cross-validation,
        whose models had fold f in their training data.
    progress : callable(dict), optional
        Training's progress events, with "set" added.
    runner : callable, optional
        Runs a batch of independent cross-validations: ``runner([(dataset, config, folds), ...],
        features=, cache_dir=) -> [CVResult, ...]`` (e.g. :func:`soundkit.scale.fanout.ray_runner`,
        every fold a Ray task). Default: one after another in this process.

    Returns
    -------
    dict
        {"engine", "method", "labels", "folds", "copies", "sets": {set: {"mean_accuracy",
        "std_accuracy", "fold_accuracy", "per_class_accuracy", "fold_per_class_accuracy", "clips",
        "seconds"}}, "class_conditional":
        {"choices": {fold: {label: set}}, "mean_accuracy", "std_accuracy", "fold_accuracy",
        "per_class_accuracy", "fold_per_class_accuracy", "clips", "policy"} or None, where "clips" holds
        every tested clip as {"fold", "id", "predicted", "probabilities" {label: p}}; "policy" (the
        class-conditional policy chosen on all folds, to train with), "table": [{"label", <set>: acc, ...,
        "class_conditional", "chosen"}]}; per-class accuracies are pooled over the test folds.
    """
    import time

    from soundkit import training
    from soundkit.config import FeatureConfig, TrainConfig

    features = features if features is not None else FeatureConfig()
    config = config if config is not None else TrainConfig()
    names = [s.strip() for s in sets]
    _check(len(names) >= 1 and len(set(names)) == len(names), f"sets must be distinct names, got {', '.join(names)}")
    for name in names:
        _set_specs(name)
    _check(isinstance(copies, int) and 1 <= copies <= 32, f"copies must be within 1..32, got {copies!r}")
    dataset = dataset.with_folds(seed=config.seed)
    folds = list(dataset.folds if folds is None else folds)
    labels = dataset.labels
    _check(not (nested and conditional and len(dataset.folds) < 3),
           f"a nested class-conditional choice needs at least 3 folds; this dataset has {len(dataset.folds)}")
    eng = next((e for n in names if (e := Policy(transforms=n).engine) is not None), None)

    def relay(tag: str) -> Progress | None:
        if progress is None:
            return None
        return lambda event: progress({**event, "set": tag})

    def policy_for(name: str) -> dict | None:
        return None if name == "none" else Policy(name=name, copies=copies, transforms=name).to_dict()

    def cv_all(jobs: list[tuple[Any, Any, Any, str]]) -> list[tuple[Any, float]]:
        """(CVResult, seconds) of each independent job (dataset, config, folds, progress tag)."""
        if runner is not None:
            t0 = time.monotonic()
            cvs = runner([j[:3] for j in jobs], features=features, cache_dir=cache_dir)
            return [(cv, time.monotonic() - t0) for cv in cvs]
        out = []
        for ds, cfg, fs, tag in jobs:
            t0 = time.monotonic()
            cv = training.cross_validate(ds, features=features, config=cfg, folds=fs, cache_dir=cache_dir, progress=relay(tag))
            out.append((cv, time.monotonic() - t0))
        return out

    per_set_counts: dict[str, dict] = {}
    results: dict[str, dict] = {}
    done = cv_all([(dataset, config.replace(augment=policy_for(name)), folds, name) for name in names])
    for name, (cv, seconds) in zip(names, done, strict=True):
        per_set_counts[name], results[name] = _summary(cv.reports, labels, seconds)
        log.info("augment study: %s mean accuracy %.3f", name, results[name]["mean_accuracy"])

    final = Policy(name="class-conditional", copies=copies, transforms="none",
                   per_class={label: _choose(per_set_counts, label, folds) for label in labels})
    cond: dict[str, Any] | None = None
    if conditional and len(folds) >= 2:
        t0 = time.monotonic()
        choices: dict[int, dict[str, str]] = {}
        reports: dict[int, Any] = {}
        inner_cvs: dict[tuple[int, str], Any] = {}
        if nested:  # every (fold, set) inner cross-validation is independent: one batch
            jobs = []
            for f in folds:
                inner = type(dataset)(dataset.root, [c for c in dataset.clips if c.fold != f], dataset.layout,
                                      dataset.official_folds, dict(dataset.meta))
                jobs += [(inner, config.replace(augment=policy_for(name)), [g for g in folds if g != f],
                          f"{name}, without fold {f}") for name in names]
            keys = [(f, name) for f in folds for name in names]
            inner_cvs = {k: cv for k, (cv, _) in zip(keys, cv_all(jobs), strict=True)}
        for f in folds:
            others = [g for g in folds if g != f]
            evidence = per_set_counts
            if nested:
                evidence = {name: _counts(inner_cvs[(f, name)].reports, labels) for name in names}
            choices[f] = {label: _choose(evidence, label, others) for label in labels}
        cond_jobs = [(dataset, config.replace(augment=Policy(name="class-conditional", copies=copies, transforms="none",
                                                              per_class=choices[f]).to_dict()), [f], "class-conditional")
                     for f in folds]
        for f, (cv, _) in zip(folds, cv_all(cond_jobs), strict=True):
            reports[f] = cv.reports[f]
        _, summary = _summary(reports, labels, time.monotonic() - t0)
        cond = {"choices": {str(f): c for f, c in choices.items()}, **summary}
    elif conditional:
        log.warning("augment study: the class-conditional policy needs at least 2 folds to be evaluated")
    table = []
    for label in labels:
        row: dict[str, Any] = {"label": label}
        row.update({name: results[name]["per_class_accuracy"][label] for name in names})
        if cond is not None:
            row["class_conditional"] = cond["per_class_accuracy"][label]
        row["chosen"] = final.per_class[label]  # type: ignore[index]
        table.append(row)
    return {
        "engine": eng,
        "method": STUDY_METHOD_NESTED if nested else STUDY_METHOD,
        "nested": bool(nested),
        "dataset": str(dataset.root),
        "labels": labels,
        "folds": folds,
        "copies": copies,
        "model": config.model,
        "epochs": config.epochs,
        "sets": results,
        "class_conditional": None if cond is None else {**cond, "policy": final.to_dict()},
        "policy": final.to_dict(),
        "table": table,
    }


def save_study(result: dict, out: str | os.PathLike) -> Path:
    """Write ``study.json`` and the derived ``policy.json`` (usable as ``--augment FILE``) into ``out``."""
    from soundkit.runs import write_atomic

    out = Path(out)
    write_atomic(out / "policy.json", json.dumps(result["policy"], indent=2) + "\n")
    write_atomic(out / "study.json", json.dumps(result, indent=2) + "\n")
    return out


# -- the augment-study command ------------------------------------------------------------------

def add_study_args(p: Any) -> None:
    """Arguments of ``python -m soundkit augment-study DATASET --sets none,stretch,pitch,stretch+pitch``."""
    from soundkit.config import MODEL_FAMILIES, TrainConfig

    p.add_argument("dataset", metavar="DATASET", help="dataset directory")
    p.add_argument("--sets", default="none,stretch,pitch,stretch+pitch",
                   help="comma-separated augmentation sets; '+' combines (%(default)s)")
    p.add_argument("--copies", type=int, default=2, help="augmented copies per training clip (default 2)")
    p.add_argument("--model", default="cnn", choices=MODEL_FAMILIES, help="model family (default: cnn)")
    p.add_argument("--epochs", type=int, default=None, help=f"most epochs per fold (default {TrainConfig().epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"batch size (default {TrainConfig().batch_size})")
    p.add_argument("--folds", default=None, metavar="1,2,...", help="test folds to run (default all)")
    p.add_argument("--labels", default=None, metavar="a,b,c", help="use these labels only")
    p.add_argument("--limit-per-class", type=int, default=None, metavar="N", help="at most N clips per label")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-conditional", action="store_true", help="do not train/test the class-conditional policy")
    p.add_argument("--nested", action="store_true",
                   help="choose each test fold's per-class sets by cross-validation inside the other folds "
                        "(no model behind the choice saw the test fold; about (folds - 1) times the cost)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where study.json and policy.json go (default $SOUNDKIT_HOME/runs/augment-study-<time>)")
    from soundkit.scale.cli import add_engine_args

    add_engine_args(p)
    p.add_argument("--json", action="store_true", help="print the study as JSON")


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def run_study(args: Any, *, progress: Progress | None = None) -> tuple[dict, str]:
    """Do ``augment-study``; returns (JSON result, a per-class table as text)."""
    from datetime import UTC, datetime

    from soundkit import datasets
    from soundkit.config import TrainConfig, cache_dir, runs_dir

    ds = datasets.load(args.dataset)
    if args.labels or args.limit_per_class:
        ds = ds.select(_csv(args.labels), limit_per_class=args.limit_per_class)
    changes: dict[str, Any] = {"model": args.model, "seed": args.seed}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    folds = None
    if args.folds:
        try:
            folds = [int(f) for f in _csv(args.folds) or []]
        except ValueError:
            raise ParameterError(f"--folds must be comma-separated integers, got {args.folds!r}") from None
    runner = None
    if getattr(args, "engine", "serial") == "ray":  # every (set, fold) a Ray task (soundkit.scale.fanout)
        from soundkit.scale.fanout import ray_runner

        runner = ray_runner(address=args.address)
    result = study(ds, sets=_csv(args.sets) or [], copies=args.copies, config=TrainConfig(**changes), folds=folds,
                   cache_dir=cache_dir(), conditional=not args.no_conditional, nested=args.nested, progress=progress,
                   runner=runner)
    out = Path(args.out) if args.out else runs_dir() / f"augment-study-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    save_study(result, out)
    result["out"] = str(out)
    return result, study_text(result)


def study_text(result: dict) -> str:
    """The study's per-class accuracy table as plain text."""
    cols = [*result["sets"], *(["class_conditional"] if result.get("class_conditional") else [])]
    width = max(len(r["label"]) for r in result["table"])
    head = f"{'label':<{width}}  " + "  ".join(f"{c:>13}" for c in cols) + "  chosen"

    def cell(v: float | None) -> str:
        return f"{v:>13.1%}" if v is not None else f"{'-':>13}"

    lines = [head] + [f"{r['label']:<{width}}  " + "  ".join(cell(r.get(c)) for c in cols) + f"  {r['chosen']}"
                      for r in result["table"]]
    means = {c: (result["sets"][c] if c in result["sets"] else result["class_conditional"])["mean_accuracy"] for c in cols}
    lines.append(f"{'mean':<{width}}  " + "  ".join(cell(means[c]) for c in cols))
    lines.append(f"engine: {result['engine']}; written to {result.get('out', '-')}")
    return "\n".join(lines)
