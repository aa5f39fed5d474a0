"""Progress events and cancellation: the ``progress``/``should_stop`` callback types,
:class:`TrainingCancelled` and the emitter that sends training's events to a progress callback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from soundkit.errors import ModelError

log = logging.getLogger(__name__)


Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]


class TrainingCancelled(ModelError):
    """Training stopped because ``should_stop()`` returned True."""


def _emitter(progress: Progress | None, *, fold: int | None) -> Callable[..., None]:
    def emit(**event: Any) -> None:
        if progress is None:
            return
        event.setdefault("fold", fold)
        try:
            progress(event)
        except Exception:  # noqa: BLE001 - a broken progress sink must not kill training
            log.exception("progress callback failed")

    return emit
