"""What every command of the CLI shares: where results are printed (:func:`output`, :func:`output_json`
and the JSON encoding of numpy values and paths), the argparse parser that raises instead of printing
usage (:class:`_Parser`), the argument types, loading a dataset (folders, ESC-50, a store or a featurized
directory) and the progress bars on stderr (:class:`_Bars`, :func:`_fanout`).

Imports nothing heavy at import time (the entry point's signal handling relies on it): numpy, tqdm
and the dataset loaders are imported inside the functions that use them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from soundkit import interrupts
from soundkit.errors import ParameterError

__all__ = ["output", "output_json"]

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
