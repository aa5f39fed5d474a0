"""Train page helpers: model families, test folds, augmentation policies, launching a background
training job and the panels that watch it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from soundkit_app import home, hosted, optional, page_link, public

#: Model families offered on the Train page, in this order.
FAMILY_TITLES = {
    "cnn": "CNN on log-mel windows (the recipe)",
    "crnn": "CRNN on log-mel windows (convolutions, then a GRU over time)",
    "inception": "Inception V3 transfer (ImageNet weights)",
    "yamnet": "YAMNet embeddings + small head (AudioSet)",
}


def model_families() -> dict[str, str]:
    """{family: title} of the model families this build has."""
    import importlib.util

    from soundkit.config import MODEL_FAMILIES
    from soundkit_app import workspace

    s = workspace.settings()
    return {
        f: FAMILY_TITLES.get(f, f)
        for f in MODEL_FAMILIES
        if importlib.util.find_spec(f"soundkit.models.{f}") is not None and (not s.hosted or f in s.families)
    }


#: Where the Train page may take its data from.
DATA_STORE = "The label store"
DATA_FOLDER = "A dataset folder on this server"


def data_sources() -> list[str]:
    """The Train page's data choices: the label store, and (local mode only) a folder on the server."""
    return [DATA_STORE] if hosted() else [DATA_STORE, DATA_FOLDER]


def max_epochs() -> int:
    """The most epochs the Train page offers (the server's limit in hosted mode)."""
    from soundkit_app import workspace

    s = workspace.settings()
    return min(500, s.max_epochs) if s.hosted else 500


def trains_on_spectrograms(model: str) -> bool:
    """Whether the family trains on log-mel windows (so random time shift applies)."""
    from soundkit.models import family

    return family(model).KIND == "logmel"


def default_epochs() -> int:
    """The recipe's number of epochs (TrainConfig's default)."""
    from soundkit.config import TrainConfig

    return TrainConfig().epochs


def test_fold_choices() -> dict[str, str]:
    """{--test-fold value: title} for the Train page ("auto" leaves the CLI's default)."""
    choices = {
        "auto": "Last fold",
        "0": "None (validation clips)",
    }
    choices.update({str(k): f"Fold {k}" for k in range(1, 6)})
    return choices


def policies_dir() -> Path:
    """Where the Augment page saves training policies (HOME/policies/<name>.json)."""
    return home() / "policies"


def save_policy(policy: dict) -> Path:
    """Write a policy dict as HOME/policies/<name>.json (atomically) and return the path."""
    import json
    import re

    from soundkit.runs import write_atomic

    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(policy.get("name") or "custom")).strip("-.") or "custom"
    return write_atomic(policies_dir() / f"{name}.json", json.dumps(policy, indent=2) + "\n")


def policy_choices() -> dict[str, str]:
    """{--augment value: title}: the named policies, then the ones saved on the Augment page."""
    augment = optional("augment")
    names = list(getattr(augment, "POLICY_NAMES", ("none",))) if augment is not None else ["none"]
    choices = {n: n for n in names}
    d = policies_dir()
    if augment is not None and d.is_dir():
        for p in sorted(d.glob("*.json")):
            choices[str(p)] = f"saved: {p.stem}"
    return choices


@st.cache_data(show_spinner=False, max_entries=16, ttl=60)
def folder_counts(folder: str) -> dict[str, int]:
    """{label: clips} of a dataset folder on the server (DatasetError when it is not one)."""
    from soundkit import datasets

    return datasets.load(folder).counts()


def launch_training(
    dataset: str,
    *,
    classes: list[str] | None,
    model: str,
    epochs: int,
    test_fold: str,
    augment: str,
    limit_per_class: int | None = None,
    name: str = "",
    random_shift: bool = True,
    wide: bool = False,
    cv_first: bool = False,
    background: bool = False,
) -> Path:
    """Start ``python -m soundkit train`` in the background; the run directory it will write.

    Raises JobError when a job of this data directory is running, ParameterError for a bad name.
    """
    import re
    import time

    from soundkit import jobs
    from soundkit.errors import ParameterError

    name = name.strip() or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,79}", name):
        raise ParameterError(f"run name {name!r} may hold letters, digits and _ . + - only (up to 80 characters)")
    args = [dataset, "--model", model, "--epochs", str(epochs)]
    if classes:
        args += ["--labels", ",".join(classes)]
    if cv_first:  # small data: k-fold estimate first, then the final model on all clips
        args += ["--cv-first"]
    elif test_fold != "auto":
        args += ["--test-fold", test_fold]
    if augment and augment != "none":
        args += ["--augment", augment]
    if limit_per_class:
        args += ["--limit-per-class", str(limit_per_class)]
    if background:  # a _background_ class of silence/noise clips soundkit makes
        args += ["--background"]
    if not random_shift and trains_on_spectrograms(model):
        args += ["--crops", "fixed"]
    if wide and model == "cnn":
        from soundkit.models.cnn import WIDE_FILTERS

        args += ["--filters", ",".join(map(str, WIDE_FILTERS))]
    run_dir = home() / "runs" / name
    from soundkit_app import workspace

    s = workspace.settings()
    if s.hosted:
        if dataset != str(home()):
            raise ParameterError("in hosted mode training uses your workspace's label store only")
        if epochs > s.max_epochs:
            raise ParameterError(f"epochs {epochs} is more than this server's limit of {s.max_epochs}")
        if model not in s.families:
            raise ParameterError(f"model family {model!r} is not offered on this server")
        workspace.submit_training(home(), args, run_dir, s=s)
    else:
        jobs.start_training(home(), args, run_dir)
    return run_dir


def small_data(counts: dict[str, int], classes: list[str]) -> bool:
    """Whether the chosen classes are few enough clips to estimate accuracy by cross-validation
    (soundkit.stats.prefers_cross_validation: fewer than 20 clips in the smallest class)."""
    from soundkit.stats import prefers_cross_validation

    return prefers_cross_validation({c: counts[c] for c in classes if c in counts})


def current_job_dir() -> Path | None:
    """The run directory to show on the Train page: the running job of this data directory (from
    any session), else the last job started in this session. Hosted mode: only this workspace's
    job (queued, running, or the last one), never another visitor's."""
    from soundkit import jobs
    from soundkit_app import workspace

    s = workspace.settings()
    if s.hosted:
        entry = workspace.job_queue(s).latest(home())
        return entry.run_dir if entry is not None else None
    running = jobs.running_job(home())
    if running and running.get("run_dir"):
        return Path(running["run_dir"])
    mine = st.session_state.get("train_run")
    return Path(mine) if mine else None


def queued_entry() -> Any | None:
    """Hosted mode: this workspace's job while it waits in the queue (None otherwise)."""
    from soundkit_app import workspace

    s = workspace.settings()
    if not s.hosted:
        return None
    entry = workspace.job_queue(s).active(home())
    return entry if entry is not None and entry.state == "queued" else None


def job_section() -> None:
    """The Train page's panel for this session's job: waiting in the queue, running, or finished."""
    from soundkit import jobs

    entry = queued_entry()
    if entry is not None:
        st.fragment(job_panel_queued, run_every=2.0)(entry.id)
        return
    job_dir = current_job_dir()
    if job_dir is None:
        return
    status = jobs.read_status(job_dir)
    if status is not None and status.get("state") == "running":
        job_panel_live(str(job_dir))
    elif status is not None:
        job_panel_final(str(job_dir), status)


def job_panel_queued(entry_id: int) -> None:
    """A job waiting for a free training slot: its place in the queue, and a button to leave it."""
    from soundkit_app import workspace

    queue = workspace.job_queue(workspace.settings())
    queue.pump()
    entry = queue.get(entry_id)
    if entry is None or entry.state != "queued":
        st.rerun()  # started (or gone): redraw the whole page
    ahead = queue.ahead(entry_id)
    with st.container(border=True):
        top, button = st.columns([5, 1], vertical_alignment="center")
        if ahead:
            top.markdown(f"**{entry.name}** · waiting: {ahead} job{'s' if ahead != 1 else ''} ahead of yours")
        else:
            top.markdown(f"**{entry.name}** · waiting: yours is next")
        top.caption("Training jobs take turns on this server. It starts by itself; you may leave this page.")
        if button.button("Leave the queue", key="train_leave_queue", icon=":material/close:", width="stretch"):
            queue.cancel(entry_id)
            st.toast(f"Took {entry.name} out of the queue", icon=":material/close:")
            st.rerun()


def _eta(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds < 0:
        return ""
    if seconds < 5:
        return "almost done"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


def _status_curves(status: dict) -> None:
    import pandas as pd

    history = [h for h in status.get("history") or [] if isinstance(h, dict) and "epoch" in h]
    if not history:
        return
    h = pd.DataFrame(history).set_index("epoch")
    left, right = st.columns(2)
    loss = [c for c in ("loss", "val_loss") if c in h]
    acc = [c for c in ("accuracy", "val_accuracy") if c in h]
    if loss:
        left.caption("Loss")
        left.line_chart(h[loss], height=220, x_label="epoch")
    if acc:
        right.caption("Accuracy")
        right.line_chart(h[acc], height=220, x_label="epoch")


@st.fragment(run_every=1.0)
def job_panel_live(run_dir: str) -> None:
    """The running job: progress, stage, ETA, curves and Cancel; polls status.json every second."""
    from soundkit import jobs

    status = jobs.read_status(run_dir)
    if status is None or status.get("state") != "running":
        st.rerun()  # finished: redraw the whole page (the run now shows up everywhere)
    name = Path(run_dir).name
    with st.container(border=True):
        top, button = st.columns([5, 1], vertical_alignment="center")
        top.markdown(f"**Training {name}** · {status.get('stage') or 'starting'}")
        epoch, epochs = status.get("epoch"), status.get("epochs")
        detail = [status.get("message") or ""]
        if epoch and epochs:
            detail.append(f"epoch {epoch}/{epochs}")
        detail.append(_eta(status.get("eta_seconds")))
        st.progress(float(min(max(status.get("progress") or 0.0, 0.0), 1.0)), text=" · ".join(d for d in detail if d))
        if button.button("Cancel", key="train_cancel", icon=":material/stop:", width="stretch"):
            with st.spinner("Stopping..."):
                cancel_job(run_dir)
            st.toast(f"Cancelled {name}", icon=":material/stop:")
            st.rerun()
        _status_curves(status)


def cancel_job(run_dir: str) -> None:
    """Stop this session's job (hosted mode: through the queue, and only a job of this workspace)."""
    from soundkit import jobs
    from soundkit_app import workspace

    s = workspace.settings()
    if not s.hosted:
        jobs.cancel(run_dir)
        return
    queue = workspace.job_queue(s)
    entry = queue.active(home())
    if entry is not None and entry.run_dir == Path(run_dir).resolve():
        queue.cancel(entry.id)


def job_panel_final(run_dir: str, status: dict) -> None:
    """A finished, failed or cancelled job of this session."""
    name = Path(run_dir).name
    state = status.get("state")
    with st.container(border=True):
        if state == "done":
            st.success(f"**{name}** finished: {status.get('message') or 'done'}.", icon=":material/check_circle:")
            l1, l2, _ = st.columns([1, 1, 3])
            page_link(l1, "results", label="See its results", icon=":material/analytics:")
            page_link(l2, "classify", label="Classify with it", icon=":material/graphic_eq:")
        elif state == "cancelled":
            st.warning(f"**{name}** was cancelled.", icon=":material/stop_circle:")
        else:
            st.error(f"**{name}** failed: {public(status.get('message') or 'unknown error')}", icon=":material/error:")
        _status_curves(status)
