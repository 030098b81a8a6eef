"""A real browser for the page's tests: Debian's headless Chromium driven by Selenium.

Chromium and its driver come from the system (`apt-get install chromium chromium-driver`, as
`.ci/run` does). Without them the tests that need them fail in CI and are skipped elsewhere,
naming the command, as tests/test_compose.py does for docker-compose.
Selenium Manager is kept offline: it must never download a browser or a driver.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 20.0
WINDOW = (1280, 1000)
# Headless, and quiet: no first-run pages, no background calls to Google (component updates,
# sync, safe browsing lists), so every request the browser makes is one the page made.
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing_browser() -> str | None:
    """Why no browser can start here, or None when Chromium and chromedriver are installed."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not absent:
        return None
    return f"{' and '.join(absent)} not found: apt-get install chromium chromium-driver"


@contextmanager
def chromium(window: tuple[int, int] = WINDOW) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, logging its network requests; quit after."""
    if (reason := missing_browser()) is not None:
        raise RuntimeError(reason)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: use the paths given, download nothing
    profile = tempfile.mkdtemp(prefix="fleetcast-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    # The DevTools performance log lists every request, including any a resource-timing
    # entry would not show (a blocked one, a redirect's first hop).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        # The first tab opens Chromium's own new-tab page: leave it, and forget its requests.
        driver.get("about:blank")
        driver.get_log("performance")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def browser_or_fail(window: tuple[int, int] = WINDOW) -> Iterator[webdriver.Chrome]:
    """For a fixture: a browser; where Chromium is missing, a failed test in CI (which installs
    it) and a skipped one on a developer's machine."""
    if (reason := missing_browser()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (.ci/run installs both)", pytrace=False)
        pytest.skip(reason)
    with chromium(window) as driver:
        yield driver


def wait(driver: webdriver.Chrome, timeout: float = WAIT_S) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, timeout)


def visible(driver: webdriver.Chrome, css: str) -> WebElement:
    """The element `css` selects, once it is displayed."""
    return wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def text_of(driver: webdriver.Chrome, css: str) -> str:
    """The text of the element `css` selects, once it is displayed and not empty."""
    element = visible(driver, css)
    wait(driver).until(lambda _: element.text.strip() != "")
    return element.text.strip()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the page has asked for so far: its navigation, resource-timing entries and the
    DevTools log's requests (the log is drained: each call returns the requests since the last)."""
    timed: list[str] = driver.execute_script(
        "return performance.getEntriesByType('navigation')"
        ".concat(performance.getEntriesByType('resource')).map(e => e.name)"
    )
    logged = []
    for entry in driver.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            logged.append(message["params"]["request"]["url"])
    return timed + logged
