"""Hosted mode in a real browser: two visitors (two Playwright contexts, two Streamlit sessions) on one
`streamlit run` server with SOUNDKIT_HOSTED=1.

Visitor A uploads and labels clips and starts training; visitor B, on the same server at the same time,
sees none of A's clips, classes, runs or job and has no button that could stop it; no page shows or
takes a server path. A's address (with its workspace token) opened in a fresh context brings A back
to A's workspace, where A cancels the job.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from synth import tone, write_wav

expect = pytest.importorskip("playwright.sync_api").expect

from test_browser import PAGES, goto, metric, no_exception, pick_new_option, upload, url_path, wait_idle  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SR = 22050
RUN = "visitor-a-run"


def token(page) -> str:
    """The workspace token in the page's address (waits until the app has put it there)."""
    page.wait_for_url(re.compile(r"[?&]ws="), timeout=30_000)
    return parse_qs(urlparse(page.url).query)["ws"][0]


def nav(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title).first.wait_for()
    wait_idle(page)


def tones(folder: Path, base: float, n: int) -> list[Path]:
    return [write_wav(folder / f"{int(base)}-{k}.wav", tone(base + 40 * k, 1.5, SR), SR) for k in range(n)]


def test_two_visitors_are_private_and_a_link_brings_a_back(hosted_server, hosted_root, browser, tmp_path, shot):
    url, _ = hosted_server
    contexts = []

    def visitor():
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(ctx)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        return pg

    try:
        # -- A: own workspace, labelled clips, a training job ------------------------------------
        a = visitor()
        goto(a, f"{url}/label")
        token_a = token(a)
        expect(a.get_by_text("Your private workspace")).to_be_visible()
        for i, (label, base) in enumerate([("Hum low", 220.0), ("Hum high", 5000.0)], 1):
            a.get_by_role("tab", name="Add clips", exact=True).click()
            upload(a, tones(tmp_path / label, base, 4))
            pick_new_option(a, "Label for the uploaded clips", label)
            a.get_by_role("button", name="Add to dataset").click()
            expect(metric(a, "Labelled")).to_have_text(str(4 * i), timeout=120_000)
            wait_idle(a)
        no_exception(a)
        nav(a, "Train")
        assert token(a) == token_a  # page switches keep the workspace in the address
        epochs = a.get_by_label("Epochs", exact=True)
        epochs.fill("50")
        epochs.press("Enter")
        wait_idle(a)
        a.get_by_label("Run name").fill(RUN)
        a.get_by_label("Run name").press("Enter")
        wait_idle(a)
        a.get_by_role("button", name="Start training").click()
        a.get_by_text(f"Training {RUN}").first.wait_for(timeout=60_000)
        shot(a, "hosted_a_train")

        # -- B: another workspace, nothing of A's on any page, no server path --------------------
        b = visitor()
        goto(b, f"{url}/label")
        token_b = token(b)
        assert token_b != token_a
        expect(metric(b, "Clips")).to_have_text("0")
        for name in PAGES:
            goto(b, f"{url}/{url_path(name)}?ws={token_b}")
            b.get_by_role("heading", name=name.capitalize()).first.wait_for()
            no_exception(b)
            assert token(b) == token_b
            text = b.locator('[data-testid="stApp"]').inner_text()
            for secret in ("Hum low", "Hum high", RUN, token_a, str(hosted_root)):
                assert secret not in text, (name, secret)
            assert "on this server" not in text, name
            inputs = [
                (b.locator('[data-testid="stTextInput"]').nth(k).inner_text() or "").lower()
                for k in range(b.locator('[data-testid="stTextInput"]').count())
            ]
            assert not any("folder" in t or "path" in t or "server" in t for t in inputs), (name, inputs)
            if name == "train":
                assert b.get_by_role("button", name="Cancel").count() == 0
                assert b.get_by_text("Training needs at least two classes").count() == 1
            if name == "results":
                assert b.get_by_text("No finished runs yet").count() == 1
            shot(b, f"hosted_b_{name}")
        # A's job is untouched by B's visit
        a.reload()
        wait_idle(a)
        a.get_by_text(f"Training {RUN}").first.wait_for(timeout=60_000)

        # -- A's link in a fresh context: A's workspace and A's job, which A can cancel -----------
        c = visitor()
        goto(c, f"{url}/label?ws={token_a}")
        assert token(c) == token_a
        expect(metric(c, "Clips")).to_have_text("8")
        expect(metric(c, "Classes")).to_have_text("2")
        nav(c, "Train")
        c.get_by_text(f"Training {RUN}").first.wait_for(timeout=60_000)
        c.get_by_role("button", name="Cancel").click()
        c.get_by_text(f"{RUN} was cancelled").first.wait_for(timeout=60_000)
        no_exception(c)
        shot(c, "hosted_a_back")
    finally:
        for ctx in contexts:
            ctx.close()
