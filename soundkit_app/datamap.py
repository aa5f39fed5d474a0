"""Label page, Map tab: every clip as a point by its YAMNet embedding (soundkit.datamap), coloured by
label (unlabelled grey), click to play, box-select to label a group, flagged clips one click from a
relabel. The map is kept per visitor (session state keyed by the visitor's home)."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from soundkit_app import home, show_errors

_STATE = "label_map"


def _state_key() -> str:
    return f"{_STATE}:{home()}"


def compute(store: Any, *, progress: Any = None) -> Any:
    """The map of the visitor's store, embeddings cached in ``home()/cache/embeddings`` (the cache
    the YAMNet head fills when it trains)."""
    from soundkit import datamap

    m = datamap.dataset_map(store, cache_dir=home() / "cache", progress=progress)
    st.session_state[_state_key()] = m
    return m


def current() -> Any:
    return st.session_state.get(_state_key())


def chart(m: Any) -> Any:
    """An Altair scatter of the map with a point (click) and an interval (box) selection."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(m.rows())
    labels = sorted({r for r in df["label"] if r != "unlabelled"})
    domain = [*labels, "unlabelled"]
    colour = alt.Color("label:N", scale=alt.Scale(domain=domain, range=[*_colours(len(labels)), "#bbbbbb"]))
    click = alt.selection_point(name="click", fields=["id"])
    box = alt.selection_interval(name="box")
    return (
        alt.Chart(df)
        .mark_circle(size=60)
        .encode(
            # the layout is scaled into [-1, 1]: a margin keeps the outermost points off the edges
            x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-1.08, 1.08])),
            y=alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[-1.08, 1.08])), color=colour,
            shape=alt.Shape("flagged:N", scale=alt.Scale(domain=[False, True], range=["circle", "triangle"])),
            tooltip=["name:N", "label:N", "suggested:N", "flagged:N"],
        )
        .add_params(click, box)
        .properties(height=480)
    )


def _colours(n: int) -> list[str]:
    base = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6",
            "#9d755d", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    return [base[i % len(base)] for i in range(n)]


def selected(m: Any, event: Any) -> list[int]:
    """Indices of the points a chart event selected (clicked points, or those inside the box)."""
    if not event:
        return []
    sel = event.get("selection") if isinstance(event, dict) else getattr(event, "selection", None)
    if not sel:
        return []
    ids = {str(p.get("id")) for p in (sel.get("click") or []) if isinstance(p, dict)}
    out = [i for i, pid in enumerate(m.ids) if pid in ids]
    box = sel.get("box") or {}
    if isinstance(box, dict) and "x" in box and "y" in box:
        (x0, x1), (y0, y1) = sorted(box["x"]), sorted(box["y"])
        inside = (m.xy[:, 0] >= x0) & (m.xy[:, 0] <= x1) & (m.xy[:, 1] >= y0) & (m.xy[:, 1] <= y1)
        out += [int(i) for i in np.flatnonzero(inside) if int(i) not in out]
    return out


def relabel(store: Any, m: Any, indices: list[int], label: str) -> int:
    """Give the points ``indices`` the label (clips in one transaction, regions one by one)."""
    clip_ids = [int(m.ids[i]) for i in indices if not m.ids[i].startswith("region-")]
    n = store.set_label(clip_ids, label) if clip_ids else 0
    for i in indices:
        if m.ids[i].startswith("region-"):
            store.relabel_region(int(m.ids[i].split("-", 1)[1]), label)
            n += 1
    for i in indices:
        m.labels[i] = label
        m.flags.flagged[i] = False
    return n


def play(m: Any, index: int, *, autoplay: bool = False) -> None:
    """An audio player for one point (a region plays exactly its range); ``autoplay``: it starts at
    once (a clicked point)."""
    from soundkit.regions import load_ranged

    with show_errors(stop=False):
        y, sr = load_ranged(m.paths[index], sr=None)
        st.audio(y, sample_rate=sr, autoplay=autoplay)


def why(flags: Any, i: int) -> str:
    """Why point ``i`` is flagged, in words."""
    if getattr(flags, "method", "knn") == "cv":
        return (f"a classifier trained without it says {flags.suggested[i]!r} ({flags.share[i]:.0%}), "
                f"its label {flags.given[i]:.0%}")
    return f"{flags.share[i]:.0%} of its neighbours say {flags.suggested[i]!r}"


def map_section(store: Any) -> None:
    """The Map tab."""
    from soundkit_app.label import label_picker

    st.caption("Every clip placed by its YAMNet embedding: similar sounds lie close together. Click a point "
               "to play it, drag a box to label a group; triangles are probably mislabelled.")
    if st.button("Compute the map", key="label_map_compute", icon=":material/scatter_plot:"):
        bar = st.progress(0.0, text="Embedding clips with YAMNet...")
        with show_errors(stop=False):
            compute(store, progress=lambda done, total: bar.progress(done / max(total, 1), text=f"{done}/{total} clips"))
        bar.empty()
    m = current()
    if m is None:
        return
    event = st.altair_chart(chart(m), on_select="rerun", key="label_map_chart", width="stretch")
    picked = selected(m, event)
    if picked:
        st.write(f"{len(picked)} selected: " + ", ".join(m.names[i] for i in picked[:8]) + (" ..." if len(picked) > 8 else ""))
        play(m, picked[0], autoplay=len(picked) == 1)  # a click plays the clip
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        with c1:
            label = label_picker("Label the selection", store.labels(), key="label_map_group_label", allow_none=False)
        if c2.button("Apply", key="label_map_group_apply", disabled=label is None, width="stretch"):
            with show_errors(stop=False):
                n = relabel(store, m, picked, label)  # type: ignore[arg-type]
                st.toast(f"Labelled {n} clip(s) {label!r}")
    flagged = m.flags.indices()
    st.subheader(f"Probably mislabelled ({len(flagged)})")
    for i in flagged[:25]:
        c1, c2 = st.columns([4, 2], vertical_alignment="center")
        c1.write(f"**{m.names[i]}**: labelled {m.labels[i]!r}; " + why(m.flags, i))
        if c2.button(f"Relabel as {m.flags.suggested[i]}", key=f"label_map_fix_{m.ids[i]}", width="stretch"):
            with show_errors(stop=False):
                relabel(store, m, [i], m.flags.suggested[i])
                st.rerun()
