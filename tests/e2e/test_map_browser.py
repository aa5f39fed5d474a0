"""The Map tab in a real Chromium: compute the map of a small store (real YAMNet embeddings), drag a
box over the chart, label the selected group in one go; the store holds the new labels."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CHROMIUM, serve
from keyflow import SR, _wav, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def map_server(tmp_path_factory, yamnet_path):
    from pathlib import Path

    from soundkit.store import Store

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    home = tmp_path_factory.mktemp("soundkit_map")
    store = Store(home)
    store.create_label("hum")
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    for k in range(4):
        store.add(_wav((0.4 * np.sin(2 * np.pi * (300 + 50 * k) * t)).astype(np.float32)), name=f"tone{k}.wav",
                  label="hum" if k == 0 else None)
        store.add(_wav((0.3 * rng.standard_normal(SR)).astype(np.float32)), name=f"noise{k}.wav")
    store.close()
    with serve(home, log_name="streamlit-map.log") as (url, _proc):
        yield url, home


def test_box_selection_labels_the_group(map_server, page, shot):
    from soundkit.store import Store

    url, home = map_server
    page.goto(f"{url}/label")
    wait_idle(page)
    page.get_by_role("tab", name="Map").click()
    page.get_by_role("button", name="Compute the map").click()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.wait_for(timeout=120_000)
    wait_idle(page)
    box = chart.locator(".marks").first.bounding_box()  # vega-embed: <svg|canvas class="marks">
    assert box and box["width"] > 100, chart.evaluate("e => e.innerHTML.slice(0, 1500)")
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=12)
    page.mouse.up()
    shot(page, "map_box_selection")
    page.get_by_text("8 selected:").wait_for(timeout=60_000)
    wait_idle(page)
    picker = page.locator(".st-key-label_map_group_label")
    picker.click()
    page.keyboard.type("hum")
    page.keyboard.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Labelled 8 clip(s) 'hum'").wait_for(timeout=60_000)
    store = Store(home)
    assert {r.name: r.label for r in store.clips()} == {f"{kind}{k}.wav": "hum" for kind in ("tone", "noise") for k in range(4)}
