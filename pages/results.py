"""Results: per-class accuracy, confusion matrix, metrics, misclassified clips, run comparison, and
augmentation studies."""

import pandas as pd
import streamlit as st

import soundkit_app as app
from soundkit_app import rendering, resources
from soundkit_app import runs as ui

app.header("Results", "How well each trained model does, class by class, on clips it never saw in training.")

studies = ui.list_studies()
if studies:
    view = st.segmented_control(
        "Show", ["Trained runs", "Augmentation studies"], default="Trained runs", key="results_view",
        help="Augmentation studies come from `python -m soundkit augment-study`: per-class accuracy for each set.",
    )  # fmt: skip
    if view == "Augmentation studies":
        ui.studies_section(studies)
        st.stop()

runs = resources.list_runs()
if not runs:
    st.info("No finished runs yet. Train a model on the **Train** page.", icon=":material/info:")
    app.page_link(st, "train", label="Go to Train", icon=":material/model_training:")
    st.stop()

runs, broken = resources.good_runs_first(runs)
resources.broken_note(broken)
by_path = {str(r.path): r for r in runs}
path = st.selectbox(
    "Run", list(by_path), format_func=lambda p: resources.run_title(by_path[p]), key="results_run", help="Newest first."
)
run = by_path[path]
info = resources.run_info(run)
if "error" in info:
    st.error(app.public(info["error"]), icon=":material/error:")
    ui.delete_run_button(run)
    st.stop()
with app.show_errors():
    report = ui.run_report(run)
if report is None:
    st.info("This run has no evaluation report (it was trained without held-out clips).", icon=":material/info:")
    st.stop()

meta = info.get("meta") or {}
with app.show_errors(stop=False):
    cv = ui.run_cv(run)
c1, c2, c3, c4, c5 = st.columns(5)
if cv is not None:
    c1.metric("CV accuracy", f"{cv['pooled_accuracy']:.1%}", border=True, help=ui.cv_text(cv))
    c2.metric("Clips tested", cv["n_test"], border=True, help="By cross-validation: every clip tested once.")
else:
    c1.metric("Accuracy", f"{report.accuracy:.1%}", border=True, help=ui.accuracy_text(report.accuracy, report.n_test))
    c2.metric("Test clips", report.n_test, border=True)
c3.metric("Model", info.get("family", "?"), border=True)
c4.metric("Augmentation", ui.policy_name(info.get("augment")), border=True)
c5.metric("Test fold", "CV" if cv is not None else "validation" if info.get("test_fold") is None
          else info["test_fold"], border=True,
          help=f"{len(cv.get('fold_accuracy', {}))}-fold cross-validation: every fold in turn" if cv is not None else None)
if cv is not None:
    st.markdown(
        f"**Estimated accuracy: {ui.cv_text(cv)}**, by {len(cv.get('fold_accuracy', {}))}-fold cross-validation "
        "grouped by source recording: every clip was tested once, by a model that had not seen it, and the tabs "
        f"below show those predictions. The model you keep was then trained on all {meta.get('n_train', '?')} clips."
    )
    for warning in cv.get("warnings", []):
        st.warning(warning, icon=":material/warning:")
else:
    where = "the validation clips" if info.get("test_fold") is None else f"held-out fold {info['test_fold']}"
    st.markdown(f"**Accuracy on {where}: {ui.accuracy_text(report.accuracy, report.n_test)}**")
for note in report.notes:
    st.warning(note, icon=":material/warning:")
st.caption(
    f"Created {info['created']} · {len(report.labels)} classes · trained on {meta.get('n_train', '?')} clips"
    + (f" in {meta['seconds']:.0f} s" if isinstance(meta.get("seconds"), (int, float)) else "")
    + (f" · augmentation engine: {meta['augment_engine']}" if meta.get("augment_engine") else "")
    + " · the 95% interval (Wilson) says how far the true accuracy may lie from this estimate"
)

tab_class, tab_cm, tab_wrong, tab_tested, tab_curves, tab_compare = st.tabs(
    ["Per class", "Confusion matrix", "Misclassified", "Tested clips", "Training curves", "Compare runs"]
)

with tab_class:
    table = ui.metrics_table(report)
    st.subheader("Per-class accuracy")
    st.bar_chart(table, x="class", y="accuracy", horizontal=True, sort="-accuracy", height=max(240, 28 * len(table)))
    st.subheader("Precision, recall, F1")
    st.dataframe(
        table,
        hide_index=True,
        key="results_metrics",
        width="stretch",
        column_config={
            "class": st.column_config.TextColumn("Class"),
            **{
                c: st.column_config.ProgressColumn(c.capitalize() if c != "f1" else "F1", min_value=0.0,
                                                   max_value=1.0, format="%.2f", width="small")
                for c in ("accuracy", "precision", "recall", "f1")
            },
            "support": st.column_config.NumberColumn("Test clips", width="small"),
        },
    )

with tab_cm:
    plots = app.optional("plots")
    if plots is None or not hasattr(plots, "confusion_matrix"):
        st.info("The confusion-matrix plot is not available in this build yet.", icon=":material/construction:")
        st.dataframe(
            pd.DataFrame(report.confusion_matrix, index=report.labels, columns=report.labels), key="results_cm_table"
        )
    else:
        normalize = st.toggle("Show fractions of each true class", value=False, key="results_cm_normalize")
        cm_col, _ = st.columns([3, 2] if len(report.labels) <= 12 else [1, 0.001])
        cm_col.image(ui.confusion_png(path, ui.run_stamp(run), normalize), width="stretch")
        cm_col.caption("Rows: true class. Columns: predicted class.")

with tab_wrong:
    wrong = report.misclassified
    if not wrong:
        st.success("Every test clip was classified correctly.", icon=":material/check_circle:")
    else:
        st.caption(
            f"{len(wrong)} of {report.n_test} test clips were misclassified. Listen, and fix a wrong label in one click "
            "(the next training run uses it)."
        )
        store = resources.store_or_none()
        limit = len(wrong)
        if len(wrong) > 10:
            limit = st.slider("Show", 10, len(wrong), min(20, len(wrong)), step=5, key="results_wrong_limit")
        for i, item in enumerate(wrong[: int(limit)]):
            with st.container(border=True):
                a, b, c = st.columns([3, 3, 2])
                top = ", ".join(f"{t['label']} {t['probability']:.0%}" for t in item.get("top", [])[:3])
                a.markdown(f"**{item['true']}** heard as **{item['predicted']}**")
                a.caption(top)
                audio_bytes = ui.clip_bytes(item, store)
                if audio_bytes is not None:
                    b.audio(audio_bytes)
                else:
                    b.caption("audio not found")
                clip_id = item.get("id")
                if store is not None and ui.store_has(store, clip_id):
                    now = ui.store_label(store, clip_id)
                    choice = c.selectbox(
                        "Label", ui.label_choices(report, item), key=f"results_fix_{path}_{i}_{clip_id}",
                        help="Keep the label, or give the clip the predicted or any other label.",
                    )  # fmt: skip
                    if c.button("Apply", key=f"results_apply_{path}_{i}_{clip_id}", icon=":material/edit:",
                                disabled=choice == "keep as is" or choice == now):
                        with app.show_errors(stop=False):
                            ui.relabel(store, [clip_id], choice)
                            st.toast(f"Relabelled as {choice}", icon=":material/check:")
                            now = choice
                    if now != item["true"]:
                        c.success(f"Now labelled **{now or 'unlabelled'}**", icon=":material/check:")
                else:
                    c.caption("not in the label store")

with tab_tested:
    tested = ui.tested_clips_table(report, cv, resources.store_or_none())
    if tested.empty:
        st.info("This run's report does not list its test clips (trained before soundkit recorded them).",
                icon=":material/info:")
    else:
        what = "tested by cross-validation, each in one fold" if cv is not None else "in the test set"
        st.caption(f"The {len(tested)} clips {what}; {int(tested['correct'].sum())} were classified correctly.")
        st.dataframe(
            tested, hide_index=True, key="results_tested", width="stretch",
            column_config={"probability": st.column_config.NumberColumn("Probability", format="%.2f"),
                           "correct": st.column_config.CheckboxColumn("Correct")},
        )  # fmt: skip

with tab_curves:
    history = ui.run_history(run)
    if not history:
        st.info("No training history recorded for this run.", icon=":material/info:")
    else:
        h = pd.DataFrame(history).set_index("epoch")
        left, right = st.columns(2)
        left.subheader("Loss")
        left.line_chart(h[[c for c in ("loss", "val_loss") if c in h]], x_label="epoch")
        right.subheader("Accuracy")
        right.line_chart(h[[c for c in ("accuracy", "val_accuracy") if c in h]], x_label="epoch")

with tab_compare:
    others = [p for p in by_path if p != path and by_path[p].name not in broken]
    if not others:
        st.info(
            "Train a second run (for example with another augmentation policy) to compare them class by class.",
            icon=":material/info:",
        )
    else:
        other_path = st.selectbox(
            "Compare with", others, format_func=lambda p: resources.run_title(by_path[p]), key="results_compare_run"
        )
        with app.show_errors(stop=False):
            other = ui.run_report(by_path[other_path])
            if other is None:
                st.info("That run has no evaluation report.", icon=":material/info:")
            else:
                name_a = f"{run.name} ({ui.policy_name(info.get('augment'))})"
                other_info = resources.run_info(by_path[other_path])
                name_b = f"{by_path[other_path].name} ({ui.policy_name(other_info.get('augment'))})"
                cmp = ui.compare_reports(report, other, name_a=name_a, name_b=name_b)
                st.caption(
                    f"Per-class accuracy of **{name_a}** minus **{name_b}**: positive bars are classes the selected run "
                    "gets right more often."
                )
                chart, _ = st.columns([3, 1])
                rendering.image(chart, ui.compare_png(path, other_path, name_a, name_b))
                st.dataframe(
                    cmp, hide_index=True, key="results_compare_table", width="stretch",
                    column_config={"difference": st.column_config.NumberColumn("Difference", format="%+.2f")},
                )

st.divider()
st.subheader("Download")
d1, d2, d3 = st.columns(3)
d1.download_button(
    "Model (.keras)", data=lambda: run.model_path.read_bytes(), file_name=f"{run.name}.keras",
    mime="application/octet-stream", key="results_dl_model", icon=":material/download:",
)  # fmt: skip
if run.tflite_path.is_file():
    d2.download_button(
        "Model (.tflite)", data=lambda: run.tflite_path.read_bytes(), file_name=f"{run.name}.tflite",
        mime="application/octet-stream", key="results_dl_tflite", icon=":material/download:",
    )  # fmt: skip
d3.download_button(
    "Report (.json)", data=run.report_path.read_bytes(), file_name=f"{run.name}-report.json",
    mime="application/json", key="results_dl_report", icon=":material/download:",
)  # fmt: skip
with st.expander("Delete this run", icon=":material/delete:"):
    ui.delete_run_button(run)
