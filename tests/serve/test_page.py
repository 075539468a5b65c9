"""The page at / in headless Chromium (Debian's chromium + chromium-driver, driven by selenium): pick an image,
see the model's top-5 labels with bars; a screenshot is taken."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

import zoo_core as zoo
from tests.serve.helpers import app_server
from zoo_core.prediction import Runner
from zoo_core.serve import ServeConfig, create_app

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
LABELS = ["airplane", "bird", "cat", "deer", "dog", "frog", "horse"]

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI needs chromium and chromium-driver (scripts/setup.sh installs them)", pytrace=False)
    pytest.skip("chromium / chromedriver not installed (scripts/setup.sh installs them)", allow_module_level=True)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=900,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.parametrize("api_key", [None, "page-key"])
def test_page_shows_the_top5_labels_of_a_picked_image(tmp_path, browser, api_key):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    model = zoo.load("simplecnn_cifar", "torch", num_classes=len(LABELS), input_size=32)
    zoo.save(model, tmp_path / "ckpt", labels=LABELS)
    runner = Runner(zoo.load(str(tmp_path / "ckpt"), "torch"))
    image = tmp_path / "picture.png"
    Image.fromarray((np.random.default_rng(3).random((48, 64, 3)) * 255).astype(np.uint8)).save(image)
    (expected,) = zoo.predict(runner.model, str(image), top_k=5)

    with app_server(create_app(runner, ServeConfig(model="ckpt", api_key=api_key))) as url:
        browser.get(url + "/")
        assert "simplecnn_cifar" in browser.find_element(By.ID, "model").text
        wait = WebDriverWait(browser, 30)
        if api_key:  # without the key the page says so
            browser.find_element(By.ID, "file").send_keys(str(image))
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "missing API key"))
            assert "enter the API key" in browser.find_element(By.ID, "status").text
            browser.find_element(By.ID, "key").send_keys(api_key)
            browser.execute_script("document.getElementById('file').value = ''")
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "picture.png: "))
        rows = browser.find_elements(By.CSS_SELECTOR, "#results .row")
        shown = [(r.find_element(By.CLASS_NAME, "label").text, r.find_element(By.CLASS_NAME, "prob").text)
                 for r in rows]
        assert shown == [(t.label, f"{100 * t.probability:.1f}%") for t in expected.top]
        widths = [r.find_element(By.CLASS_NAME, "bar").size["width"] for r in rows]
        assert widths == sorted(widths, reverse=True) and widths[0] > 0  # the bars are drawn, longest first
        shot = tmp_path / "page.png"
        assert browser.save_screenshot(str(shot))
        with Image.open(shot) as png:
            assert png.size[0] > 500 and png.size[1] > 500
            pixels = np.asarray(png.convert("RGB")).reshape(-1, 3)
            assert len(np.unique(pixels, axis=0)) > 10  # a rendered page, not a blank image
