"""Policies (global and class-conditional), named sets, SpecAugment masks and mixup for training."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.augment.engines import engine
from soundkit.augment.transforms import Compose, PitchShift, TimeStretch, _as_rng, _check, _number, transform_from_dict
from soundkit.errors import ParameterError

#: Named transform sets; "a+b" concatenates sets. Stretch/pitch ranges follow the recipe's
#: deformations (Salamon & Bello 2017: speeds 0.81..1.23, shifts of up to 2-3.5 semitones).
SETS: dict[str, list[dict]] = {
    "none": [],
    "stretch": [{"type": "time_stretch", "min_ratio": 0.8, "max_ratio": 1.25}],
    "pitch": [{"type": "pitch_shift", "min_semitones": -2.5, "max_semitones": 2.5}],
    "noise": [{"type": "add_noise", "min_snr_db": 10.0, "max_snr_db": 30.0}],
    "gain": [{"type": "gain", "min_gain_db": -6.0, "max_gain_db": 6.0}],
    "shift": [{"type": "shift", "min_seconds": -0.5, "max_seconds": 0.5}],
    # the recipe's own discrete deformations: rubberband -t {1/1.23 .. 1/0.81} -p {-2,-1,1,2}
    "recipe": [
        {"type": "time_stretch", "choices": [0.81, 0.93, 1.07, 1.23]},
        {"type": "pitch_shift", "choices": [-2.0, -1.0, 1.0, 2.0]},
    ],
}
_SPEC_MASKS = [{"type": "time_mask", "max_width": 16, "n_masks": 2}, {"type": "frequency_mask", "max_width": 12, "n_masks": 2}]
#: Named policies accepted by :func:`policy_from_arg` (plus any "a+b" combination of :data:`SETS`).
POLICY_NAMES = ("none", "stretch", "pitch", "stretch+pitch", "recipe", "noise", "gain", "shift", "specaugment", "full", "mixup", "stretch+pitch+mixup", "recipe+mixup")
_COPIES = {"recipe": 4}
#: Beta(alpha, alpha) of mixup in the named policies ("mixup", "stretch+pitch+mixup", ...).
MIXUP_ALPHA = 0.2


def _set_specs(name: str) -> list[dict]:
    """Transform specs of a set name such as "stretch+pitch"."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"an augmentation set must be a name, got {name!r}")
    specs: list[dict] = []
    for part in name.strip().split("+"):
        part = part.strip()
        if part not in SETS:
            raise ParameterError(f"unknown augmentation set {part!r}; choose from {', '.join(SETS)} (joined with '+')")
        specs.extend(dict(s) for s in SETS[part])
    return specs


class Policy:
    """How training clips are augmented.

    Parameters
    ----------
    name : str
    copies : int
        Augmented copies rendered per training clip (0..32).
    transforms : str or list of dict
        The global chain: a set name ("stretch+pitch") or transform specs.
    per_class : dict {label: str or list of dict}, optional
        Class-conditional chains overriding the global one ("none" or [] gives that class no copies).
    spec : list of dict, optional
        Spectrogram masks for training to apply on the fly (see :func:`spec_augment`).
    mixup : float
        mixup (Zhang et al. 2018) during training: every training example is blended with another
        one, ``lam * x_i + (1 - lam) * x_j`` and the same for the one-hot targets, with
        ``lam ~ Beta(mixup, mixup)`` (0, the default, is off; at most 10), drawn afresh every epoch
        (the YAMNet head gathers its frames once, so there it is drawn once). See :func:`mix_batch`.
    """

    def __init__(self, *, name: str = "custom", copies: int = 2, transforms: str | list[dict] = "none",
                 per_class: dict[str, str | list[dict]] | None = None, spec: list[dict] | None = None,
                 mixup: float = 0.0) -> None:
        _check(isinstance(name, str), f"policy name must be a string, got {name!r}")
        _check(isinstance(copies, (int, np.integer)) and not isinstance(copies, bool) and 0 <= copies <= 32,
               f"copies must be an integer within 0..32, got {copies!r}")
        self.name, self.copies = name, int(copies)
        self.mixup = _number(mixup, "mixup")
        _check(0.0 <= self.mixup <= 10.0, f"mixup must be within 0..10 (the Beta distribution's alpha; 0 is off), got {mixup!r}")
        self.transforms = transforms
        self.per_class = dict(per_class) if per_class else None
        self.spec = list(spec) if spec else []
        self._global = self._build(transforms, where="transforms")
        self._by_class = {label: self._build(v, where=f"per_class[{label!r}]") for label, v in (self.per_class or {}).items()}
        masks = [transform_from_dict(s) for s in self.spec]
        for m in masks:
            _check(m.kind == "spec", f"spec must hold spectrogram masks only, got {m.name!r}")
        self._spec = Compose(masks) if masks else None

    @staticmethod
    def _build(value: str | list[dict], *, where: str) -> Compose | None:
        specs = _set_specs(value) if isinstance(value, str) else value
        if not isinstance(specs, list):
            raise ParameterError(f"policy {where} must be a set name or a list of transforms, got {value!r}")
        ts = [transform_from_dict(s) for s in specs]
        for t in ts:
            _check(t.kind == "wave", f"policy {where} holds {t.name!r}, a spectrogram mask: put it under 'spec'")
        return Compose(ts) if ts else None

    def compose_for(self, label: str) -> Compose | None:
        """The waveform chain for clips of ``label`` (None: no copies for that class)."""
        if self.copies == 0:
            return None
        if self.per_class is not None and label in self._by_class:
            return self._by_class[label]
        return self._global

    def spec_compose(self) -> Compose | None:
        """The spectrogram masks (None when the policy has none)."""
        return self._spec

    @property
    def is_identity(self) -> bool:
        """True when the policy neither renders copies, masks spectrograms nor mixes examples."""
        renders = self.copies > 0 and (self._global is not None or any(c is not None for c in self._by_class.values()))
        return not renders and self._spec is None and self.mixup == 0

    @property
    def engine(self) -> str | None:
        """The stretch/shift engine this policy will use, or None when it uses neither."""
        chains = [self._global, *self._by_class.values()]
        if any(c is not None and any(isinstance(t, (TimeStretch, PitchShift)) for t in c.transforms) for c in chains):
            return engine()
        return None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name, "copies": self.copies, "transforms": self.transforms}
        if self.per_class is not None:
            d["per_class"] = dict(self.per_class)
        if self.spec:
            d["spec"] = list(self.spec)
        if self.mixup:
            d["mixup"] = self.mixup
        return json.loads(json.dumps(d))  # a deep, JSON-clean copy

    @classmethod
    def from_dict(cls, d: dict | None) -> Policy:
        """A policy from its dict (None or {} is the "none" policy)."""
        if d is None or d == {}:
            return cls(name="none", copies=0)
        if not isinstance(d, dict):
            raise ParameterError(f"an augmentation policy must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {"name", "copies", "transforms", "per_class", "spec", "mixup"})
        if unknown:
            raise ParameterError(f"unknown augmentation policy field(s): {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def named(cls, name: str, *, copies: int | None = None) -> Policy:
        """A named policy: "none", "stretch", "pitch", "stretch+pitch", "recipe", "noise", "gain",
        "shift", "specaugment" (masks only), "full" (stretch+pitch+noise+shift with masks), or any
        "+"-joined combination of :data:`SETS`; a "+mixup" part adds mixup (:data:`MIXUP_ALPHA`) to
        any of them, and "mixup" alone renders no copies."""
        name = name.strip()
        parts = [p.strip() for p in name.split("+")]
        if "mixup" in parts and name != "mixup":
            rest = "+".join(p for p in parts if p != "mixup")
            base = cls.named(rest, copies=copies) if rest else cls(name="none", copies=0)
            return cls(**{**base.to_dict(), "name": name, "mixup": MIXUP_ALPHA})
        if name == "mixup":
            return cls(name=name, copies=0, mixup=MIXUP_ALPHA)
        if name == "none":
            return cls(name="none", copies=0)
        if name == "specaugment":
            return cls(name=name, copies=0, spec=_SPEC_MASKS)
        if name == "full":
            return cls(name=name, copies=2 if copies is None else copies, transforms="stretch+pitch+noise+shift", spec=_SPEC_MASKS)
        _set_specs(name)  # validates
        return cls(name=name, copies=_COPIES.get(name, 2) if copies is None else copies, transforms=name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Policy({json.dumps(self.to_dict(), sort_keys=True)})"


def policy_from_arg(s: str | os.PathLike | dict | Policy | None) -> Policy:
    """A policy from a CLI argument: a name (see :meth:`Policy.named`), a JSON file holding a
    policy (or a run's config.json, whose ``train.augment`` is used), a dict, or None ("none")."""
    if s is None:
        return Policy.named("none")
    if isinstance(s, Policy):
        return s
    if isinstance(s, dict):
        return Policy.from_dict(s)
    text = os.fspath(s).strip()
    path = Path(text).expanduser()
    if text.endswith(".json") or path.is_file():
        if not path.is_file():
            raise ParameterError(f"augmentation policy file {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"{path}: not a JSON augmentation policy ({exc})") from None
        if isinstance(data, dict) and isinstance(data.get("train"), dict) and "augment" in data["train"]:
            data = data["train"]["augment"]
        return Policy.from_dict(data)
    try:
        return Policy.named(text)
    except ParameterError:
        raise ParameterError(
            f"unknown augmentation policy {text!r}; use one of {', '.join(POLICY_NAMES)}, a '+' combination of "
            f"{', '.join(k for k in SETS if k != 'none')}, or a JSON file"
        ) from None


def spec_augment(W: np.ndarray, policy: Policy | dict | None, *, rng: np.random.Generator | int) -> np.ndarray:
    """Apply a policy's spectrogram masks to each window independently.

    Parameters
    ----------
    W : np.ndarray, shape (n_windows, n_mels, frames) or (n_mels, frames)
    policy : Policy, dict or None
    rng : np.random.Generator or int

    Returns
    -------
    np.ndarray, same shape (a new array; ``W`` itself when the policy has no masks)
    """
    pol = policy if isinstance(policy, Policy) else Policy.from_dict(policy)
    masks = pol.spec_compose()
    if masks is None:
        return W
    rng = _as_rng(rng)
    if W.ndim == 2:
        return masks(W, 0, rng=rng)
    return np.stack([masks(w, 0, rng=rng) for w in W]) if len(W) else W


def mixup_draw(n: int, alpha: float, *, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """mixup's random part for ``n`` examples: ``(lam, partners)``.

    ``lam_i ~ Beta(alpha, alpha)`` folded to ``max(lam, 1 - lam)`` (each example keeps the larger
    share of itself), float32; ``partners`` a random permutation of ``range(n)``.
    """
    _check(alpha > 0, f"mixup alpha must be > 0, got {alpha!r}")
    rng = _as_rng(rng)
    lam = rng.beta(alpha, alpha, size=n).astype(np.float32)
    return np.maximum(lam, 1 - lam), rng.permutation(n)


def mix_rows(X: np.ndarray, Y: np.ndarray, lam: np.ndarray, partners: np.ndarray, rows: slice | np.ndarray = slice(None),
             *, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Blend ``rows`` of (X, Y, weights) with their partners: ``lam * x_i + (1 - lam) * x_p(i)``.

    Only the rows asked for are computed, so training can blend batch by batch from one draw per
    epoch (:func:`mixup_draw`) without a second copy of the epoch's examples.
    """
    _check(len(X) == len(Y) and Y.ndim == 2, "mixup needs X (n, ...) and targets Y (n, n_classes)")
    lam, p = lam[rows], partners[rows]
    lx = lam.reshape((len(lam),) + (1,) * (X.ndim - 1))
    Xm = lx * X[rows] + (1 - lx) * X[p]
    Ym = lam[:, None] * Y[rows] + (1 - lam[:, None]) * Y[p]
    wm = None if weights is None else lam * weights[rows] + (1 - lam) * weights[p]
    return Xm.astype(np.float32, copy=False), Ym.astype(np.float32, copy=False), wm


def mix_batch(X: np.ndarray, Y: np.ndarray, alpha: float, *, rng: np.random.Generator | int,
              weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """mixup: blend every example with a randomly drawn partner from the same set
    (:func:`mixup_draw`, then :func:`mix_rows` on all rows); targets and sample weights are blended
    with the same ``lam_i``.

    Parameters
    ----------
    X : np.ndarray, shape (n, ...)
        Examples (log-mel windows, embeddings, ...).
    Y : np.ndarray, shape (n, n_classes)
        One-hot (or soft) targets.
    alpha : float
        > 0.
    rng : np.random.Generator or int
    weights : np.ndarray, shape (n,), optional

    Returns
    -------
    (X, Y, weights) : new arrays (weights None when not given)
    """
    lam, partners = mixup_draw(len(X), alpha, rng=rng)
    return mix_rows(X, Y, lam, partners, weights=weights)


