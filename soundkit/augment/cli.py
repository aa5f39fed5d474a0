"""``python -m soundkit augment`` and ``augment-study`` (registered in soundkit.cli.COMMANDS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from soundkit.augment.class_study import save_study, study
from soundkit.augment.offline import Progress
from soundkit.augment.transforms import preview
from soundkit.errors import ParameterError


def add_augment_args(p: Any) -> None:
    """Arguments of ``python -m soundkit augment FILE --time-ratio R --semitones S --out OUT.wav``."""
    p.add_argument("file", metavar="FILE", help="input audio file")
    p.add_argument("--time-ratio", type=float, default=1.0, metavar="R",
                   help="output/input duration, 0.5..2.0, as rubberband -t (1.5: 50%% longer)")
    p.add_argument("--semitones", type=float, default=0.0, metavar="S", help="pitch shift, -12..12, as rubberband -p")
    p.add_argument("--noise-snr", type=float, default=None, metavar="DB", help="add Gaussian noise at this SNR (dB)")
    p.add_argument("--gain-db", type=float, default=0.0, help="gain in dB")
    p.add_argument("--shift-s", type=float, default=0.0, help="time shift in seconds (rolled over)")
    p.add_argument("--seed", type=int, default=0, help="seed for the noise")
    p.add_argument("--out", required=True, metavar="OUT.wav", help="output WAV file (written atomically)")
    p.add_argument("--json", action="store_true", help='print {"engine", "seconds_in", "seconds_out", ...}')


def run_augment(args: Any) -> tuple[dict, str]:
    """Do ``augment``; returns (JSON result, one-line summary)."""
    from soundkit import audio

    out = Path(args.out)
    if out.suffix.lower() != ".wav":
        raise ParameterError(f"--out must name a .wav file, got {out}")
    y, sr = audio.load(args.file, sr=None)
    z, params, eng = preview(y, sr, time_ratio=args.time_ratio, semitones=args.semitones, noise_snr_db=args.noise_snr,
                             gain_db=args.gain_db, shift_s=args.shift_s, seed=args.seed)
    peak = float(np.max(np.abs(z))) if z.size else 0.0
    if peak > 0.999:  # rescale rather than clip
        z = z * np.float32(0.999 / peak)
        params["rescaled_from_peak"] = round(peak, 4)
    audio.save_wav(out, z, sr)
    result = {"engine": eng, "seconds_in": params.pop("seconds_in"), "seconds_out": params.pop("seconds_out"),
              "sr": sr, "file": str(args.file), "out": str(out), **{k: v for k, v in params.items() if k != "engine"}}
    text = (f"{out}: {result['seconds_in']:.2f} s -> {result['seconds_out']:.2f} s, time ratio {args.time_ratio:g}, "
            f"{args.semitones:+g} semitones ({eng})")
    return result, text


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
