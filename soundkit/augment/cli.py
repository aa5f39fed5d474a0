"""``python -m soundkit augment`` (registered in soundkit.cli.COMMANDS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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
