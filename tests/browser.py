"""Headless Debian chromium for the page tests: one way to start it, everywhere."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AVAILABLE = CHROMIUM.exists() and CHROMEDRIVER.exists()

# Apply to a module with ``pytestmark = browser.MARKS``.
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium and chromedriver"),
]

# Without the background-networking flags chromium keeps dialling Google's hosts, which this
# closed network refuses (noise in the logs, and requests that never leave our origin otherwise).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
)


def make_driver(user_dir: str, lang: str | None = "zh-CN"):
    """Chromium with browser and performance logs (the latter lists every request URL)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={user_dir}", *([f"--lang={lang}"] if lang else [])):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


@contextmanager
def driver(lang: str | None = "zh-CN") -> Iterator[object]:
    """A driver on a fresh profile, quit and cleaned up afterwards."""
    user_dir = tempfile.mkdtemp(prefix="pg-chromium-")
    d = make_driver(user_dir, lang)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(user_dir, ignore_errors=True)


WAIT_S = 30.0  # an upper bound for polling, not an assertion on speed


def wait_for(driver, script: str, timeout: float = WAIT_S):  # type: ignore[no-untyped-def]
    """Poll a JavaScript expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script} (last value {value!r})")


def open_map(driver, url: str) -> None:  # type: ignore[no-untyped-def]
    """Load ``url`` from a blank page, the logs read so far dropped, and wait until the map
    page says it is ready."""
    driver.get("about:blank")
    driver.get_log("browser")
    if "performance" in driver.log_types:
        driver.get_log("performance")
    driver.get(url)
    wait_for(driver, "document.body && document.body.getAttribute('data-pg-ready') === '1'")
