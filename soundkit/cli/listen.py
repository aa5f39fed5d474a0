"""``listen`` (classify a live WAV stream or a file window by window), ``background`` (write a
_background_ class) and the pieces ``predict`` and ``cv`` hand over: ``predict yamnet`` / ``predict
--events`` / ``--unknown`` (:func:`predict_plus`, :func:`add_event_args`) and ``cv --open-set``
(:func:`open_set_cv_command`). Also :func:`wav_stream` (WAV on a pipe) and :func:`load_model`.

    python -m soundkit listen MODEL [SOURCE] [--json] [--unknown auto|off|P] [--realtime] [--hop S]
    ffmpeg -f pulse -i default -ac 1 -ar 16000 -f wav - | python -m soundkit listen runs/mine -
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from soundkit.cli.common import output, output_json
from soundkit.errors import AudioError, ParameterError

__all__ = ["add_listen", "cmd_listen", "add_background", "cmd_background", "wav_stream", "load_model", "add_event_args", "predict_plus", "open_set_cv_command"]

log = logging.getLogger("soundkit.cli")

#: Longest accepted header chunk of a WAV stream (a "fmt " or "LIST" chunk is a few dozen bytes).
_MAX_CHUNK = 1 << 20


# -- WAV on a pipe -----------------------------------------------------------------------------------

def _read_exact(fh: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        part = fh.read(n - len(out))
        if not part:
            break
        out += part
    return out


def wav_stream(fh: BinaryIO, *, name: str = "stdin", block_frames: int = 1600) -> tuple[int, int, Iterator[np.ndarray]]:
    """Read a WAV stream incrementally (a pipe from ffmpeg: its data size may be 0 or 0xFFFFFFFF).

    Parameters
    ----------
    fh : binary file object
    block_frames : int
        Frames per block yielded.

    Returns
    -------
    sr : int
    channels : int
    blocks : iterator of np.ndarray, float32, shape (n, channels)
        Until the data chunk (or the stream) ends.

    Raises
    ------
    AudioError
        Not a WAV stream, or an encoding other than 8/16/24/32-bit PCM or 32/64-bit float.
    """
    head = _read_exact(fh, 12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV stream (expected a RIFF/WAVE header, e.g. ffmpeg ... -f wav -)"
                         if head else f"{name}: no audio (the stream is empty)")
    fmt = None
    while True:
        ch = _read_exact(fh, 8)
        if len(ch) < 8:
            raise AudioError(f"{name}: the WAV stream ends before its data chunk")
        cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
        if cid == b"data":
            break
        if size > _MAX_CHUNK:
            raise AudioError(f"{name}: WAV header chunk {cid!r} of {size} bytes is too large")
        body = _read_exact(fh, size + (size & 1))
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioError(f"{name}: truncated WAV fmt chunk")
            tag, channels, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID's first 2 bytes
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, sr, bits)
    if fmt is None:
        raise AudioError(f"{name}: WAV stream without a fmt chunk")
    tag, channels, sr, bits = fmt
    kinds = {(1, 8): "u1", (1, 16): "<i2", (1, 24): "i24", (1, 32): "<i4", (3, 32): "<f4", (3, 64): "<f8"}
    kind = kinds.get((tag, bits))
    if kind is None:
        raise AudioError(f"{name}: unsupported WAV encoding (format {tag}, {bits} bits); use PCM or float, e.g. ffmpeg -c:a pcm_s16le")
    if not 1 <= channels <= 32 or not 1000 <= sr <= 384000:
        raise AudioError(f"{name}: implausible WAV stream ({channels} channels, {sr} Hz)")
    width = bits // 8
    limit = None if size in (0, 0xFFFFFFFF) else size  # streaming writers leave the size open

    def blocks() -> Iterator[np.ndarray]:
        left = limit
        frame = width * channels
        carry = b""
        reader = getattr(fh, "read1", fh.read)
        while left is None or left > 0:
            want = block_frames * frame - len(carry)
            if left is not None:
                want = min(want, left)
            # read1: whatever the pipe holds now (up to want), so a live stream is not held back
            data = (reader(want) if want > 0 else b"")
            if not data:
                break
            if left is not None:
                left -= len(data)
            data = carry + data
            n = len(data) // frame * frame
            data, carry = data[:n], data[n:]
            if not n:
                continue
            if kind == "i24":
                b = np.frombuffer(data, np.uint8).reshape(-1, 3)
                v = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
                v = np.where(v >= 1 << 23, v - (1 << 24), v)
                y = v.astype(np.float32) / float(1 << 23)
            elif kind == "u1":
                y = (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
            else:
                raw = np.frombuffer(data, kind)
                y = raw.astype(np.float32) / (float(np.iinfo(raw.dtype).max) + 1) if raw.dtype.kind == "i" else raw.astype(np.float32)
            yield y.reshape(-1, channels)

    return int(sr), int(channels), blocks()


def _file_stream(path: Path, *, block_frames: int) -> tuple[int, Iterator[np.ndarray]]:
    """(sr, blocks) of an audio file: read in blocks where soundfile can, else decoded at once."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    import soundfile as sf

    try:
        f = sf.SoundFile(str(path))
    except Exception:  # noqa: BLE001 - let the validated loader give its own message (or decode it)
        from soundkit import audio

        y, sr = audio.load(path, sr=None)
        return sr, (y[i : i + block_frames] for i in range(0, len(y), block_frames))
    if f.frames == 0:
        f.close()
        raise AudioError(f"{path}: the file contains no audio samples")

    def blocks() -> Iterator[np.ndarray]:
        with f:
            while True:
                try:
                    y = f.read(block_frames, dtype="float32", always_2d=True)
                except Exception as exc:  # noqa: BLE001 - a damaged stream mid-file
                    raise AudioError(f"{path}: cannot be decoded ({exc})") from None
                if not len(y):
                    return
                yield y

    return int(f.samplerate), blocks()


# -- models --------------------------------------------------------------------------------------------

def load_model(name: str, *, unknown: str | None = "auto") -> Any:
    """A Predictor for a run directory (with its open-set check per ``--unknown``) or YAMNet
    zero-shot for ``yamnet``."""
    if name == "yamnet" and not Path(name).is_dir():
        from soundkit.models.yamnet import YamnetPredictor

        model = YamnetPredictor.load()
        model.open_set = _unknown_for(unknown, None)
        return model
    from soundkit.openset import OpenSet
    from soundkit.predict import Predictor

    predictor = Predictor.load(name, open_set="off")
    predictor.open_set = _unknown_for(unknown, OpenSet.load(name))
    return predictor


def _unknown_for(value: str | None, calibrated: Any) -> Any:
    from soundkit.openset import parse_unknown

    return parse_unknown(value, calibrated)


def _unknown_arg(text: str) -> str:
    if text in ("auto", "off"):
        return text
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, off or a probability in (0, 1), got {text!r}") from None
    if not 0 < p < 1:
        raise argparse.ArgumentTypeError(f"expected auto, off or a probability in (0, 1), got {text!r}")
    return text


def _bounded(what: str, lo: float, hi: float, unit: str = ""):
    """An argparse type: a float within [lo, hi], else one clear message."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} within {lo:g}..{hi:g}{unit}, got {text!r}")
        return v

    return parse


_prob = _bounded("a probability", 0, 1)
_seconds = _bounded("seconds", 0, 3600)


def add_event_args(p: argparse.ArgumentParser) -> None:
    """The event detector's thresholds (listen, predict --events)."""
    p.add_argument("--on", type=_prob, default=0.5, help="probability that starts an event (default 0.5)")
    p.add_argument("--off", type=_prob, default=None, help="probability below which it ends (default 0.6 x --on)")
    p.add_argument("--min-duration", type=_seconds, default=0.25, metavar="S", help="shortest event kept (default 0.25 s)")
    p.add_argument("--merge-gap", type=_seconds, default=0.5, metavar="S",
                   help="events of one label at most this far apart are one event (default 0.5 s)")
    p.add_argument("--smooth", type=int, default=3, metavar="N", help="average probabilities over the last N windows (default 3)")
    from soundkit.listen import DEFAULT_LABELING, LABELINGS

    p.add_argument("--labeling", choices=("auto", *LABELINGS), default=None,
                   help="event: one event per sound, labelled by the mean of its windows (segment, then classify); "
                        f"window: each label's windows make its own events (default: {DEFAULT_LABELING}, "
                        "event for a YAMNet-head run, window otherwise)")
    p.add_argument("--unknown", type=_unknown_arg, default="auto", metavar="auto|off|P",
                   help="'none of these': the run's calibrated threshold (auto), off, or a top-probability threshold P")


def _event_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if args.off is not None and args.off > args.on:
        raise ParameterError(f"--off {args.off} must not exceed --on {args.on}")
    if args.smooth < 1:
        raise ParameterError(f"--smooth must be >= 1, got {args.smooth}")
    return {"on": args.on, "off": args.off, "min_duration": args.min_duration, "merge_gap": args.merge_gap,
            **({"labeling": args.labeling} if args.labeling else {})}


def _offline_kwargs(kwargs: dict[str, Any], model: Any) -> dict[str, Any]:
    """predict --events: "auto" (the default) means what it means for ``listen`` with that model."""
    from soundkit.listen import labeling_for

    labeling = kwargs.get("labeling", "auto")
    return {**kwargs, "labeling": labeling_for(model) if labeling == "auto" else labeling}


# -- listen ------------------------------------------------------------------------------------------

def add_listen(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a run directory, or yamnet (YAMNet's own 521 AudioSet classes)")
    p.add_argument("source", metavar="SOURCE", nargs="?", default="-",
                   help="an audio file, or - (the default) for a WAV stream on stdin, e.g. from ffmpeg ... -f wav -")
    p.add_argument("--hop", type=_seconds, default=0.5, metavar="S", help="seconds between classified windows (default 0.5)")
    p.add_argument("--realtime", action="store_true", help="pace a file as if it were live")
    p.add_argument("--block", type=_seconds, default=0.1, metavar="S", help="seconds of audio read at a time (default 0.1)")
    add_event_args(p)
    p.add_argument("--json", action="store_true",
                   help='one JSON object per event and line: {"label", "start", "end", "duration", "confidence", "peak", "mean"}')


def cmd_listen(args: argparse.Namespace) -> int:
    from soundkit.listen import Listener

    if not 0.05 <= args.hop <= 10:
        raise ParameterError(f"--hop must be within 0.05..10 seconds, got {args.hop}")
    if not 0.001 <= args.block <= 10:
        raise ParameterError(f"--block must be within 0.001..10 seconds, got {args.block}")
    kwargs = _event_kwargs(args)
    if args.source != "-":
        sr, blocks = _file_stream(Path(args.source), block_frames=4096)  # checked before the model loads
    model = load_model(args.model, unknown=args.unknown)

    def show(ev) -> None:
        if args.json:
            output(json.dumps(ev.to_dict()))
        else:
            output(f"{ev.start:8.2f} - {ev.end:8.2f}  {ev.label}  ({ev.mean:.0%}, peak {ev.peak:.0%})")

    listener = Listener(model, hop=args.hop, smooth=args.smooth, open_set=getattr(model, "open_set", None),
                        on_event=show, **kwargs)
    if args.source == "-":
        stdin = sys.stdin.buffer
        sr, _, blocks = wav_stream(stdin, block_frames=max(1, int(args.block * 16000)))
    else:
        sr, blocks = _file_stream(Path(args.source), block_frames=max(1, int(round(args.block * 44100))))
    t0, fed = time.monotonic(), 0
    got = False
    try:
        for y in blocks:
            got = got or bool(len(y))
            listener.feed(y, sr)
            fed += len(y)
            if args.realtime:
                wait = t0 + fed / sr - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
    except KeyboardInterrupt:
        listener.flush()
        raise
    if not got:
        raise AudioError(f"{args.source if args.source != '-' else 'stdin'}: no audio samples")
    listener.flush()
    seconds = time.monotonic() - t0
    log.info("listened to %.1f s of audio in %.1f s: %d events", listener.seconds, seconds, len(listener.events))
    if not args.json:
        print(f"{len(listener.events)} event(s) in {listener.seconds:.1f} s of audio", file=sys.stderr)
    return 0


# -- predict yamnet / predict --events ---------------------------------------------------------------

def predict_plus(args: argparse.Namespace) -> int:
    """``predict`` for YAMNet zero-shot and/or with ``--events`` and ``--unknown``."""
    from soundkit import audio
    from soundkit.listen import timeline_events

    paths = [Path(f) for f in args.files]
    for p in paths:  # fail fast, before loading the model
        if not p.exists():
            raise AudioError(f"{p}: no such file")
        if p.is_dir():
            raise AudioError(f"{p}: is a directory, not an audio file")
    events_on = bool(getattr(args, "events", False))
    kwargs = _event_kwargs(args) if events_on else {}
    model = load_model(args.run_dir, unknown=getattr(args, "unknown", "auto"))
    rows = []
    for p in paths:
        y, sr = audio.load(p, sr=model.sample_rate if hasattr(model, "sample_rate") else 16000)
        try:
            pred = model.predict(y, sr, top_k=args.top_k)
        except AudioError as exc:
            raise AudioError(f"{p}: {exc}") from None
        if getattr(model, "open_set", None) is not None and getattr(pred, "unknown_score", None) is None:
            import dataclasses

            score = model.open_set.clip_score(pred.probabilities)
            pred = dataclasses.replace(pred, unknown=score < model.open_set.threshold, unknown_score=score)
        d = pred.to_dict()
        row = {"file": str(p), "label": d["label"], "top": d["top"],
                   **({"unknown": d["unknown"]} if "unknown" in d else {})}
        if args.timeline:
            row["timeline"] = d["timeline"]
        if events_on:
            evs = timeline_events(pred, smooth=args.smooth, duration=len(y) / sr, y=y, sr=sr, **_offline_kwargs(kwargs, model))
            row["events"] = [e.to_dict() for e in evs]
        rows.append(row)
    if args.json:
        output_json(rows)
    else:
        for row in rows:
            top = row["top"]
            others = ", ".join(f"{t['label']} {t['probability']:.0%}" for t in top[1:3])
            output(f"{row['file']}: {row['label']} ({top[0]['probability']:.0%})" + (f"; then {others}" if others else ""))
            for e in row.get("events", []):
                output(f"  {e['start']:8.2f} - {e['end']:8.2f}  {e['label']}  ({e['confidence']:.0%})")
    return 0


# -- cv --open-set --------------------------------------------------------------------------------------

def open_set_cv_command(args: argparse.Namespace, dataset: Any, train_config: Any, bars: Any) -> dict[str, Any]:
    """``cv DATASET --open-set K [--draws N]``: :func:`soundkit.openset.open_set_cv`."""
    from soundkit import config as cfg
    from soundkit.config import FeatureConfig
    from soundkit.openset import open_set_cv

    work = cfg.cache_dir() / "openset-cv"
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return open_set_cv(dataset, k=args.open_set, draws=args.draws, features=FeatureConfig(), config=train_config,
                       cache_dir=cfg.cache_dir(), progress=bars, seed=args.seed, work_dir=work)


# -- background ---------------------------------------------------------------------------------------

def add_background(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET_DIR", help="a folder-per-class dataset: the clips go to DATASET_DIR/_background_/")
    p.add_argument("--n", type=int, default=40, help="clips to write (default 40)")
    p.add_argument("--seconds", type=_seconds, default=5.0, help="seconds per clip (default 5)")
    p.add_argument("--sr", type=int, default=44100, help="sample rate (default 44100)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--json", action="store_true", help='print {"folder", "clips"}')


def cmd_background(args: argparse.Namespace) -> int:
    from soundkit.openset import write_background

    root = Path(args.dataset)
    if not root.is_dir():
        raise ParameterError(f"{root}: no such dataset directory")
    if not 1 <= args.n <= 10000 or not 8000 <= args.sr <= 192000 or args.seconds <= 0:
        raise ParameterError(f"--n must be within 1..10000, --sr within 8000..192000 and --seconds > 0 (got {args.n}, {args.sr}, {args.seconds})")
    paths = write_background(root, n=args.n, seconds=args.seconds, sr=args.sr, seed=args.seed)
    result = {"folder": str(paths[0].parent), "clips": len(paths)}
    output_json(result) if args.json else output(f"{result['folder']}: {len(paths)} silence/noise clips (class _background_)")
    return 0
