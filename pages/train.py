"""Train: pick classes and a model family, launch a background training job, watch it, cancel it."""

import streamlit as st

import soundkit_app as app
from soundkit_app import resources
from soundkit_app import training as ui

app.header("Train", "Train a classifier on the labelled clips. Training runs in the background: switch pages freely.")
jobs = app.need("jobs", "start_training", "read_status", "cancel")

# ------------------------------------------------------------------------------------------- current job
ui.job_section()

# ------------------------------------------------------------------------------------------- new run
st.subheader("New run")
sources = ui.data_sources()
source = st.radio("Data", sources, horizontal=True, key="train_source") if len(sources) > 1 else sources[0]
if source == ui.DATA_STORE:
    store = resources.store()
    counts = {k: v for k, v in store.labels().items() if v > 0}
    dataset_arg = str(app.home())
    if len(counts) < 2:
        st.info(
            "Training needs at least two classes with labelled clips. Add and label clips on the **Label** page.",
            icon=":material/info:",
        )
        app.page_link(st, "label", label="Go to Label", icon=":material/label:")
        st.stop()
else:
    folder = st.text_input("Dataset folder", key="train_folder", placeholder="/data/ESC-10")
    if not folder.strip():
        st.caption("A folder with one sub-folder per class, an ESC-50 release, or a soundkit data directory.")
        st.stop()
    with app.show_errors():
        counts = ui.folder_counts(folder.strip())
    dataset_arg = folder.strip()

classes = st.multiselect(
    "Classes",
    list(counts),
    default=list(counts),
    format_func=lambda c: f"{c} ({counts[c]})",
    key=app.table_key("train_classes", dataset_arg),
    help="Clips per class in brackets. Training needs at least two.",
)
c1, c2, c3 = st.columns(3)
families = ui.model_families()
family = c1.selectbox("Model family", list(families), format_func=families.get, key="train_model")
epochs = c2.number_input(
    "Epochs", 1, ui.max_epochs(), min(ui.default_epochs(), ui.max_epochs()), key="train_epochs",
    help="At most; training keeps the best epoch.",
)
estimate_cv = st.toggle(
    "Estimate accuracy by cross-validation, then train on all clips",
    value=ui.small_data(counts, classes), key=app.table_key("train_cv_first", dataset_arg, len(classes)),
    help="For small data (fewer than 20 clips in a class, on by default): 5-fold cross-validation grouped by "
    "source recording tests every clip once, so the estimate rests on all clips instead of one fold's few; the "
    "model you keep is then trained on all of them. Takes about 5 times as long.",
)  # fmt: skip
folds = ui.test_fold_choices()
test_fold = c3.selectbox(
    "Held-out test fold", list(folds), format_func=folds.get, key="train_test_fold", disabled=estimate_cv,
    help="Last fold: the official one where the data has folds (ESC-10, ESC-50), else the last of 5 folds "
    "assigned by class and source recording. None: report on the validation clips.",
)  # fmt: skip
c4, c5, c6 = st.columns([2, 1, 1])
policies = ui.policy_choices()
policy = c4.selectbox(
    "Augmentation policy", list(policies), format_func=policies.get, key="train_augment",
    help="Augmented copies are made of the training clips only. Save your own on the Augment page.",
)  # fmt: skip
limit = c5.number_input(
    "Clips per class (max)", 0, 100000, 0, key="train_limit",
    help="0 uses every clip. A smaller number gives a quick first model on a big dataset.",
)  # fmt: skip
run_name = c6.text_input("Run name", key="train_run_name", placeholder=f"{family}-<time>")
c7, c8, c9 = st.columns(3)
random_shift = c7.toggle(
    "Random time shift", True, key="train_shift", disabled=not ui.trains_on_spectrograms(family),
    help="Spectrogram models train on a random 3 s window of each clip every epoch, itself an augmentation. "
    "Off: each clip's fixed windows, the same every epoch (a run with no augmentation at all).",
)  # fmt: skip
wide = c8.toggle(
    "Wider CNN", False, key="train_wide", disabled=family != "cnn",
    help="Twice the filters in every convolutional block: about twice the training time. With augmentation it "
    "scores 92% on ESC-10, 5.5 points above the same network without (BENCHMARKS.md).",
)  # fmt: skip

background = c9.toggle(
    "Background class", False, key="train_background",
    help="Adds a _background_ class of 20 silence and noise clips soundkit makes, so that the Listen page "
    "answers background instead of one of your classes when none of them is heard.",
)  # fmt: skip

if st.button(
    "Start training", key="train_start", type="primary", icon=":material/play_arrow:", disabled=len(classes) < 2
):
    with app.show_errors():
        run_dir = ui.launch_training(
            dataset_arg,
            classes=classes if len(classes) < len(counts) else None,
            model=family,
            epochs=int(epochs),
            test_fold=test_fold,
            augment=policy,
            limit_per_class=int(limit) or None,
            name=run_name,
            random_shift=random_shift,
            wide=wide,
            cv_first=estimate_cv,
            background=background,
        )
    st.session_state["train_run"] = str(run_dir)
    st.toast(f"Training {run_dir.name} started", icon=":material/play_arrow:")
    st.rerun()
if len(classes) < 2:
    st.caption("Pick at least two classes.")
