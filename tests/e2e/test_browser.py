"""End to end in a real browser: Playwright + Debian Chromium against `streamlit run` on localhost.

One session-scoped server with an empty SOUNDKIT_HOME; the tests run in file order and build on each
other, as a person would: open every page, label ESC-10 clips by uploading them, train a tiny model
in the background, read its confusion matrix on Results, classify an uploaded ESC-10 clip, look at a
spectrogram and an augmentation. Screenshots of each page go to artifacts/ (git-ignored); with
SOUNDKIT_UPDATE_SCREENSHOTS=1 they also replace docs/screenshots/ (used by the README).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["classify", "label", "spectrogram", "augment", "train", "results"]
CLASSES = {"Dog bark": "001 - Dog bark", "Rain": "002 - Rain"}
PER_CLASS = 8


def url_path(name: str) -> str:
    """A page's URL path: the default page (Classify) lives at the root."""
    return "" if name == "classify" else name


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app has rendered and its script run has finished."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_timeout(300)


def goto(page, url: str) -> None:
    page.goto(url)
    wait_idle(page)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def screenshot(page, shot, name: str) -> None:
    path = shot(page, name)
    if os.environ.get("SOUNDKIT_UPDATE_SCREENSHOTS") == "1":
        dest = ROOT / "docs" / "screenshots"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest / f"{name}.png")


def metric(page, label: str):
    """The value element of the st.metric with exactly this label."""
    box = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return box.locator('[data-testid="stMetricValue"]')


def upload(page, files: list[Path]) -> None:
    """Drop files on the page's (first) file uploader and wait until the app has received them."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files([str(f) for f in files])
    page.locator('[data-testid="stFileChip"]').nth(len(files) - 1).wait_for()
    page.wait_for_timeout(500)
    wait_idle(page, timeout=120_000)


def nudge(page, index: int, steps: int) -> None:
    """Move the index-th slider of the page by ``steps`` with the keyboard."""
    thumb = page.get_by_role("slider").nth(index)
    thumb.focus()
    for _ in range(steps):
        thumb.press("ArrowRight")
    wait_idle(page)


def pick_new_option(page, label: str, value: str) -> None:
    """Type a new option into the selectbox labelled ``label`` (accept_new_options) and confirm it."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.locator("input").click()
    box.locator("input").fill(value)
    page.keyboard.press("Enter")
    wait_idle(page)


@pytest.fixture(scope="module")
def esc10(esc10_dir) -> dict[str, list[Path]]:
    """A few ESC-10 clips per class, across folds (so every fold has some)."""
    return {label: sorted((esc10_dir / folder).glob("*.ogg"))[:PER_CLASS] for label, folder in CLASSES.items()}


def test_every_page_loads_with_empty_data(app_url, page, shot):
    # Runs first on a fresh server: a deep link must get the app's navigation, not Streamlit's
    # legacy pages/ mode (see soundkit_app._ensure_navigation).
    for name in ["label", *[p for p in PAGES if p != "label"]]:
        goto(page, f"{app_url}/{url_path(name)}")
        page.get_by_role("heading", name=name.capitalize()).first.wait_for()
        no_exception(page)
        assert page.get_by_text("Page not found").count() == 0
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Spectrogram" in nav and "streamlit app" not in nav.lower(), nav
        shot(page, f"empty_{name}")


def test_classify_with_pretrained_yamnet_before_any_training(app_url, page, esc10_dir, yamnet_path):
    clip = sorted((esc10_dir / CLASSES["Dog bark"]).glob("*.ogg"))[-1]
    goto(page, f"{app_url}/")
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile("YAMNet"))
    upload(page, [clip])
    page.get_by_text("Heard:").first.wait_for(timeout=120_000)
    heard = page.get_by_text("Heard:").first.inner_text()
    assert any(word in heard for word in ("Dog", "Bark", "Animal", "Domestic")), heard
    no_exception(page)


def test_label_clips_by_uploading(app_url, page, shot, esc10, e2e_home):
    goto(page, f"{app_url}/label")
    for i, (label, files) in enumerate(esc10.items(), 1):
        page.get_by_role("tab", name="Add clips", exact=True).click()
        upload(page, files)
        pick_new_option(page, "Label for the uploaded clips", label)
        page.get_by_role("button", name="Add to dataset").click()
        expect(metric(page, "Labelled")).to_have_text(str(i * PER_CLASS), timeout=120_000)
        expect(page.locator('[data-testid="stFileChip"]')).to_have_count(0)  # a fresh uploader
        wait_idle(page)
        no_exception(page)
    expect(metric(page, "Labelled")).to_have_text(str(2 * PER_CLASS), timeout=60_000)
    expect(metric(page, "Classes")).to_have_text("2")

    from soundkit.store import Store

    store = Store(e2e_home)
    assert store.labels() == {"Dog bark": PER_CLASS, "Rain": PER_CLASS}
    page.get_by_role("tab", name="Clips", exact=True).click()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    screenshot(page, shot, "label")


def test_train_tiny_model_in_background(app_url, page, shot):
    goto(page, f"{app_url}/train")
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("3")
    epochs.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    # the polling fragment shows progress, then the page redraws with the finished run
    page.get_by_text("Training cnn-").first.wait_for(timeout=60_000)
    # the job lives in a child process: leaving the page and coming back finds it again
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Results").click()
    page.get_by_role("heading", name="Results").first.wait_for()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train").click()
    expect(page.get_by_text("Training cnn-").or_(page.get_by_text("finished: accuracy")).first).to_be_visible()
    page.get_by_text("finished: accuracy").wait_for(timeout=600_000)
    no_exception(page)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').nth(1).wait_for()
    page.wait_for_timeout(1000)  # let the loss and accuracy charts draw
    screenshot(page, shot, "train")
    assert page.get_by_role("link", name="See its results").count() == 1


def test_results_show_confusion_matrix(app_url, page, shot):
    goto(page, f"{app_url}/results")
    page.get_by_text("Per-class accuracy").first.wait_for()
    page.get_by_role("tab", name="Confusion matrix").click()
    img = page.locator('[data-testid="stImage"] img').first
    img.wait_for()
    assert img.evaluate("i => i.complete && i.naturalWidth > 200")
    page.get_by_text("Rows: true class").wait_for()
    no_exception(page)
    screenshot(page, shot, "results")


def test_classify_uploaded_esc10_clip(app_server, page, shot, esc10_dir):
    app_url, server = app_server
    clip = sorted((esc10_dir / CLASSES["Dog bark"]).glob("*.ogg"))[-1]  # not one of the training clips
    goto(page, f"{app_url}/")
    upload(page, [clip])
    page.get_by_text("Heard:").first.wait_for(timeout=120_000)
    heard = page.get_by_text("Heard:").first.inner_text()
    assert any(label in heard for label in CLASSES), heard
    page.locator('[data-testid="stImage"] img').first.wait_for()
    no_exception(page)
    screenshot(page, shot, "classify")
    # the web process serves the model through LiteRT: TensorFlow's library is never mapped into it
    # (its memory is measured in bench/run.py's app_memory section, not asserted here)
    import psutil

    proc = psutil.Process(server.pid)
    tf_libs = sorted({m.path for m in proc.memory_maps() if "tensorflow" in m.path.lower()})
    assert not tf_libs, f"the streamlit server loaded TensorFlow: {tf_libs[:3]}"
    rss = proc.memory_info().rss
    (ROOT / "artifacts" / "memory.txt").write_text(f"server RSS after classification: {rss / 2**20:.0f} MiB\n")


def test_spectrogram_and_augment_pages(app_url, page, shot):
    goto(page, f"{app_url}/spectrogram")
    page.locator('[data-testid="stImage"] img').first.wait_for()
    no_exception(page)
    screenshot(page, shot, "spectrogram")

    goto(page, f"{app_url}/augment")
    page.get_by_text("Engine:").first.wait_for()
    nudge(page, 0, 25)  # time stretch 1.00 -> 1.25
    nudge(page, 1, 6)  # pitch 0 -> +3 semitones
    expect(page.get_by_text("Augmented · 6.25 s")).to_be_visible(timeout=60_000)
    page.locator('[data-testid="stImage"] img').nth(1).wait_for(timeout=60_000)
    no_exception(page)
    screenshot(page, shot, "augment")
