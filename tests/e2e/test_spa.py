"""A single-page app on another origin calls the demo from a real browser (headless Chromium), as in every forum thread.

The page is served by a tiny static server on its own loopback port, so it is another origin than the
demo (a subprocess, configured only through its environment: dev-issuer mode, ``CORS_ALLOWED_ORIGINS``).
It calls ``/api/private`` with ``fetch`` and an ``Authorization`` header, which makes the browser send a
preflight first: without CORS, ``fetch`` throws ``TypeError: Failed to fetch`` before any token is
checked. Screenshots go to ``screenshots/``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.test_admin_browser import SCREENSHOTS, headless_chromium, require_chromium

from .conftest import start_demo
from .demo import DemoServer, manage

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>SPA on another origin</title>
<style>
body { font: 15px system-ui, sans-serif; margin: 2em; }
pre { background: #f4f4f4; padding: .6em; white-space: pre-wrap; }
</style>
</head><body>
<h1>A single-page app on <span id="origin"></span></h1>
<p>calling the API on <code id="api"></code></p>
<div id="log"></div>
<script>
const API = new URLSearchParams(location.search).get("api");
document.getElementById("origin").textContent = location.origin;
document.getElementById("api").textContent = API;

function show(title, result) {
  const section = document.createElement("section");
  section.innerHTML = "<h3></h3><pre></pre>";
  section.querySelector("h3").textContent = title;
  section.querySelector("pre").textContent = JSON.stringify(result, null, 2);
  document.getElementById("log").appendChild(section);
}

// What a SPA does with the token getTokenSilently() gave it.
async function callApi(path, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  try {
    const response = await fetch(API + path, { headers });
    const result = {
      status: response.status,
      body: await response.json(),
      challenge: response.headers.get("WWW-Authenticate"),
    };
    show(`GET ${path}` + (token ? " with a token" : " without a token"), result);
    return result;
  } catch (error) {
    const result = { error: String(error) };
    show(`GET ${path}`, result);
    return result;
  }
}

// A front end working without a tenant: its token from the development issuer.
async function devToken(scope) {
  const response = await fetch(API + "/dev-issuer/token", { method: "POST", body: new URLSearchParams({ scope }) });
  const body = await response.json();
  show("POST /dev-issuer/token", { status: response.status, scope: body.scope, token_type: body.token_type });
  return body.access_token;
}
</script>
</body></html>
"""


class StaticSite:
    """One HTML page on its own loopback origin (``http://127.0.0.1:<free port>``)."""

    def __init__(self) -> None:
        page = PAGE.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def spa() -> Iterator[StaticSite]:
    site = StaticSite()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def other_site() -> Iterator[StaticSite]:
    """A second origin, not in CORS_ALLOWED_ORIGINS."""
    site = StaticSite()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def demo(spa: StaticSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo as its own issuer, as `PORT=8001 bash bin/demo` runs it, allowing the SPA's origin."""
    server = start_demo(
        tmp_path_factory.mktemp("spa"),
        DJANGO_DEBUG="true",
        AUTH0_DEV_ISSUER_URL="http://127.0.0.1:8001/",
        CORS_ALLOWED_ORIGINS=f"http://localhost:5173, {spa.origin}",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    SCREENSHOTS.mkdir(exist_ok=True)
    with headless_chromium() as driver:
        driver.set_script_timeout(20)
        yield driver


def mint(demo: DemoServer, *args: str, **env: str) -> str:
    result = manage({**demo.env, **env}, "auth0_mint", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def open_page(browser: Any, site: StaticSite, demo: DemoServer) -> None:
    browser.get(f"{site.origin}/?api={demo.url}")
    assert browser.execute_script("return location.origin") == site.origin


def run(browser: Any, script: str, *args: Any) -> Any:
    """Run an async function body in the page; its return value comes back through JSON."""
    wrapped = (
        "const done = arguments[arguments.length - 1];"
        f"(async () => {{ {script} }})().then(result => done(JSON.stringify(result)));"
    )
    return json.loads(browser.execute_async_script(wrapped, *args))


@pytest.mark.e2e
@pytest.mark.browser
def test_a_spa_on_another_origin_reads_the_200_with_a_token_and_the_401s_code_without(browser, spa, demo):
    open_page(browser, spa, demo)
    token = mint(demo, "--sub", "auth0|spa-user", "--scope", "read:messages")
    ok = run(browser, "return await callApi('/api/private', arguments[0]);", token)
    assert ok == {
        "status": 200,
        "body": {
            "message": "Hello from a private endpoint! You need to be authenticated to see this.",
            "sub": "auth0|spa-user",
        },
        "challenge": None,
    }
    refused = run(browser, "return await callApi('/api/private');")
    assert refused["status"] == 401
    assert refused["body"]["code"] == "not_authenticated"
    assert refused["challenge"] == 'Bearer realm="api"'  # readable: Access-Control-Expose-Headers
    expired = run(browser, "return await callApi('/api/private', arguments[0]);", mint(demo, "--lifetime", "-60"))
    assert expired["body"]["code"] == "token_expired"
    assert expired["challenge"].startswith('Bearer realm="api", error="invalid_token", error_description="The access')
    browser.save_screenshot(str(SCREENSHOTS / "spa-cross-origin.png"))


@pytest.mark.e2e
@pytest.mark.browser
def test_a_spa_without_a_tenant_gets_its_token_from_the_dev_issuer(browser, spa, demo):
    open_page(browser, spa, demo)
    result = run(browser, "return await callApi('/api/private-scoped', await devToken('read:messages'));")
    assert result["status"] == 200, result
    browser.save_screenshot(str(SCREENSHOTS / "spa-dev-issuer-token.png"))


@pytest.mark.e2e
@pytest.mark.browser
def test_an_origin_not_allowed_fails_to_fetch_as_browsers_enforce(browser, other_site, demo):
    open_page(browser, other_site, demo)
    token = mint(demo, "--scope", "read:messages")
    assert run(browser, "return await callApi('/api/private', arguments[0]);", token) == {
        "error": "TypeError: Failed to fetch"
    }
    browser.save_screenshot(str(SCREENSHOTS / "spa-origin-not-allowed.png"))


@pytest.mark.e2e
def test_a_token_minted_without_the_servers_issuer_url_is_told_which_issuer_to_mint_for(demo):
    # `PORT=8001 bash bin/demo`, then `manage.py auth0_mint` in another terminal without AUTH0_DEV_ISSUER_URL.
    env = {name: value for name, value in demo.env.items() if name != "AUTH0_DEV_ISSUER_URL"}
    result = manage(env, "auth0_mint")
    assert result.returncode == 0, result.stderr
    response = demo.get("/api/private", result.stdout.strip())
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_issuer"
    assert "it trusts http://127.0.0.1:8001/, its local development issuer" in response.json()["detail"]
    assert "AUTH0_DEV_ISSUER_URL=http://127.0.0.1:8001/" in response.headers["WWW-Authenticate"]
