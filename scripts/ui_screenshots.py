"""Screenshots of the web page's three views for the docs: docs/ui-price.png, ui-lookup.png and
ui-model.png, taken with the tests' headless Chromium against a running service.

    .venv/bin/python scripts/ui_screenshots.py http://127.0.0.1:3000 --vehicle-id 17
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # one browser setup: the tests' (support/browser.py)

from support.browser import chromium, text_of, visible, wait  # noqa: E402

WIDTH = 1280


def whole_page(driver: Chrome, path: Path) -> None:
    """Save the whole page, not just the window (DevTools can capture beyond the viewport)."""
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"wrote {path}")


def open_view(driver: Chrome, url: str, view: str) -> None:
    driver.set_window_size(WIDTH, 1000)
    driver.get("about:blank")
    driver.get(f"{url}/ui#{view}")
    visible(driver, f"#{view}")
    wait(driver).until(lambda d: d.find_elements(By.ID, "field-actual_price"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:3000")
    parser.add_argument("--vehicle-id", type=int, default=17, help="an id in the online store")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    with chromium() as driver:
        open_view(driver, url, "price")
        driver.find_element(By.ID, "price-submit").click()
        wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#whatif circle.point"))
        whole_page(driver, args.out / "ui-price.png")

        open_view(driver, url, "lookup")
        driver.find_element(By.ID, "vehicle-id").send_keys(str(args.vehicle_id))
        driver.find_element(By.ID, "lookup-submit").click()
        text_of(driver, "#lookup-value")
        whole_page(driver, args.out / "ui-lookup.png")

        open_view(driver, url, "model")
        wait(driver).until(
            lambda d: d.find_element(By.ID, "model").get_attribute("aria-busy") == "false"
        )
        whole_page(driver, args.out / "ui-model.png")


if __name__ == "__main__":
    main()
