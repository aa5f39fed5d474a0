"""soundkit: a workbench for everyday-sound classification.

Importing soundkit is cheap: no TensorFlow, no librosa, no I/O. Submodules load what they need
when they are used.
"""

from soundkit.errors import (
    AudioError,
    DatasetError,
    JobError,
    ModelError,
    ParameterError,
    SoundkitError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "DatasetError",
    "JobError",
    "ModelError",
    "ParameterError",
    "SoundkitError",
    "StoreError",
    "__version__",
]
