"""The admin's claim changes and token inspector in a real browser (headless Chromium, like test_admin_browser)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model

from auth0_drf.signing import LocalKey

from .test_admin_browser import (
    ADMIN_PASSWORD,
    SCREENSHOTS,
    headless_chromium,
    log_in_as_admin,
    require_chromium,
    wait_for_page,
)

pytestmark = pytest.mark.django_db(transaction=True)

PLAN = "https://myapp.example/plan"

__all__ = ["headless_chromium"]  # imported: this module is a browser test (tests/conftest.py)


def test_staff_read_recent_claim_changes_and_inspect_a_bad_token_in_a_browser(live_server, auth0_issuer, settings):
    require_chromium()
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_INTERVAL=0)
    for sub in ("auth0|alice", "auth0|bob"):
        for plan in ("free", "pro"):
            token = auth0_issuer.token(sub=sub, claims={PLAN: plan})
            response = requests.get(
                f"{live_server.url}/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert response.status_code == 200, response.text
    get_user_model().objects.create_superuser("admin", "admin@example.test", ADMIN_PASSWORD)
    SCREENSHOTS.mkdir(exist_ok=True)
    with headless_chromium() as browser:
        check_pages(browser, live_server, auth0_issuer)


def check_pages(browser: Any, live_server: Any, auth0_issuer: Any) -> None:
    from selenium.webdriver.common.by import By

    log_in_as_admin(browser, live_server, "/admin/")

    # Recent claim changes, from the admin index.
    browser.find_element(By.CSS_SELECTOR, 'a[href="/admin/auth0_drf/claimchange/"]').click()
    wait_for_page(browser, "/admin/auth0_drf/claimchange/")
    sentence = browser.find_element(By.CSS_SELECTOR, "#auth0-drf-changes tr.auth0-drf-change .change-sentence").text
    assert sentence == f'{PLAN} changed for 2 subjects in the last 24 hours: "free" → "pro"'
    browser.save_screenshot(str(SCREENSHOTS / "claims-recent-changes.png"))

    # The token inspector, from the admin index: paste a token signed by an unknown key.
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/admin/auth0_drf/tokeninspector/"]').click()
    wait_for_page(browser, "/admin/auth0_drf/tokeninspector/")
    token = LocalKey.generate("RS256", kid="stranger").sign(auth0_issuer.claims(audience="https://other.example/"))
    browser.find_element(By.NAME, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "input[name=inspect]").click()
    verdict = browser.find_element(By.CSS_SELECTOR, ".auth0-drf-verdict")
    assert verdict.text == "Verdict: this API would reject the token: 2 problems."
    problems = [p.text for p in browser.find_elements(By.CSS_SELECTOR, ".auth0-drf-problem")]
    assert problems[0].startswith('unknown_key: kid is "stranger", which is not among the keys published at')
    assert problems[1] == (
        'invalid_audience: aud is "https://other.example/"; request the token with audience=https://api.example.test/.'
    )
    assert "Unverified" in browser.find_element(By.CSS_SELECTOR, ".auth0-drf-unverified").text
    assert browser.find_element(By.NAME, "token").get_attribute("value") == ""  # never refilled
    assert token not in browser.page_source
    browser.save_screenshot(str(SCREENSHOTS / "token-inspector.png"))
