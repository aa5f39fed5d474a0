"""A model's suggestion per clip: predicted label, confidence (0..1) and the run that made it, kept
on the clip's row so that ``clips(order="uncertainty")`` lists the least confident first.
"""

from __future__ import annotations

from collections.abc import Iterable

from soundkit.errors import ParameterError

__all__ = ["PredictionsMixin"]


class PredictionsMixin:
    """``set_prediction``, ``set_predictions`` and ``clear_predictions`` of
    :class:`soundkit.store.Store` (uses its transactions and ``_check_ids``)."""

    def set_prediction(self, id: int, label: str | None, confidence: float | None, run: str | None = None) -> None:
        """Record the model's suggestion for one clip."""
        self.set_predictions([(id, label, confidence)], run=run)

    def set_predictions(self, items: Iterable[tuple[int, str | None, float | None]], *, run: str | None = None) -> int:
        """Record many ``(id, label, confidence)`` suggestions in one transaction."""
        rows = []
        for clip_id, label, confidence in items:
            if confidence is not None and not (0.0 <= float(confidence) <= 1.0):
                raise ParameterError(f"confidence must be within 0..1, got {confidence}")
            rows.append((label, None if confidence is None else float(confidence), run, int(clip_id)))
        with self._write() as con:
            self._check_ids(con, [r[-1] for r in rows])
            con.executemany("UPDATE clips SET pred_label = ?, pred_confidence = ?, pred_run = ? WHERE id = ?", rows)
        return len(rows)

    def clear_predictions(self) -> None:
        """Forget every clip's suggestion."""
        with self._write() as con:
            con.execute("UPDATE clips SET pred_label = NULL, pred_confidence = NULL, pred_run = NULL")
