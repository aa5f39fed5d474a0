"""Label: the dataset. Classes, uploads, recordings, a filterable table, bulk labelling, import, export."""

import streamlit as st

import soundkit_app as app
from soundkit_app import datamap as map_ui
from soundkit_app import label as ui
from soundkit_app import quicklabel as quick
from soundkit_app import regions as region_ui
from soundkit_app import rendering, resources

app.header("Label", "Build the dataset: add clips, name the classes, label quickly.")
store = resources.store()
stats = store.stats()
labels = store.labels()

m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Clips", stats["clips"], border=True)
m2.metric("Labelled", stats["labelled"], border=True)
m3.metric("Unlabelled", stats["unlabelled"], border=True)
m4.metric("Classes", len(labels), border=True)
m5.metric("Audio", f"{stats['seconds'] / 60:.1f} min", border=True)

undo = st.session_state.get("undo")
if undo:
    u1, u2 = st.columns([4, 1], vertical_alignment="center")
    u1.info(undo["message"], icon=":material/delete:")
    if u2.button("Undo", key="label_undo", icon=":material/undo:", width="stretch"):
        with app.show_errors(stop=False):
            n = store.undo(undo["token"])
            st.toast(f"Restored {n} clip(s)", icon=":material/undo:")
        st.session_state["undo"] = None
        app.changed()

tab_clips, tab_add, tab_classes, tab_regions, tab_map, tab_export = st.tabs(
    ["Clips", "Add clips", "Classes", "Regions", "Map", "Export"]
)

# ---------------------------------------------------------------------------------------------- regions
with tab_regions:
    region_ui.regions_section(store)

# ---------------------------------------------------------------------------------------------- map
with tab_map:
    map_ui.map_section(store)

# ---------------------------------------------------------------------------------------------- add
with tab_add:
    st.subheader("Upload")
    st.caption(
        "Audio files (wav, flac, ogg, mp3) or zips: one folder per class, an ESC-50 release, or a soundkit export."
    )
    gen = st.session_state.setdefault("label_upload_gen", 0)
    files = st.file_uploader(
        "Clips or zips", type=[*app.AUDIO_TYPES, "zip"], accept_multiple_files=True, key=f"label_upload_{gen}"
    )
    target = ui.label_picker("Label for the uploaded clips", labels, key="label_upload_label", allow_none=True)
    if st.button(
        "Add to dataset", key="label_upload_add", type="primary", disabled=not files, icon=":material/upload:"
    ):
        bar = st.progress(0.0, text="Adding clips...")
        with app.show_errors():
            result = ui.add_uploads(store, files, label=target, progress=ui.progress_callback(bar))
        bar.empty()
        ui.report_import(result, where="upload")
        st.session_state["label_upload_gen"] = gen + 1
        app.changed()
    ui.show_import_outcome("upload")  # right below the button, after every upload

    st.subheader("Record")
    rec_gen = st.session_state.setdefault("label_record_gen", 0)
    recording = st.audio_input("Record a clip", sample_rate=app.RECORD_SR, key=f"label_record_{rec_gen}")
    rec_label = ui.label_picker("Label for the recording", labels, key="label_record_label", allow_none=True)
    if st.button("Add recording", key="label_record_add", disabled=recording is None, icon=":material/mic:"):
        data, name = rendering.uploaded_bytes(recording)
        with app.show_errors():
            rec = store.add(data, name=rendering.recording_name(), label=rec_label, origin="record")
        st.toast(f"Added {rec.name}" + (f" as {rec.label}" if rec.label else ""), icon=":material/check:")
        st.session_state["label_record_gen"] = rec_gen + 1
        app.changed()

    st.subheader("Import a dataset")
    ui.dataset_import_section(store)

# ---------------------------------------------------------------------------------------------- classes
with tab_classes:
    if labels:
        st.dataframe(
            [{"class": k, "clips": v} for k, v in labels.items()],
            hide_index=True,
            key="label_class_table",
            height="auto",
        )
    else:
        st.info("No classes yet. Create one here, or upload a zip with one folder per class.", icon=":material/info:")
    c1, c2 = st.columns(2)
    with c1, st.form("label_create_form", clear_on_submit=True, border=True):
        st.markdown("**Create**")
        new = st.text_input("New class", key="label_create_name", placeholder="e.g. Dog bark")
        if st.form_submit_button("Create", icon=":material/add:") and new.strip():
            with app.show_errors(stop=False):
                name = store.create_label(new)
                st.toast(f"Created {name}", icon=":material/check:")
                app.changed()
    with c2, st.form("label_rename_form", border=True):
        st.markdown("**Rename**")
        old = st.selectbox("Class", list(labels), key="label_rename_old", index=None, placeholder="Pick a class")
        to = st.text_input("New name", key="label_rename_new")
        if st.form_submit_button("Rename", icon=":material/edit:") and old and to.strip():
            with app.show_errors(stop=False):
                name = store.rename_label(old, to)
                st.toast(f"Renamed {old} to {name}", icon=":material/check:")
                app.changed()
    c3, c4 = st.columns(2)
    with c3, st.form("label_merge_form", border=True):
        st.markdown("**Merge**")
        src = st.selectbox(
            "Move every clip of", list(labels), key="label_merge_src", index=None, placeholder="Pick a class"
        )
        dst = st.selectbox("into", list(labels), key="label_merge_dst", index=None, placeholder="Pick a class")
        if st.form_submit_button("Merge", icon=":material/merge:") and src and dst:
            with app.show_errors(stop=False):
                n = store.merge_labels(src, dst)
                st.toast(f"Merged {n} clip(s) from {src} into {dst}", icon=":material/check:")
                app.changed()
    with c4, st.form("label_delete_form", border=True):
        st.markdown("**Delete**")
        gone = st.selectbox("Class", list(labels), key="label_delete_name", index=None, placeholder="Pick a class")
        sure = st.checkbox("Its clips become unlabelled (they are kept)", key="label_delete_sure")
        if st.form_submit_button("Delete class", icon=":material/delete:") and gone and sure:
            with app.show_errors(stop=False):
                n = store.delete_label(gone)
                st.toast(f"Deleted {gone}; {n} clip(s) are unlabelled now", icon=":material/check:")
                app.changed()

# ---------------------------------------------------------------------------------------------- export
with tab_export:
    st.caption("A zip with one folder per class and a metadata.csv (label, source, fold, hash, origin, seconds).")
    with_unlabelled = st.checkbox("Include unlabelled clips (in _unlabelled/)", key="label_export_unlabelled")
    if st.button(
        "Prepare the zip", key="label_export_build", disabled=stats["clips"] == 0, icon=":material/folder_zip:"
    ):
        bar = st.progress(0.0, text="Writing the zip...")
        with app.show_errors(stop=False):
            st.session_state["label_export_path"] = str(
                ui.export_dataset(store, include_unlabelled=with_unlabelled, progress=ui.progress_callback(bar))
            )
        bar.empty()
    ready = ui.export_ready(st.session_state.get("label_export_path"))
    if ready is not None:
        st.download_button(
            f"Download {ready.name} ({ready.stat().st_size / 1e6:.1f} MB)",
            data=lambda: ready.read_bytes(),
            file_name=ready.name,
            mime="application/zip",
            key="label_export_download",
            icon=":material/download:",
            type="primary",
        )

# ---------------------------------------------------------------------------------------------- clips
with tab_clips:
    if stats["clips"] == 0:
        st.info(
            "The dataset is empty. Add clips on the **Add clips** tab (upload, record or import ESC-10).",
            icon=":material/info:",
        )
        st.stop()
    f1, f2, f3, f4 = st.columns([2, 2, 2, 2])
    shown = f1.selectbox("Show", ["All clips", "Unlabelled", *labels], key="label_filter")
    search = f2.text_input("Search name, label or source", key="label_search", placeholder="e.g. 1-100032")
    sources = f3.text_input("Source (exact)", key="label_source", placeholder="recording id")
    orders = {"Oldest first": "created", "Name": "name", "Label": "label", "Least confident suggestion": "uncertainty"}
    order = f4.selectbox("Sort by", list(orders), key="label_order", help="Suggestions come from the model below.")
    query = ui.clip_query(shown, search=search, source=sources.strip() or None)
    if st.toggle("Label one by one, at keyboard speed", key="label_quick_on",
                 help="One clip at a time: number keys pick a class, Space plays, arrows move, U undoes."):
        quick.quick_section(store, query, orders[order])
        st.stop()
    total = store.count(**query)
    page_size = 25
    n_pages = max(1, -(-total // page_size))
    pg = st.number_input(f"Page (of {n_pages}, {total} clips)", 1, n_pages, 1, key="label_page") if n_pages > 1 else 1
    records = store.clips(**query, order=orders[order], limit=page_size, offset=(int(pg) - 1) * page_size)
    if not records:
        st.info("No clips match these filters.", icon=":material/filter_alt_off:")
    else:
        table = ui.clip_table(records)
        event = st.dataframe(
            table,
            # a new key (fresh selection) whenever the rows change: after an action, a stale selection
            # would point at other clips
            key=app.table_key("label_table", shown, search, sources, order, pg),
            on_select="rerun",
            selection_mode="multi-row",
            hide_index=True,
            column_config=ui.CLIP_COLUMNS,
            row_height=48,
        )
        chosen = [records[i] for i in event.selection.rows]
        st.caption(
            f"{len(chosen)} selected. Select rows (or the header box for the whole page) to play, label or delete."
        )
        a1, a2, a3, a4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
        new_label = a1.selectbox(
            "Label",
            list(labels),
            key="label_assign_choice",
            index=None,
            placeholder="Pick or type a class",
            accept_new_options=True,
        )
        if a2.button(
            "Assign", key="label_assign", disabled=not (chosen and new_label), icon=":material/label:", width="stretch"
        ):
            with app.show_errors(stop=False):
                n = store.set_label([r.id for r in chosen], new_label)
                st.toast(f"Labelled {n} clip(s) {new_label}", icon=":material/check:")
                app.changed()
        suggested = [r for r in chosen if r.pred_label]
        if a3.button(
            f"Accept {len(suggested)} suggestion(s)",
            key="label_accept",
            disabled=not suggested,
            icon=":material/done_all:",
            width="stretch",
        ):
            with app.show_errors(stop=False):
                for lab in {r.pred_label for r in suggested}:
                    store.set_label([r.id for r in suggested if r.pred_label == lab], lab)
                st.toast(f"Accepted {len(suggested)} suggestion(s)", icon=":material/check:")
                app.changed()
        if a4.button("Delete", key="label_delete", disabled=not chosen, icon=":material/delete:", width="stretch"):
            with app.show_errors(stop=False):
                token = store.delete([r.id for r in chosen])
                st.session_state["undo"] = {"token": token, "message": f"Deleted {len(chosen)} clip(s)."}
                app.changed()
        for r in chosen[:4]:
            with st.container(border=True):
                p1, p2 = st.columns([2, 3])
                p1.markdown(f"**{r.name}** · {r.label or 'unlabelled'}")
                if r.pred_label:
                    p1.caption(f"model suggests {r.pred_label} ({r.pred_confidence or 0:.0%})")
                rendering.play(p1, r.path)
                p2.image(ui.spectrogram_thumb(str(r.path), r.hash, large=True), width="stretch")
        if len(chosen) > 4:
            st.caption(f"Players shown for the first 4 of {len(chosen)} selected clips.")

    with st.expander("Model suggestions for unlabelled clips", icon=":material/auto_awesome:"):
        ui.suggestions_section(store)
