"""The rejections page in a real browser: Debian's headless Chromium on a live server, after real bad requests.

Uses the Chromium set-up of ``tests/test_admin_browser.py`` (fails, never skips, without it);
the screenshot goes to ``screenshots/`` with the others.
"""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model

from tests.test_admin_browser import (
    ADMIN_PASSWORD,
    SCREENSHOTS,
    headless_chromium,
    log_in_as_admin,
    require_chromium,
    wait_for_page,
)

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/admin/auth0_drf/rejectioncount/"


def test_staff_see_the_rejection_chart_and_table_in_a_browser(live_server, auth0_issuer, settings):
    from selenium.webdriver.common.by import By

    require_chromium()
    settings.AUTH0_DRF = auth0_issuer.settings()
    bad = [
        "not-a-jwt",
        "not-a-jwt",
        auth0_issuer.token(audience="https://other-api.example/"),
        auth0_issuer.token(lifetime=-60, claims={"azp": "mobile-app"}),
    ]
    for token in bad:
        response = requests.get(
            f"{live_server.url}/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 401, response.text
    get_user_model().objects.create_superuser("admin", "admin@example.test", ADMIN_PASSWORD)
    SCREENSHOTS.mkdir(exist_ok=True)

    with headless_chromium() as browser:
        log_in_as_admin(browser, live_server, PAGE)

        chart = browser.find_element(By.ID, "auth0-drf-rejections-chart")
        assert chart.tag_name == "svg"
        assert chart.size["width"] > 400 and chart.size["height"] > 80  # drawn, not an empty box
        codes = {bar.get_attribute("data-code") for bar in chart.find_elements(By.CSS_SELECTOR, "rect.bar")}
        assert codes == {"not_a_jwt", "invalid_audience", "token_expired"}
        table = {
            row.get_attribute("data-code"): row
            for row in browser.find_elements(By.CSS_SELECTOR, "#auth0-drf-rejections tr.auth0-drf-rejection")
        }
        assert list(table) == ["not_a_jwt", "invalid_audience", "token_expired"]
        assert table["not_a_jwt"].find_element(By.CSS_SELECTOR, ".rejection-count").text == "2"
        assert table["not_a_jwt"].find_element(By.CSS_SELECTOR, ".rejection-clients").text == "unverified (2)"
        assert table["token_expired"].find_element(By.CSS_SELECTOR, ".rejection-clients").text == "mobile-app (1)"
        advice = table["invalid_audience"].find_element(By.CSS_SELECTOR, ".rejection-advice").text
        assert advice == (
            f'aud is "https://other-api.example/"; request the token with audience={auth0_issuer.audience}.'
        )
        browser.save_screenshot(str(SCREENSHOTS / "rejections.png"))

        # The client filter narrows the table.
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(By.ID, "id_client")).select_by_visible_text("mobile-app")
        browser.find_element(By.CSS_SELECTOR, "#auth0-drf-rejections-filters input[type=submit]").click()
        wait_for_page(browser, PAGE)
        assert "client=mobile-app" in browser.current_url
        rows = browser.find_elements(By.CSS_SELECTOR, "#auth0-drf-rejections tr.auth0-drf-rejection")
        assert [row.get_attribute("data-code") for row in rows] == ["token_expired"]
        browser.save_screenshot(str(SCREENSHOTS / "rejections-filtered.png"))
