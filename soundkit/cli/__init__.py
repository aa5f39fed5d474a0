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

Layout: :mod:`soundkit.cli.common` (output, argument types, dataset loading, progress bars),
one module per group of commands - :mod:`~soundkit.cli.train` (train, cv), :mod:`~soundkit.cli.predict`
(evaluate, predict), :mod:`~soundkit.cli.augment` (augment, augment-study), :mod:`~soundkit.cli.data`
(download, import, featurize), :mod:`~soundkit.cli.listen` (listen, background,
predict yamnet / --events, cv --open-set) - and this module: the
parser (:data:`COMMANDS`, :func:`build_parser`) and the entry point (:func:`main`).

Adding a command: write ``add_<name>(parser)`` (its arguments) and ``cmd_<name>(args) -> int`` (the
work; print results with :func:`output` / :func:`output_json`) in the module of its group, then add
one line to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from soundkit import interrupts
from soundkit.cli import common
from soundkit.cli.augment import add_augment, add_augment_study, cmd_augment, cmd_augment_study
from soundkit.cli.common import _Parser, output, output_json
from soundkit.cli.data import add_download, add_featurize, add_import, cmd_download, cmd_featurize, cmd_import
from soundkit.cli.listen import add_background, add_listen, cmd_background, cmd_listen
from soundkit.cli.predict import add_evaluate, add_predict, cmd_evaluate, cmd_predict
from soundkit.cli.train import add_cv, add_train, cmd_cv, cmd_train
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
               add_listen, cmd_listen),
    "background": ("write silence/noise clips for a _background_ class into a dataset folder",
                   add_background, cmd_background),
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
    common._OUT, saved = _protect_stdout()  # output() writes there
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
            common._OUT.flush()
        except (OSError, ValueError):
            pass
        if saved is not None:
            os.dup2(saved, sys.stdout.fileno())
            os.close(saved)
            common._OUT.close()
        common._OUT = None
