"""Label page, Regions tab: a minimal region editor for long recordings (pick a recording, see its
waveform, mark start/end with a label, play exactly a region, move or delete it). Regions live in the
visitor's store (soundkit.regions)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from soundkit_app import show_errors

#: Recordings at least this long are offered in the editor.
MIN_RECORDING_SECONDS = 5.0


def recordings(store: Any) -> list[Any]:
    return [r for r in store.clips(order="name") if r.seconds >= MIN_RECORDING_SECONDS]


def _waveform(path: str, regions: list[Any]) -> Any:
    """An Altair chart of the recording's envelope with its regions shaded."""
    import altair as alt
    import numpy as np
    import pandas as pd

    from soundkit.regions import load_ranged

    y, sr = load_ranged(path, sr=8000)
    n = max(1, len(y) // 2000)
    env = np.abs(y[: len(y) // n * n]).reshape(-1, n).max(axis=1)
    df = pd.DataFrame({"t": np.arange(len(env)) * n / sr, "amp": env})
    wave = alt.Chart(df).mark_area(opacity=0.6).encode(x=alt.X("t:Q", title="seconds"), y=alt.Y("amp:Q", title=None))
    if not regions:
        return wave.properties(height=160)
    rd = pd.DataFrame([{"start": g.start, "end": g.end, "label": g.label or "", "id": g.id} for g in regions])
    bands = alt.Chart(rd).mark_rect(opacity=0.25).encode(x="start:Q", x2="end:Q", color="label:N",
                                                          tooltip=["id:Q", "label:N", "start:Q", "end:Q"])
    return (bands + wave).properties(height=160)


def regions_section(store: Any) -> None:
    """The Regions tab."""
    from soundkit_app.label import label_picker

    recs = recordings(store)
    if not recs:
        st.info(f"No recording of {MIN_RECORDING_SECONDS:g} s or more yet: upload a long recording on "
                "**Add clips**, or import a folder of recordings with a regions.tsv from the CLI.")
        return
    names = {r.id: f"{r.name} ({r.seconds:.1f} s)" for r in recs}
    rec_id = st.selectbox("Recording", list(names), format_func=names.get, key="label_regions_recording")
    rec = next(r for r in recs if r.id == rec_id)
    regions = store.regions(rec.id)
    with show_errors(stop=False):
        st.altair_chart(_waveform(str(rec.path), regions), key="label_regions_wave", width="stretch")
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1], vertical_alignment="bottom")
    start = c1.number_input("Start (s)", 0.0, float(rec.seconds), 0.0, 0.1, key="label_regions_start")
    end = c2.number_input("End (s)", 0.0, float(rec.seconds), min(1.0, float(rec.seconds)), 0.1, key="label_regions_end")
    with c3:
        label = label_picker("Label", store.labels(), key="label_regions_label", allow_none=False)
    if c4.button("Add region", key="label_regions_add", disabled=label is None, width="stretch"):
        with show_errors(stop=False):
            g = store.add_region(rec.id, start, end, label=label)  # type: ignore[arg-type]
            st.toast(f"Region {g.start:g}-{g.end:g} s labelled {g.label!r}")
            st.rerun()
    for g in regions:
        r1, r2, r3, r4 = st.columns([3, 2, 1, 1], vertical_alignment="center")
        r1.write(f"**{g.label}** {g.start:.2f}-{g.end:.2f} s" + (f" (suggested by {g.suggested_by})" if g.suggested_by else ""))
        with r2, show_errors(stop=False):
            from soundkit.regions import load_ranged

            y, sr = load_ranged(g.path, sr=None)
            st.audio(y, sample_rate=sr)
        if r3.button("Move here", key=f"label_regions_move_{g.id}", help="Give it the start/end above", width="stretch"):
            with show_errors(stop=False):
                store.move_region(g.id, start, end)
                st.rerun()
        if r4.button("Delete", key=f"label_regions_delete_{g.id}", width="stretch"):
            with show_errors(stop=False):
                store.delete_region(g.id)
                st.rerun()
