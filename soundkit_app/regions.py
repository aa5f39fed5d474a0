"""Label page, Regions tab: the region editor for long recordings (soundkit_app.region_editor: the
waveform and log-mel spectrogram on one time axis, drag to mark, move, resize, label, play, delete),
model suggestions from the event detector (soundkit.regions.suggest_regions), and the regions as a
DCASE annotation file to download and to import. Regions live in the visitor's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from soundkit_app import public, show_errors

#: Recordings at least this long are offered in the editor.
MIN_RECORDING_SECONDS = 5.0
EDITOR_KEY = "label_regions_editor"


def recordings(store: Any) -> list[Any]:
    return [r for r in store.clips(order="name") if r.seconds >= MIN_RECORDING_SECONDS]


def annotations_text(store: Any) -> str:
    """Every labelled region (pending suggestions left out) of the stored recordings in the DCASE
    layout (filename = the recording's name), as the CLI's ``import`` of a folder and this tab's
    import read it back."""
    from soundkit.regions import is_suggestion, write_annotations

    return write_annotations([(g.recording, g.start, g.end, g.label) for g in store.regions()
                              if g.label and not is_suggestion(g.suggested_by)])


def model_tag(model_key: str) -> str:
    """What ``suggested_by`` says of a model: "yamnet" or the run's directory name."""
    from soundkit_app.classify import YAMNET_KEY

    return "yamnet" if model_key == YAMNET_KEY else Path(model_key).name


def suggestions_row(store: Any, rec: Any) -> None:
    """Pick a model, let its event detector propose regions; accept the pending ones at once."""
    from soundkit.regions import is_suggestion, suggest_regions
    from soundkit_app.classify import model_choices, predictor_for

    pending = [g for g in store.regions(rec.id) if is_suggestion(g.suggested_by)]
    models = model_choices()
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    if not models:
        c1.caption("Model suggestions need a model: train one on **Train** (or install YAMNet).")
        return
    key = c1.selectbox("Suggest regions with", list(models), format_func=models.get, key="label_regions_model")
    if c2.button("Suggest regions", key="label_regions_suggest", icon=":material/auto_awesome:", width="stretch"):
        with st.spinner("Listening to the recording..."), show_errors(stop=False):
            added, skipped = suggest_regions(store, rec.id, predictor_for(key), by=model_tag(key))
            st.session_state["label_regions_suggested"] = (
                f"{len(added)} suggestion(s) added" + (f", {len(skipped)} event(s) left out" if skipped else "")
                + ". Select one and press **Accept** (or Enter), or correct it by moving or relabelling it.")
            st.rerun()
    if c3.button(f"Accept all {len(pending)}", key="label_regions_accept_all", disabled=not pending,
                 icon=":material/done_all:", width="stretch"):
        with show_errors(stop=False):
            for g in pending:
                store.accept_region(g.id)
            st.rerun()
    note = st.session_state.pop("label_regions_suggested", None)
    if note:
        st.info(note, icon=":material/auto_awesome:")


def annotations_row(store: Any) -> None:
    """Download every region as a DCASE annotation file; import one against the stored recordings."""
    d1, d2 = st.columns(2)
    with d1:
        st.download_button("Download regions (DCASE TSV)", annotations_text(store).encode("utf-8"),
                           file_name="regions.tsv", mime="text/tab-separated-values", key="label_regions_download",
                           icon=":material/download:", disabled=not store.regions())
    with d2:
        gen = st.session_state.setdefault("label_regions_upload_gen", 0)
        up = st.file_uploader("Import regions (DCASE TSV/CSV: filename, onset, offset, event_label)",
                              type=["tsv", "csv", "txt"], key=f"label_regions_upload_{gen}")
        if up is not None and st.button("Import regions", key="label_regions_import", icon=":material/upload:"):
            with show_errors(stop=False):
                data = up.getvalue()
                if len(data) > 20_000_000:
                    from soundkit.errors import ParameterError

                    raise ParameterError(f"{up.name}: {len(data) / 1e6:.0f} MB is too large for an annotation file")
                try:
                    text = data.decode("utf-8-sig")
                except UnicodeDecodeError:
                    from soundkit.errors import ParameterError

                    raise ParameterError(f"{up.name}: is not a UTF-8 text file") from None
                result = store.import_annotations(text, where=up.name)
                st.session_state["label_regions_imported"] = (result.regions, [f"{n}: {m}" for n, m in result.errors])
                st.session_state["label_regions_upload_gen"] = gen + 1
                st.rerun()
        done = st.session_state.pop("label_regions_imported", None)
        if done is not None:
            n, errors = done
            (st.warning if errors else st.success)(f"Imported {n} region(s)" + (f"; {len(errors)} row(s) left out" if errors else "."))
            if errors:
                st.code(public("\n".join(errors[:50])), language=None)


def regions_section(store: Any) -> None:
    """The Regions tab."""
    from soundkit_app import region_editor

    recs = recordings(store)
    if not recs:
        st.info(f"No recording of {MIN_RECORDING_SECONDS:g} s or more yet: upload a long recording on "
                "**Add clips**, or import a folder of recordings with a regions.tsv from the CLI.")
        return
    names = {r.id: f"{r.name} ({r.seconds:.1f} s)" for r in recs}
    rec_id = st.selectbox("Recording", list(names), format_func=names.get, key="label_regions_recording")
    rec = next(r for r in recs if r.id == rec_id)
    st.caption("Drag on the waveform or spectrogram to mark a region with the label in the box; drag a region "
               "to move it, its edges to resize it; click to select, then Delete, Play, Set label or Accept "
               "(keys: Delete, space, Enter). Ctrl+wheel zooms, the slider scrolls.")
    labels = store.labels()
    with show_errors(stop=False):
        region_editor.editor(store, rec, key=EDITOR_KEY, default_label=next(iter(labels), None))
    suggestions_row(store, rec)
    with st.expander("Type the times (without the mouse)", icon=":material/keyboard:"):
        by_hand(store, rec, labels)
    annotations_row(store)


def by_hand(store: Any, rec: Any, labels: Any) -> None:
    """Start/end inputs and a label to add a region, each region's bounds and a move/delete button."""
    from soundkit_app.label import label_picker

    c1, c2, c3, c4 = st.columns([1, 1, 2, 1], vertical_alignment="bottom")
    start = c1.number_input("Start (s)", 0.0, float(rec.seconds), 0.0, 0.1, key="label_regions_start")
    end = c2.number_input("End (s)", 0.0, float(rec.seconds), min(1.0, float(rec.seconds)), 0.1, key="label_regions_end")
    with c3:
        label = label_picker("Label", labels, key="label_regions_label", allow_none=False)
    if c4.button("Add region", key="label_regions_add", disabled=label is None, width="stretch"):
        with show_errors(stop=False):
            g = store.add_region(rec.id, start, end, label=label, suggested_by="user")  # type: ignore[arg-type]
            st.toast(f"Region {g.start:g}-{g.end:g} s labelled {g.label!r}")
            st.rerun()
    for g in store.regions(rec.id):
        r1, r2, r3 = st.columns([4, 1, 1], vertical_alignment="center")
        r1.write(f"**{g.label}** {g.start:.2f}-{g.end:.2f} s" + (f" (suggested by {g.suggested_by})" if g.suggested_by else ""))
        if r2.button("Move here", key=f"label_regions_move_{g.id}", help="Give it the start/end above", width="stretch"):
            with show_errors(stop=False):
                store.move_region(g.id, start, end)
                st.rerun()
        if r3.button("Delete", key=f"label_regions_delete_{g.id}", width="stretch"):
            with show_errors(stop=False):
                store.delete_region(g.id)
                st.rerun()
