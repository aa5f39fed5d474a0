"""The region editor end to end: real Chromium drives the Label page's Regions tab of `streamlit run`
by mouse and keyboard. It creates a region by dragging over the spectrogram, moves it by its body,
resizes it by an edge, sees every change stored (SQLite, read here) and still drawn after a reload,
gets a one-line error for a too-short drag (nothing stored), accepts a model suggestion with Enter,
downloads the regions as a DCASE TSV, deletes the region with the Delete key and imports the TSV back."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from regionflow import drag, until, wait_idle  # noqa: E402  (tests/e2e, beside this file)
from synth import noise, tone, write_wav  # noqa: E402

SR = 16000
SECONDS = 10.0


@pytest.fixture(scope="module")
def regions_server(tmp_path_factory):
    """Its own server and data directory (one 10 s recording), so other browser tests see theirs."""
    from conftest import CHROMIUM, serve

    from soundkit.store import Store

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    home = tmp_path_factory.mktemp("regions_home")
    y = noise(SECONDS, SR, 0.01, seed=3)
    y[2 * SR : 3 * SR] += tone(800, 1.0, SR, 0.5)
    store = Store(home)
    rec = store.add(write_wav(home.parent / "field-e2e.wav", y, SR), name="field-e2e.wav")
    store.create_label("bark")
    store.add_regions(rec.id, [(7.0, 8.0, "bark")], suggested_by="model:yamnet")  # a pending suggestion
    with serve(home, log_name="streamlit-regions.log") as (url, _):
        yield url, home, rec.id


def _open(page, url: str):
    page.goto(f"{url}/label")
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
    page.get_by_role("tab", name="Regions").click()
    canvas = page.locator(".skreg-canvas")
    canvas.wait_for()
    page.wait_for_timeout(300)  # the spectrogram image decodes
    return canvas


def test_region_editor_create_move_delete_reload_export_import(regions_server, page, tmp_path):
    from soundkit.store import Store

    url, home, rec_id = regions_server
    store = Store(home)
    canvas = _open(page, url)
    w = canvas.bounding_box()["width"]
    px = w / SECONDS  # the editor opens on the whole recording
    root = page.locator(".skreg")

    # the model's suggestion: select it by click, accept it with Enter, delete it with the button
    (sug,) = store.regions(rec_id)
    canvas.click(position={"x": 7.5 * px, "y": 150})
    assert root.get_attribute("data-selected") == str(sug.id)
    page.keyboard.press("Enter")
    until(lambda: store.get_region(sug.id).suggested_by == "user", "the suggestion accepted")
    wait_idle(page)
    root.get_by_role("button", name="Delete", exact=True).click()
    until(lambda: not store.regions(rec_id), "the accepted suggestion deleted")
    wait_idle(page)

    page.locator(".skreg-label").fill("bark")

    # create: drag from 2 s to 3.5 s
    drag(page, canvas, 2.0 * px, 3.5 * px)
    (g,) = until(lambda: store.regions(rec_id), "the new region in the store")
    assert g.label == "bark" and g.suggested_by == "user"
    assert abs(g.start - 2.0) < 0.05 and abs(g.end - 3.5) < 0.05, (g.start, g.end)
    wait_idle(page)

    # move: drag its body 1 s to the right
    mid = (g.start + g.end) / 2
    drag(page, canvas, mid * px, (mid + 1.0) * px)
    moved = until(lambda: [r for r in store.regions(rec_id) if abs(r.start - g.start) > 0.5], "the moved region")[0]
    assert moved.id == g.id and abs(moved.start - (g.start + 1.0)) < 0.05 and abs(moved.seconds - g.seconds) < 0.01
    wait_idle(page)

    # resize: its right edge 0.5 s further
    drag(page, canvas, moved.end * px, (moved.end + 0.5) * px)
    resized = until(lambda: [r for r in store.regions(rec_id) if r.end - moved.end > 0.3], "the resized region")[0]
    assert abs(resized.end - (moved.end + 0.5)) < 0.05 and resized.start == moved.start
    wait_idle(page)

    # a drag of a few pixels (well under 0.1 s): one error line, nothing stored
    drag(page, canvas, 8.0 * px, 8.0 * px + 4, steps=2)
    page.get_by_text("shorter than 0.1 s").wait_for()
    assert page.locator('[data-testid="stAlertContentError"]').count() == 1
    assert [(r.id, r.start, r.end) for r in store.regions(rec_id)] == [(resized.id, resized.start, resized.end)]
    assert page.locator('[data-testid="stException"]').count() == 0

    # zoom in and out around the middle, scroll with the slider
    root.get_by_role("button", name="Zoom in", exact=True).click()
    assert root.get_attribute("data-view") == "2.500,7.500"
    page.locator(".skreg-scroll").fill("1000")  # scrolled to the end
    assert root.get_attribute("data-view") == "5.000,10.000"
    root.get_by_role("button", name="Fit", exact=True).click()
    assert root.get_attribute("data-view") == "0.000,10.000"
    wait_idle(page)

    # play exactly the region: Python sends that stretch of audio only
    canvas.click(position={"x": (resized.start + 0.2) * px, "y": 150})
    root.get_by_role("button", name="Play", exact=True).click()
    until(lambda: page.locator(".skreg-audio").get_attribute("data-region") == str(resized.id), "the region's audio")
    assert abs(float(page.locator(".skreg-audio").get_attribute("data-seconds")) - resized.seconds) < 0.01

    # reload: drawn from the store
    canvas = _open(page, url)
    assert root.get_attribute("data-regions") == "1"
    assert root.get_attribute("data-summary") == f"bark@{resized.start:.3f}-{resized.end:.3f}"

    # export the regions as a DCASE TSV
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download regions (DCASE TSV)").click()
    tsv = tmp_path / "regions.tsv"
    dl.value.save_as(tsv)
    lines = tsv.read_text().splitlines()
    assert lines[0].split("\t") == ["filename", "onset", "offset", "event_label"]
    assert lines[1].split("\t") == ["field-e2e.wav", f"{resized.start:.3f}", f"{resized.end:.3f}", "bark"]

    # delete: select by click, Delete key
    canvas.click(position={"x": (resized.start + resized.end) / 2 * px, "y": 150})
    assert root.get_attribute("data-selected") == str(resized.id)
    page.keyboard.press("Delete")
    until(lambda: not store.regions(rec_id), "the region gone from the store")
    until(lambda: root.get_attribute("data-regions") == "0", "the region gone from the editor")
    wait_idle(page)

    # import the TSV back: the same region again
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Import regions")
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tsv))
    page.get_by_role("button", name="Import regions", exact=True).click()
    page.get_by_text("Imported 1 region(s).").wait_for()
    (back,) = store.regions(rec_id)
    assert (back.start, back.end, back.label) == (resized.start, resized.end, "bark")
    until(lambda: page.locator(".skreg").get_attribute("data-regions") == "1", "the imported region drawn")


def test_an_edit_sends_the_regions_not_the_overview_again(regions_server, page):
    """Bytes over the websocket: opening the tab brings the overview (envelope and spectrogram PNG)
    once; each later edit (add, move, relabel, delete) brings the regions and the page's small
    elements, a small fraction of it (before, every edit re-sent the whole overview)."""
    from regionflow import Wire, edit_bytes

    from soundkit.store import Store
    from soundkit_app import region_editor as ed

    url, home, rec_id = regions_server
    store = Store(home)
    rec = store.get(rec_id)
    ov = ed.overview.__wrapped__(str(rec.path), rec.hash)
    picture = len(ov["spec"]) + len(str(ov["env_min"])) + len(str(ov["env_max"]))
    wire = Wire(page)
    _open(page, url)
    wait_idle(page)
    opened = wire.received
    assert opened > picture  # the overview came once
    edits = edit_bytes(page, wire, store, rec_id, SECONDS)
    assert max(edits.values()) < picture / 3, (edits, picture)  # the page is ~50 kB of it
    assert page.locator(".skreg").get_attribute("data-overview") == "1"

    # a browser that let its pictures go asks for the overview again and gets it
    page.evaluate("window.__soundkitRegions.__pictures.clear()")
    n0 = wire.received
    canvas = page.locator(".skreg-canvas")
    px = canvas.bounding_box()["width"] / SECONDS
    drag(page, canvas, 8.5 * px, 9.5 * px)
    until(lambda: [g for g in store.regions(rec_id) if g.start > 8.0], "the region in the store")
    # the editor's request for the picture comes a rerun after the edit: wait for its bytes (the
    # Playwright calls in the loop let the websocket events in; data-overview stays "1" throughout,
    # the decoded picture being still on the canvas)
    deadline = time.monotonic() + 60
    while wire.received - n0 <= picture and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert wire.received - n0 > picture, (wire.received - n0, picture)
    wait_idle(page)
    assert page.locator(".skreg").get_attribute("data-overview") == "1"
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.fixture(scope="module")
def minute_server(tmp_path_factory):
    """A server whose store holds one 60 s recording (its overview coarse enough for zoomed details)."""
    from conftest import CHROMIUM, serve
    from regionflow import seed

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    home = tmp_path_factory.mktemp("minute_home") / "home"
    rec_id = seed(home, 60.0)
    with serve(home, log_name="streamlit-regions-minute.log") as (url, _):
        yield url, home, rec_id


def test_a_zoomed_detail_comes_once_and_stays_through_edits(minute_server, page):
    """Zoomed in on a 60 s recording, the editor draws a finer detail of the view; an edit there
    keeps drawing it without the detail or the overview coming again (before: both, 0.9 MB)."""
    from regionflow import Wire, zoomed_edit_bytes

    from soundkit.store import Store
    from soundkit_app import region_editor as ed

    url, home, rec_id = minute_server
    store = Store(home)
    wire = Wire(page)
    _open(page, url)
    wait_idle(page)
    root = page.locator(".skreg")
    sent, (t0, t1) = zoomed_edit_bytes(page, wire, store, rec_id)
    (g,) = store.regions(rec_id)
    assert abs(g.start - (t0 + 1.0)) < 0.05 and abs(g.end - (t0 + 3.0)) < 0.05
    rec = store.get(rec_id)
    hop = ed.spectrogram_hop(int(rec.seconds * ed.OVERVIEW_SR), ed.SPEC_COLUMNS)
    a, b = ed.detail_window({"t0": t0, "t1": t1}, rec.seconds, hop)
    detail = len(ed.detail.__wrapped__(str(rec.path), rec.hash, a, b)["spec"])
    assert sent < detail / 2, (sent, detail)  # the page is ~50 kB of it
    assert root.get_attribute("data-detail") == "1" and root.get_attribute("data-overview") == "1"
    assert page.locator('[data-testid="stException"]').count() == 0
