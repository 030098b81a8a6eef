"""The web page at /ui in a real browser (headless Chromium) against the real service.

Every number the page shows is checked against what the API answers for the same request, so
the page can neither invent a value nor drop one; the page's requests are watched by wrapping
`window.fetch` (what it sent) and by Chromium's own network log (where it went).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from support.browser import browser_or_fail, requested_urls, text_of, visible, wait

from features.contract.routes import PAGE_PATH
from service.http import VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration

# The contract's policy (/tmp/ui/contract.md), written out: the test must not read the service's.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
GRID_POINTS = 21  # the what-if chart: 0.5x to 1.5x the recommended price
UNKNOWN_ID = 987_654_321
EN_DASH = "\N{EN DASH}"  # between a range's bounds: "4 (dash) 16 reservations"
# Records the path of every fetch the page starts from now on, then lets it through.
SPY = """
window.sent = [];
window.realFetch = window.realFetch || window.fetch;
window.fetch = (resource, init) => {
  window.sent.push(new URL(String(resource), location.href).pathname);
  return window.realFetch(resource, init);
};
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    yield from browser_or_fail()


def open_page(browser: Chrome, service: RunningService, view: str = "") -> Chrome:
    """A fresh load of the page at `view` (no hash: the first view), once its form is built,
    with the fetch spy on."""
    browser.get("about:blank")  # a hash-only change would not reload the page
    browser.get(f"{service.url}{PAGE_PATH}{f'#{view}' if view else ''}")
    visible(browser, f"#{view or 'price'}")
    wait(browser).until(lambda d: d.find_elements(By.ID, "field-actual_price"))
    browser.execute_script(SPY)
    return browser


def sent(browser: Chrome) -> list[str]:
    return list(browser.execute_script("return window.sent"))


def schema_example(service: RunningService) -> dict[str, Any]:
    spec = httpx.get(f"{service.url}/docs.json", timeout=10).json()
    return dict(spec["components"]["schemas"]["Listing"]["example"])


def fill(browser: Chrome, element_id: str, text: str) -> None:
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def submit_listing(browser: Chrome) -> None:
    browser.find_element(By.ID, "price-submit").click()


def field_error(service: RunningService, body: dict[str, Any], field: str) -> str:
    """The message the service's 400 gives for `field` in `body`."""
    reply = service.post("/predict", body)
    assert reply.status_code == 400, reply.text
    return next(item["msg"] for item in reply.json()["detail"] if item["loc"] == [field])


def shown_forecast(browser: Chrome, prefix: str) -> tuple[float, str, str]:
    value = text_of(browser, f"#{prefix}-value")
    assert re.fullmatch(r"\d+\.\d", value), value  # one decimal
    interval, version = (text_of(browser, f"#{prefix}-{part}") for part in ("interval", "version"))
    return float(value), interval, version


def expected_forecast(reply: httpx.Response) -> tuple[float, str, str]:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    interval = body["interval"]
    level = round(interval["level"] * 100)
    text = f"{interval['lower']}{EN_DASH}{interval['upper']} reservations ({level}% range)"
    return body["predicted_reservations"], text, reply.headers[VERSION_HEADER]


def test_the_form_is_the_schemas_and_forecasts_what_the_api_answers(
    browser: Chrome, service: RunningService
) -> None:
    example = schema_example(service)
    open_page(browser, service)
    for name, value in example.items():
        field = browser.find_element(By.ID, f"field-{name}")
        assert field.get_attribute("name") == name
        if field.get_attribute("type") == "checkbox":
            assert int(field.is_selected()) == value, name
        else:
            assert float(field.get_attribute("value") or "nan") == value, name
        assert browser.find_elements(By.CSS_SELECTOR, f"label[for='field-{name}']"), name
    fill(browser, "field-actual_price", "80")
    submit_listing(browser)
    value, interval, version = shown_forecast(browser, "forecast")
    expected = expected_forecast(service.post("/predict", example | {"actual_price": 80}))
    assert value == pytest.approx(expected[0], abs=0.05)
    assert (interval, version) == expected[1:]
    assert sent(browser)[0] == "/predict"


def test_an_input_unlike_the_training_data_is_forecast_with_a_warning(
    browser: Chrome, service: RunningService
) -> None:
    open_page(browser, service)
    fill(browser, "field-description", "100000000")
    submit_listing(browser)
    shown_forecast(browser, "forecast")  # answered all the same
    warned = text_of(browser, "#forecast-warnings")
    reply = service.post("/predict", schema_example(service) | {"description": 100_000_000})
    (warning,) = reply.json()["warnings"]
    assert warned.startswith("Description 100,000,000 is outside the training range")
    assert f"({warning['low']:,g}{EN_DASH}{warning['high']:,g})" in warned
    fill(browser, "field-description", str(int(warning["high"])))  # back inside: no warning
    submit_listing(browser)
    wait(browser).until(
        lambda d: (
            d.find_element(By.ID, "price-result").is_displayed()
            and not d.find_element(By.ID, "forecast-warnings").is_displayed()
        )
    )


BAD_VALUES = {  # field -> (what is typed, the body the service gets for it)
    "actual_price": ("0", 0),
    "num_images": ("-1", -1),
    "description": ("2.5", 2.5),
    "recommended_price": ("", None),  # left empty: not sent at all
}


@pytest.mark.parametrize("field", list(BAD_VALUES))
def test_a_bad_value_is_refused_beside_its_field_in_the_services_words(
    browser: Chrome, service: RunningService, field: str
) -> None:
    typed, value = BAD_VALUES[field]
    example = schema_example(service)
    body = {k: v for k, v in (example | {field: value}).items() if v is not None}
    open_page(browser, service)
    fill(browser, f"field-{field}", typed)
    submit_listing(browser)
    error = text_of(browser, f"#error-{field}")
    assert error == field_error(service, body, field)
    beside(browser, field)
    assert sent(browser) == []  # refused in the browser: nothing sent
    assert not browser.find_element(By.ID, "price-result").is_displayed()


def beside(browser: Chrome, field: str) -> WebElement:
    """The field's input: marked invalid, described by its error, which sits in its own box."""
    element = browser.find_element(By.ID, f"field-{field}")
    assert element.get_attribute("aria-invalid") == "true"
    assert f"error-{field}" in (element.get_attribute("aria-describedby") or "").split()
    box = browser.find_element(By.ID, f"error-{field}").find_element(By.XPATH, "..")
    assert box.find_elements(By.ID, f"field-{field}")
    return element


def test_a_value_only_the_service_refuses_is_shown_beside_its_field(
    browser: Chrome, service: RunningService
) -> None:
    """Int64's maximum passes the browser's check (a JavaScript number cannot tell it from
    2**63) and is sent as 9223372036854776000: the service's 400 is shown beside the field."""
    example = schema_example(service)
    open_page(browser, service)
    fill(browser, "field-num_images", str(2**63 - 1))
    submit_listing(browser)
    error = text_of(browser, "#error-num_images")
    assert sent(browser) == ["/predict"]
    assert error == field_error(service, example | {"num_images": 2**63}, "num_images")
    beside(browser, "num_images")


def test_the_what_if_chart_is_one_batch_over_the_price_grid(
    browser: Chrome, service: RunningService
) -> None:
    example = schema_example(service)
    recommended = example["recommended_price"]
    open_page(browser, service)
    submit_listing(browser)
    wait(browser).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#whatif circle.point")) == GRID_POINTS
    )
    points = browser.find_elements(By.CSS_SELECTOR, "#whatif circle.point")
    prices = [float(p.get_attribute("data-price") or "nan") for p in points]
    grid = [recommended * (0.5 + 0.05 * step) for step in range(GRID_POINTS)]
    assert prices == pytest.approx(grid)
    listings = [example | {"actual_price": price} for price in prices]
    batch = service.post("/predict_batch", {"listings": listings})
    assert batch.status_code == 200, batch.text
    shown = [float(p.get_attribute("data-forecast") or "nan") for p in points]
    assert shown == batch.json()["predicted_reservations"]
    assert sent(browser) == ["/predict", "/predict_batch"]  # one batch call for all points
    chart = browser.find_element(By.ID, "whatif-chart")
    for kind, price in (("recommended", recommended), ("current", example["actual_price"])):
        marker = chart.find_element(By.CSS_SELECTOR, f".marker.{kind}")
        assert float(marker.get_attribute("data-price") or "nan") == price
    assert chart.find_element(By.CSS_SELECTOR, "path.band").get_attribute("d")
    assert len(chart.find_elements(By.CSS_SELECTOR, ".axes text")) >= 6  # ticks and labels
    table = browser.find_elements(By.CSS_SELECTOR, "#whatif-table tbody tr")
    assert len(table) == GRID_POINTS  # the chart's points as text, for screen readers
    assert text_of(browser, "#whatif-summary")


def test_lookup_shows_a_known_vehicles_features_and_forecast(
    browser: Chrome, service: RunningService, known_vehicle: int
) -> None:
    open_page(browser, service, "lookup")
    fill(browser, "vehicle-id", str(known_vehicle))
    browser.find_element(By.ID, "lookup-submit").click()
    value, interval, version = shown_forecast(browser, "lookup")
    expected = expected_forecast(service.post("/predict_by_id", {"vehicle_id": known_vehicle}))
    assert value == pytest.approx(expected[0], abs=0.05)
    assert (interval, version) == expected[1:]
    stored = httpx.get(f"{service.url}/vehicles/{known_vehicle}", timeout=10)
    assert stored.status_code == 200, stored.text
    rows = visible(browser, "#lookup-features").find_elements(By.CSS_SELECTOR, "tbody tr")
    names = [row.find_element(By.TAG_NAME, "th").text for row in rows]
    assert names == list(stored.json()["features"])
    assert browser.find_element(By.ID, "lookup-error").text == ""


def test_lookup_of_an_unknown_id_shows_the_apis_message(
    browser: Chrome, service: RunningService
) -> None:
    open_page(browser, service, "lookup")
    fill(browser, "vehicle-id", str(UNKNOWN_ID))
    browser.find_element(By.ID, "lookup-submit").click()
    reply = service.post("/predict_by_id", {"vehicle_id": UNKNOWN_ID})
    assert reply.status_code == 404, reply.text
    assert text_of(browser, "#lookup-error") == reply.json()["error"]
    assert not browser.find_element(By.ID, "lookup-forecast").is_displayed()


@pytest.mark.parametrize("typed", ["0", "seven", "1.5"])
def test_lookup_of_an_id_that_is_not_a_positive_integer_sends_nothing(
    browser: Chrome, service: RunningService, typed: str
) -> None:
    open_page(browser, service, "lookup")
    fill(browser, "vehicle-id", typed)
    browser.find_element(By.ID, "lookup-submit").click()
    assert text_of(browser, "#lookup-error").startswith("Input should be")
    assert browser.find_element(By.ID, "vehicle-id").get_attribute("aria-invalid") == "true"
    assert sent(browser) == []


def loaded_model_view(browser: Chrome) -> None:
    wait(browser).until(
        lambda d: d.find_element(By.ID, "model").get_attribute("aria-busy") == "false"
    )


def test_the_model_view_shows_the_served_champion_and_every_worker(
    browser: Chrome, service: RunningService
) -> None:
    open_page(browser, service, "model")
    loaded_model_view(browser)
    model = httpx.get(f"{service.url}/model", timeout=10).json()
    workers = httpx.get(f"{service.url}/workers", timeout=10).json()["workers"]
    assert browser.find_element(By.ID, "model-version").text == model["version"]
    assert browser.find_element(By.ID, "model-family").text == (model["family"] or "\N{EM DASH}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#workers tbody tr")
    assert len(rows) == len(workers) == 2
    by_pid = {int(row.get_attribute("data-pid") or 0): row for row in rows}
    assert by_pid.keys() == {worker["pid"] for worker in workers}
    for worker in workers:  # the third cell: the shadow each worker scores beside its champion
        cell = by_pid[worker["pid"]].find_elements(By.TAG_NAME, "td")[1].text
        assert cell == (worker["shadow_version"] or "\N{EM DASH}")
    shadow = browser.find_element(By.ID, "model-shadow").text
    named = model["shadow"]["version"]
    assert shadow == "none" if named is None else shadow.startswith(f"version {named}")
    scores = browser.find_elements(By.CSS_SELECTOR, "#model-scores tbody tr")
    assert [row.find_element(By.TAG_NAME, "th").text.split(" (")[0] for row in scores] == [
        "Champion",
        "Seed's reference model",
        "Median baseline",
    ]
    history = httpx.get(f"{service.url}/model/history", timeout=10)
    items = browser.find_elements(By.CSS_SELECTOR, "#history li")
    if history.status_code == 200:
        assert len(items) == max(1, len(history.json()["events"]))
    else:
        assert browser.find_element(By.ID, "history-error").text == history.json()["error"]
    drift = httpx.get(f"{service.url}/drift/latest", timeout=10)
    if drift.status_code == 200:
        link = browser.find_element(By.ID, "drift-link")
        assert urlsplit(link.get_attribute("href") or "").path == drift.json()["url"]
    else:
        assert browser.find_element(By.ID, "drift-message").text == drift.json()["error"]


def test_refresh_reloads_the_model_view(browser: Chrome, service: RunningService) -> None:
    open_page(browser, service, "model")
    loaded_model_view(browser)
    browser.execute_script(SPY)
    browser.find_element(By.ID, "model-refresh").click()
    loaded_model_view(browser)
    wait(browser).until(lambda d: len(sent(d)) == 4)
    assert sorted(sent(browser)) == ["/drift/latest", "/model", "/model/history", "/workers"]


def test_the_page_asks_nothing_of_another_origin(
    browser: Chrome, service: RunningService, known_vehicle: int
) -> None:
    for path in (PAGE_PATH, f"{PAGE_PATH}/app.js", f"{PAGE_PATH}/style.css"):
        reply = httpx.get(f"{service.url}{path}", timeout=10)
        assert reply.status_code == 200, path
        assert reply.headers["content-security-policy"] == POLICY, path
    browser.get_log("browser")  # forget earlier pages' messages
    requested_urls(browser)  # and their requests
    open_page(browser, service)
    submit_listing(browser)
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#whatif circle.point"))
    browser.find_element(By.CSS_SELECTOR, "nav a[href='#lookup']").click()
    fill(browser, "vehicle-id", str(known_vehicle))
    browser.find_element(By.ID, "lookup-submit").click()
    text_of(browser, "#lookup-value")
    browser.find_element(By.CSS_SELECTOR, "nav a[href='#model']").click()
    loaded_model_view(browser)
    urls = set(requested_urls(browser))
    paths = {urlsplit(url).path for url in urls}
    # The collection saw the page's own requests, so an empty list cannot pass for a clean one.
    assert {PAGE_PATH, f"{PAGE_PATH}/app.js", "/docs.json", "/predict_batch", "/workers"} <= paths
    origin = urlsplit(service.url)
    foreign = {u for u in urls if (urlsplit(u).scheme, urlsplit(u).netloc) != origin[:2]}
    assert not foreign
    blocked = [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not blocked  # nothing inline, nothing the policy had to stop


def tab_order(browser: Chrome, stop_at: str, limit: int = 8) -> list[str]:
    """Where Tab goes from the top of the page: each focused link's #target (else its tag
    name), until `stop_at` or `limit` presses."""
    reached: list[str] = []
    while len(reached) < limit and reached[-1:] != [stop_at]:
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.switch_to.active_element
        href = focused.get_attribute("href") or ""
        reached.append(f"#{href.split('#', 1)[1]}" if "#" in href else focused.tag_name)
    return reached


def test_the_views_are_reachable_by_keyboard_and_each_has_a_heading(
    browser: Chrome, service: RunningService
) -> None:
    open_page(browser, service)  # no hash: a #view would start Tab inside that view
    reached = tab_order(browser, stop_at="#model")
    assert reached == ["#main", "#price", "#lookup", "#model"]  # the skip link, then the nav
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    visible(browser, "#model")
    wait(browser).until(lambda d: d.switch_to.active_element.get_attribute("id") == "model-heading")
    for view in ("price", "lookup", "model"):
        section = browser.find_element(By.ID, view)
        assert section.tag_name == "section"
        heading = section.find_element(By.CSS_SELECTOR, "h1")
        assert heading.get_attribute("textContent")
        assert section.get_attribute("aria-labelledby") == heading.get_attribute("id")
    for region in ("price-status", "lookup-status", "model-status"):
        assert browser.find_element(By.ID, region).get_attribute("aria-live") == "polite"


def test_the_page_fits_a_phone_screen(browser: Chrome, service: RunningService) -> None:
    size = browser.get_window_size()
    browser.set_window_size(375, 800)
    try:
        for view in ("price", "lookup", "model"):
            open_page(browser, service, view)
            if view == "price":
                submit_listing(browser)
                visible(browser, "#whatif-chart")
            if view == "model":
                loaded_model_view(browser)
            scroll, width = browser.execute_script(
                "const page = document.documentElement; return [page.scrollWidth, page.clientWidth]"
            )
            assert scroll <= width, view  # no sideways scrolling
    finally:
        browser.set_window_size(size["width"], size["height"])
