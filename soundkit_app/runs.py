"""Results page helpers: run reports and histories, metrics tables, confusion and comparison plots,
fixing the labels of misclassified clips, and augmentation studies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from soundkit.errors import SoundkitError
from soundkit_app import changed, home, hosted, optional, page_link, show_errors
from soundkit_app.rendering import fig_png
from soundkit_app.resources import _stamp


def run_stamp(run: Any) -> float:
    """Cache key of a run's files (changes when any of them is rewritten)."""
    return _stamp(run.path)


@st.cache_data(show_spinner=False, max_entries=64)
def _run_report(path: str, stamp: float) -> Any:
    from soundkit.runs import Run

    return Run(Path(path)).load_report()


def run_report(run: Any) -> Any:
    """The run's evaluation Report (None when it has none); ModelError when unreadable."""
    return _run_report(str(run.path), _stamp(run.path))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_history(path: str, stamp: float) -> list[dict[str, float]]:
    from soundkit.runs import Run

    return Run(Path(path)).load_history()


def run_history(run: Any) -> list[dict[str, float]]:
    """Per-epoch metrics of a finished run ([] when none)."""
    try:
        return _run_history(str(run.path), _stamp(run.path))
    except SoundkitError:
        return []


def metrics_table(report: Any) -> Any:
    """DataFrame: class, accuracy, precision, recall, f1, support (one row per class)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "class": report.labels,
            "accuracy": [report.per_class_accuracy.get(c, 0.0) for c in report.labels],
            "precision": [report.precision.get(c, 0.0) for c in report.labels],
            "recall": [report.recall.get(c, 0.0) for c in report.labels],
            "f1": [report.f1.get(c, 0.0) for c in report.labels],
            "support": [report.support.get(c, 0) for c in report.labels],
        }
    )


def compare_reports(a: Any, b: Any, *, name_a: str, name_b: str) -> Any:
    """DataFrame comparing per-class accuracy of two reports on the classes they share."""
    import pandas as pd

    shared = [c for c in a.labels if c in set(b.labels)]
    rows = [
        {
            "class": c,
            name_a: a.per_class_accuracy.get(c, 0.0),
            name_b: b.per_class_accuracy.get(c, 0.0),
            "difference": a.per_class_accuracy.get(c, 0.0) - b.per_class_accuracy.get(c, 0.0),
        }
        for c in shared
    ]
    return pd.DataFrame(rows, columns=["class", name_a, name_b, "difference"])


def compare_png(path_a: str, path_b: str, name_a: str, name_b: str) -> bytes | None:
    """PNG: per-class accuracy of two runs side by side (soundkit.plots), cached per run state."""
    return _compare_png(path_a, path_b, name_a, name_b, _stamp(Path(path_a)), _stamp(Path(path_b)))


@st.cache_data(show_spinner=False, max_entries=32)
def _compare_png(path_a: str, path_b: str, name_a: str, name_b: str, stamp_a: float, stamp_b: float) -> bytes | None:
    plots = optional("plots")
    if plots is None:
        return None
    from soundkit.runs import Run

    a, b = Run(Path(path_a)).load_report(), Run(Path(path_b)).load_report()
    return fig_png(plots.per_class_accuracy(a, b, names=(name_a, name_b)))


@st.cache_data(show_spinner=False, max_entries=32)
def confusion_png(path: str, stamp: float, normalize: bool) -> bytes:
    """PNG of the run's confusion matrix (soundkit.plots), cached per run and file state."""
    from soundkit import plots
    from soundkit.runs import Run

    report = Run(Path(path)).load_report()
    return fig_png(plots.confusion_matrix(report, normalize=normalize))


def policy_name(policy: dict | None) -> str:
    """A short name for an augmentation policy dict ("none" when absent)."""
    if not policy:
        return "none"
    if isinstance(policy, dict) and policy.get("name"):
        return str(policy["name"])
    transforms = policy.get("transforms") if isinstance(policy, dict) else None
    if transforms:
        return "+".join(str(t.get("name", t.get("type", "?"))).lower() for t in transforms if isinstance(t, dict))
    return "custom"


def store_has(store: Any, clip_id: Any) -> bool:
    """True when ``clip_id`` names a live clip of the store."""
    try:
        return not store.get(int(clip_id)).deleted
    except (TypeError, ValueError, SoundkitError):
        return False


def relabel(store: Any, ids: list[Any], label: str) -> int:
    """Set the label of store clips named by (string) ids."""
    return store.set_label([int(i) for i in ids], label)


def clip_bytes(item: dict, store: Any | None) -> bytes | None:
    """Audio bytes of a report's misclassified entry: from the store by id, else from its path."""
    if store is not None and store_has(store, item.get("id")):
        try:
            return store.read_bytes(int(item["id"]))
        except SoundkitError:
            pass
    path = Path(item.get("path") or "")
    if hosted() and not path.resolve().is_relative_to(home()):
        return None  # hosted mode serves files of this workspace only
    return path.read_bytes() if path.is_file() else None


def delete_run_button(run: Any) -> None:
    """Results page: delete a run (after a confirmation tick); frees a place under the run quota."""
    from soundkit_app import workspace

    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    sure = c2.checkbox(f"Yes, delete {run.name} for good", key=f"results_delete_sure_{run.name}")
    if c1.button("Delete this run", key="results_delete", icon=":material/delete:", disabled=not sure):
        with show_errors(stop=False):
            workspace.delete_run(home(), run.path)
            st.toast(f"Deleted {run.name}", icon=":material/delete:")
            changed()


# -- augmentation studies (python -m soundkit augment-study writes runs/<name>/study.json) -----------------


def list_studies() -> list[Path]:
    """Folders under HOME/runs holding a study.json, newest first."""
    root = home() / "runs"
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob("*/study.json")]
    return sorted(found, key=lambda p: (p / "study.json").stat().st_mtime, reverse=True)


@st.cache_data(show_spinner=False, max_entries=16)
def _study(path: str, stamp: float) -> dict:
    import json

    try:
        data = json.loads((Path(path) / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SoundkitError(f"{path}/study.json: unreadable ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sets"), dict) or not isinstance(data.get("table"), list):
        raise SoundkitError(f"{path}/study.json: not an augmentation study (no sets and table)")
    return data


def load_study(folder: Path) -> dict:
    """A study's result (soundkit.augment_study.study's dict); SoundkitError when unreadable."""
    return _study(str(folder), (folder / "study.json").stat().st_mtime)


def study_columns(result: dict) -> list[str]:
    """The study's columns: each set, then "class_conditional" when it was evaluated."""
    return [*result["sets"], *(["class_conditional"] if result.get("class_conditional") else [])]


def study_table(result: dict) -> Any:
    """One row per class: accuracy under each set (pooled over test folds) and the chosen set."""
    import pandas as pd

    cols = study_columns(result)
    rows = [{"class": r["label"], **{c: r.get(c) for c in cols}, "chosen": r.get("chosen")} for r in result["table"]]
    return pd.DataFrame(rows, columns=["class", *cols, "chosen"])


def study_means(result: dict) -> dict[str, tuple[float, float]]:
    """{column: (mean accuracy over folds, std)}."""
    out = {name: (s["mean_accuracy"], s["std_accuracy"]) for name, s in result["sets"].items()}
    cc = result.get("class_conditional")
    if cc:
        out["class_conditional"] = (cc["mean_accuracy"], cc["std_accuracy"])
    return out


def studies_section(studies: list[Path]) -> None:
    """Results page: an augmentation study's per-class table, and its class-conditional policy to train with."""
    from soundkit_app.training import save_policy

    by_path = {str(p): p for p in studies}
    chosen = st.selectbox("Study", list(by_path), format_func=lambda p: Path(p).name, key="results_study")
    with show_errors():
        result = load_study(by_path[chosen])
    means = study_means(result)
    base = means.get("none", (None, None))[0]
    for col, (name, (mean, std)) in zip(st.columns(len(means)), means.items(), strict=True):
        delta = None if base is None or name == "none" else f"{100 * (mean - base):+.1f} points vs none"
        col.metric(name.replace("_", "-"), f"{mean:.1%}", delta=delta, border=True, help=f"± {std:.1%} over folds")
    st.caption(
        f"{len(result['table'])} classes · test folds {', '.join(map(str, result.get('folds', [])))} · "
        f"{result.get('copies', '?')} augmented copies per training clip · engine: {result.get('engine') or '-'}. "
        "Per-class accuracy is pooled over the test folds; the class-conditional policy gives each class the set "
        "that did best for it on the other folds."
    )
    table = study_table(result)
    st.dataframe(
        table,
        hide_index=True,
        key="results_study_table",
        column_config={
            c: st.column_config.ProgressColumn(c.replace("_", "-"), min_value=0.0, max_value=1.0, format="percent")
            for c in study_columns(result)
        },
    )
    policy = result.get("policy")
    if policy and st.button("Train with this class-conditional policy", key="results_study_policy",
                            icon=":material/tune:"):
        with show_errors(stop=False):
            saved = save_policy({**policy, "name": f"class-conditional-{Path(chosen).name}"})
            st.success(f"Saved as policy **{saved.stem}**: choose it under Augmentation on the Train page.",
                       icon=":material/check:")
            page_link(st, "train", label="Go to Train", icon=":material/model_training:")


# -- honest estimates: intervals, cross-validated estimates, the clips tested ------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def _run_cv(path: str, stamp: float) -> dict | None:
    import json

    f = Path(path) / "cv.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SoundkitError(f"{f}: unreadable ({exc})") from None
    return data if isinstance(data, dict) and "accuracy_ci" in data else None


def run_cv(run: Any) -> dict | None:
    """The cross-validated estimate a ``train --cv-first`` run saved (cv.json), else None."""
    return _run_cv(str(run.path), _stamp(run.path))


def accuracy_text(accuracy: float, n: int, ci: Any = None) -> str:
    """'87.5% (95% CI 76-94%, 40 test clips)'."""
    from soundkit.stats import format_accuracy

    return format_accuracy(float(accuracy), int(n), ci=tuple(ci) if ci is not None else None)


def cv_text(cv: dict) -> str:
    """The pooled cross-validated accuracy with its interval and fold spread, in words."""
    folds = cv.get("fold_accuracy") or {}
    spread = cv.get("fold_spread") or {}
    text = accuracy_text(cv["pooled_accuracy"], cv["n_test"], cv["accuracy_ci"])
    if spread:
        text += f"; folds {100 * spread['min']:.0f}-{100 * spread['max']:.0f}% over {len(folds)} folds"
    return text


def _display_names(store: Any, ids: list[Any]) -> dict[str, str]:
    """{store id: the clip's display name} for the ids that are store clips."""
    if store is None:
        return {}
    out = {}
    for i in ids:
        try:
            out[str(i)] = store.get(int(i)).name
        except (TypeError, ValueError, SoundkitError):
            continue
    return out


def tested_clips_table(report: Any, cv: dict | None = None, store: Any = None) -> Any:
    """DataFrame of every clip tested: (fold,) name, true, predicted, probability, correct.

    With ``cv`` (cv.json), the cross-validation's clips with the fold each was tested in; else the
    report's own clips (older runs without ``clips`` give an empty table)."""
    import pandas as pd

    rows = cv.get("clips", []) if cv else report.clips
    names = _display_names(store, [r.get("id") for r in rows])  # store clips: their names, not hash paths
    cols = (["fold"] if cv else []) + ["clip", "true", "predicted", "probability", "correct"]
    table = pd.DataFrame(
        [
            {
                **({"fold": r.get("fold")} if cv else {}),
                "clip": names.get(str(r.get("id"))) or Path(str(r.get("path") or r.get("id"))).name,
                "true": r["true"],
                "predicted": r["predicted"],
                "probability": r.get("probability"),
                "correct": r["true"] == r["predicted"],
            }
            for r in rows
        ],
        columns=cols,
    )
    return table


def label_choices(report: Any, item: dict) -> list[str]:
    """The options for fixing a misclassified clip: keep as is, then the predicted and the other
    top labels, then every other label of the run."""
    keep = ["keep as is"]
    first = [item["predicted"], *[t["label"] for t in item.get("top", [])]]
    ordered = list(dict.fromkeys([*first, *report.labels]))
    return keep + [lab for lab in ordered if lab != item["true"]]


def store_label(store: Any, clip_id: Any) -> str | None:
    """The clip's current label in the store (None when unlabelled or not there)."""
    try:
        return store.get(int(clip_id)).label
    except (TypeError, ValueError, SoundkitError):
        return None
