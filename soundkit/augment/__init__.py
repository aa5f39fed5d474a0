"""Data augmentation: waveform transforms, spectrogram masks, policies and cached offline copies.

Transforms
----------
Every transform shares one call protocol (after audiomentations): ranges are validated in
``__init__`` (:class:`~soundkit.errors.ParameterError`), a probability ``p`` decides whether it
applies, parameters are drawn from an explicit ``np.random.Generator`` by :meth:`Transform.draw`
(never from global state, never from the audio itself) and applied by :meth:`Transform.apply`, so
a drawn parameter set fully determines the output (it is what the disk cache is keyed on).
Calling a transform does both and records what it drew in ``params_``.

- :class:`TimeStretch` -- duration ratio ``R`` as in ``rubberband -t R`` (R = 1.5: 50% longer).
- :class:`PitchShift` -- semitones as in ``rubberband -p S``.
- :class:`AddNoise` -- Gaussian or background-sound noise mixed at a signal-to-noise ratio.
- :class:`Gain`, :class:`Shift` (time shift with a cross-faded stitch, as audiomentations' Shift).
- :class:`TimeMask`, :class:`FrequencyMask` -- SpecAugment-style masks on a log-mel (n_mels, T),
  applied on the fly by training (they have no waveform form to cache).
- :class:`Compose` chains waveform transforms.

Engines
-------
Time stretching and pitch shifting run the real Rubber Band command-line program through
pyrubberband (one subprocess per call; a stretch and a shift drawn together run as one
``rubberband -t R -p S`` call). When the ``rubberband`` program is not on ``PATH`` they fall back
to librosa's phase-vocoder effects with an :class:`EngineFallbackWarning`; :func:`engine` names
the engine in use and every report records it. pyrubberband's ``time_stretch(y, sr, rate)`` takes a
*speed* (``--tempo``): our duration ratio R is passed as ``rate = 1 / R``.

Policies and offline copies
---------------------------
A :class:`Policy` says how many augmented copies each training clip gets and which transforms
make them: one global chain, optionally overridden per class (class-conditional augmentation).
:func:`augment_clips` renders the copies in worker processes and caches them on disk as WAV files
keyed by (clip content hash, drawn parameters), so a second run renders nothing. A copy keeps its
source clip's label, fold and source, so it can never cross a train/test split.
:func:`policy_from_arg` turns a CLI argument (a name or a JSON file) into a policy.

Modules
-------
- ``engines``: Rubber Band or librosa, and the one call that stretches and shifts.
- ``transforms``: the transforms, :class:`Compose`, :func:`transform_from_dict` and :func:`preview`.
- ``policy``: :class:`Policy`, the named sets, :func:`spec_augment` and mixup.
- ``offline``: :func:`augment_clips` and the cache of rendered copies.
- ``cli``: the ``augment`` command.

The augmentation study (per-class comparison of sets, class-conditional policy) trains models, so it
lives above this package and :mod:`soundkit.training`, in :mod:`soundkit.augment_study`.

Everything public is importable from ``soundkit.augment`` itself.
"""

from __future__ import annotations

from soundkit.augment.cli import add_augment_args, run_augment
from soundkit.augment.engines import ENGINES, EngineFallbackWarning, engine
from soundkit.augment.offline import AUG_MARK, augment_clips, is_augmented, leaked, original_id, read_params
from soundkit.augment.policy import (
    MIXUP_ALPHA,
    POLICY_NAMES,
    SETS,
    Policy,
    mix_batch,
    mix_rows,
    mixup_draw,
    policy_from_arg,
    spec_augment,
)
from soundkit.augment.transforms import (
    AddNoise,
    Compose,
    FrequencyMask,
    Gain,
    PitchShift,
    Shift,
    TimeMask,
    TimeStretch,
    Transform,
    preview,
    transform_from_dict,
)

__all__ = [
    "ENGINES",
    "EngineFallbackWarning",
    "engine",
    "Transform",
    "TimeStretch",
    "PitchShift",
    "AddNoise",
    "Gain",
    "Shift",
    "TimeMask",
    "FrequencyMask",
    "Compose",
    "transform_from_dict",
    "preview",
    "SETS",
    "POLICY_NAMES",
    "MIXUP_ALPHA",
    "Policy",
    "policy_from_arg",
    "spec_augment",
    "mix_batch",
    "mixup_draw",
    "mix_rows",
    "AUG_MARK",
    "augment_clips",
    "is_augmented",
    "original_id",
    "leaked",
    "read_params",
    "add_augment_args",
    "run_augment",
]
