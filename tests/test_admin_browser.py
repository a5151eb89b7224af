"""The claims admin in a real browser: Debian's headless Chromium, driven by Selenium, on a live server.

Chromium and its driver come from Debian (``bin/system-deps`` installs ``chromium`` and
``chromium-driver``); nothing is downloaded: the driver path is given explicitly, so Selenium
Manager never runs. Without them the test fails (CI installs them), it does not skip.
Screenshots go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from auth0_drf.models import ClaimRecord

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
STATE = "https://myapp.example/state"
ROLES = "https://myapp.example/roles"
SECRET = "https://myapp.example/national_id"
#: The password of the superuser ``admin`` the browser tests create.
ADMIN_PASSWORD = "correct horse battery"

pytestmark = pytest.mark.django_db(transaction=True)


def require_chromium() -> None:
    """Fail (never skip) when Debian's Chromium or its driver is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver packages "
            "(run `bash bin/system-deps` as root). This test does not skip, so CI cannot pass without a browser.",
            pytrace=False,
        )


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """Start headless Chromium through chromedriver, both from Debian's packages."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="auth0-drf-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager (which would download drivers) is skipped.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    # Elements are looked for until they appear (a loaded machine may be slow to navigate).
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_staff_sees_recorded_claims_summary_and_detail_in_a_browser(live_server, auth0_issuer, settings):
    require_chromium()
    with headless_chromium() as browser:
        check_admin_pages(browser, live_server, auth0_issuer, settings)


def wait_for_page(browser: Any, path: str) -> None:
    """Wait until the browser has navigated to ``path`` (query string aside) and loaded it."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(
        lambda b: urlsplit(b.current_url).path == path, f"the browser never reached {path}"
    )
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.readyState") == "complete")


def log_in_as_admin(browser: Any, live_server: Any, path: str) -> None:
    """Log in on the admin's form as the superuser ``admin`` (password ``ADMIN_PASSWORD``), landing on ``path``."""
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}/admin/login/?next={path}")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_page(browser, path)


def check_admin_pages(browser: Any, live_server: Any, auth0_issuer: Any, settings: Any) -> None:
    from selenium.webdriver.common.by import By

    settings.AUTH0_DRF = auth0_issuer.settings(REDACTED_CLAIMS=[SECRET])
    # Real API calls over HTTP to the live server record the claims.
    for sub, plan in (("auth0|alice", "enterprise"), ("auth0|bob", "free")):
        token = auth0_issuer.token(
            sub=sub, scope="read:messages", claims={STATE: {"plan": plan}, ROLES: ["editor"], SECRET: "AB-123456-Z"}
        )
        response = requests.get(
            f"{live_server.url}/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
    assert ClaimRecord.objects.count() == 2
    alice = ClaimRecord.objects.get(subject="auth0|alice")
    get_user_model().objects.create_superuser("admin", "admin@example.test", ADMIN_PASSWORD)
    SCREENSHOTS.mkdir(exist_ok=True)

    log_in_as_admin(browser, live_server, "/admin/auth0_drf/claimrecord/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    browser.save_screenshot(str(SCREENSHOTS / "claims-list.png"))

    # The changelist links to the summary.
    browser.find_element(By.CSS_SELECTOR, "a.auth0-drf-summary-link").click()
    wait_for_page(browser, "/admin/auth0_drf/claimrecord/summary/")
    table = {
        row.find_element(By.CSS_SELECTOR, ".claim-name").text: row
        for row in browser.find_elements(By.CSS_SELECTOR, "#auth0-drf-claims-summary tr.auth0-drf-claim")
    }
    assert list(table) == [SECRET, ROLES, STATE]
    assert table[STATE].find_element(By.CSS_SELECTOR, ".claim-subjects").text == "2"
    assert table[STATE].find_element(By.CSS_SELECTOR, ".claim-types").text == "object"
    assert table[ROLES].find_element(By.CSS_SELECTOR, ".claim-example").text == '[\n  "editor"\n]'
    assert table[SECRET].find_element(By.CSS_SELECTOR, ".claim-example").text == '"[redacted]"'
    assert "AB-123456-Z" not in browser.page_source
    browser.save_screenshot(str(SCREENSHOTS / "claims-summary.png"))

    # From a claim name to the records carrying it, then to one record's detail page.
    table[STATE].find_element(By.CSS_SELECTOR, ".claim-name a").click()
    wait_for_page(browser, "/admin/auth0_drf/claimrecord/")
    assert "q=https%3A%2F%2Fmyapp.example%2Fstate" in browser.current_url
    browser.find_element(By.LINK_TEXT, "auth0|alice").click()
    wait_for_page(browser, f"/admin/auth0_drf/claimrecord/{alice.pk}/change/")
    pre = browser.find_element(By.CSS_SELECTOR, "pre.auth0-drf-claims")
    shown = pre.text
    assert '"https://myapp.example/state": {\n    "plan": "enterprise"\n  }' in shown
    assert '"https://myapp.example/national_id": "[redacted]"' in shown
    assert "AB-123456-Z" not in browser.page_source
    assert "read:messages" in browser.find_element(By.CSS_SELECTOR, ".field-scopes_list").text
    browser.save_screenshot(str(SCREENSHOTS / "claims-detail.png"))
