"""The app as a person uses it: started, driven in headless Chromium (Debian's `chromium`, through Playwright's
Python package; no Playwright browser download), a generated video uploaded, the result waited for and checked on
the rendered page, then a checkpoint that does not exist and the message shown for it.

Marked slow; skipped where gradio, playwright or chromium is missing. `ADAMAE_APP_CHECKPOINT` picks the checkpoint
(default: a tiny random one made here); `ADAMAE_APP_SCREENSHOT` a path to keep the screenshot at (the README's is
docs/images/app.png, taken with the quick start's checkpoint).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from adamae_hf import AdaMAEForPreTraining
from adamae_hf.data import save_processor
from adamae_hf.data.synthetic import render_clip, write_mp4
from adamae_hf.presets import preset_config


pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from adamae_hf.app import build_demo

    checkpoint = os.environ.get("ADAMAE_APP_CHECKPOINT")
    if not checkpoint:
        checkpoint = str(tmp_path / "checkpoint")
        torch.manual_seed(0)
        AdaMAEForPreTraining(preset_config("tiny")).save_pretrained(checkpoint)
        save_processor(checkpoint, 64, num_frames=8, sampling_rate=2)
    demo = build_demo(checkpoint, example=None)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_upload_a_video_and_see_the_sampler(app_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    # a 10 s, 320x180 video of a shape moving down (120 frames at 12 fps; seed 5 puts it inside the centre crop)
    frames, _ = render_clip(np.random.default_rng(5), "down", 120, 180, 320)
    video = tmp_path / "moving_down.mp4"
    write_mp4(video, frames, fps=12)
    screenshot = Path(os.environ.get("ADAMAE_APP_SCREENSHOT") or tmp_path / "app.png")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.locator("#video-input input[type=file]").set_input_files(str(video))
        page.locator("#video-input video").wait_for(timeout=60_000)  # the upload is shown
        page.locator("#run").click()
        summary = page.locator("#summary")
        summary.get_by_text("Done in").wait_for(timeout=180_000)
        text = summary.inner_text()
        assert "Read 8 frames" in text and "of the video's 120" in text and "(320x180 pixels" in text
        assert "Mask: " in text and "rank correlation with motion" in text
        seconds = float(text.split("Done in ")[1].split(" s")[0])
        for name in ("figure", "animation"):  # the pictures are rendered, with real sizes
            image = page.locator(f"#{name} img")
            image.wait_for(timeout=30_000)
            page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=image.element_handle())
            assert image.evaluate("image => image.naturalWidth") > 300
        assert not page.locator("#labels").is_visible()  # a pre-training checkpoint gives no labels
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)

        page.locator("#checkpoint textarea, #checkpoint input").first.fill(str(tmp_path / "no-such-checkpoint"))
        page.locator("#run").click()
        page.get_by_text("there is no such folder").first.wait_for(timeout=60_000)
        browser.close()
    assert screenshot.stat().st_size > 10_000
    print(f"analysis of the 10 s upload: {seconds:.1f} s (as the app reports it); screenshot {screenshot}")
