"""Exception hierarchy. Every error soundkit raises on purpose derives from SoundkitError.

The CLI and the app turn a SoundkitError into one line for the user (``str(err)``), so messages
are single sentences that name the offending file or value.
"""

from __future__ import annotations

__all__ = [
    "SoundkitError",
    "AudioError",
    "DatasetError",
    "ModelError",
    "ParameterError",
    "StoreError",
    "JobError",
    "QuotaError",
]


class SoundkitError(Exception):
    """Root of soundkit's exceptions."""

    def __str__(self) -> str:  # always one line
        return " ".join(super().__str__().split())


class AudioError(SoundkitError):
    """Audio that is missing, empty, undecodable, non-finite or too long."""


class DatasetError(SoundkitError):
    """A dataset directory that cannot be read or is not in a known layout."""


class ModelError(SoundkitError):
    """A model or run directory that cannot be built, loaded or trained."""


class ParameterError(SoundkitError, ValueError):
    """A parameter outside its allowed range; the message names the bad value."""


class StoreError(SoundkitError):
    """The labelled-clip store refused an operation."""


class JobError(SoundkitError):
    """A background job could not be started (for example one is already running)."""


class QuotaError(StoreError):
    """A limit of the workspace or the server was reached (clips, stored megabytes, runs, disk, queue)."""
