"""Headless Chromium for the report's tests and benchmark (Selenium).

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them);
the flags keep the browser off the network and out of the user's profile.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: Set (to 1) where a missing browser must fail the tests instead of
#: skipping them: CI.
REQUIRE_ENV = "MUSICNN_REQUIRE_BROWSER"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-unsafe-swiftshader",
)


def find_browser() -> tuple[str | None, str | None]:
    """Paths of Chromium and its driver, or ``None`` where missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


def missing_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None`` if they can."""
    browser, driver = find_browser()
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'beets-musicnn[test]')"
    if not browser or not driver:
        return (
            "no chromium/chromedriver on PATH "
            "(apt-get install -y chromium chromium-driver)"
        )
    return None


@contextmanager
def open_browser(width: int = 1400, height: int = 1000) -> Iterator:
    """A fresh headless Chromium (its own profile) that logs the console and
    the DevTools network events."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_browser()
    profile = tempfile.mkdtemp(prefix="musicnn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_window_size(width, height)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
