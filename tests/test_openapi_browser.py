"""Swagger UI's Authorize button in a real browser, in each ``OPENAPI_SCHEME`` mode, on a live demo server.

Headless Chromium (Debian's, as in test_admin_browser.py) opens ``/api/docs/``, checks that the dialog
matches the configured scheme, logs in, and calls an endpoint that needs a scope. The login goes to
``AuthorizationServer``: Auth0's ``/authorize`` and ``/oauth/token`` in miniature, on loopback, which
checks what Auth0 would (the audience, PKCE, the client and its callback URL) and issues access tokens
auth0_drf then verifies like any others. Screenshots go to ``screenshots/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

pytest.importorskip("drf_spectacular")

from drf_spectacular.settings import patched_settings  # noqa: E402

from auth0_drf import testing  # noqa: E402 (not TestIssuer itself: pytest would try to collect it)
from demo_project.settings import swagger_ui_settings  # noqa: E402
from tests.test_admin_browser import SCREENSHOTS, headless_chromium, require_chromium  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "swagger-ui-spa"


class AuthorizationServer(testing.TestIssuer):
    """An Auth0 tenant in miniature: ``/authorize``, ``/oauth/token``, discovery and the JWKS, on loopback HTTP.

    ``/authorize`` refuses what Auth0 would refuse or what would give an unusable token (no audience, no
    PKCE, another client) and redirects with a code; ``/oauth/token`` checks the PKCE verifier, client and
    redirect URI against the code and answers with an access token for the scopes asked for, with CORS
    headers (the browser calls it from the docs page's origin). Every request is kept in ``seen``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._codes: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                url = urlsplit(self.path)
                self.answer(*server.get(url.path, single(parse_qs(url.query))))

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                self.answer(*server.post(urlsplit(self.path).path, single(parse_qs(body))))

            def do_OPTIONS(self) -> None:  # noqa: N802 (a CORS preflight)
                requested = self.headers.get("Access-Control-Request-Headers", "")
                allowed = {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": requested}
                self.answer(204, allowed, b"")

            def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in {"Access-Control-Allow-Origin": self.headers.get("Origin", "*"), **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def issuer(self) -> str:  # type: ignore[override]
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def jwks_uri(self) -> str:  # type: ignore[override]
        return self.issuer + ".well-known/jwks.json"

    def start(self) -> AuthorizationServer:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_to(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [params for method, seen_path, params in self.seen if seen_path == path]

    def get(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.seen.append(("GET", path, params))
        if path == "/.well-known/jwks.json":
            return json_answer(self.jwks())
        if path == "/.well-known/openid-configuration":
            return json_answer(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": self.issuer + "authorize",
                    "token_endpoint": self.issuer + "oauth/token",
                    "jwks_uri": self.jwks_uri,
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )
        if path == "/authorize":
            problem = self.authorize_problem(params)
            if problem:
                return 400, {"Content-Type": "text/plain"}, problem.encode()
            code = secrets.token_urlsafe(16)
            with self._lock:
                self._codes[code] = params
            location = f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params.get('state', '')})}"
            return 302, {"Location": location}, b""
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def authorize_problem(self, params: dict[str, str]) -> str:
        if params.get("response_type") != "code":
            return "response_type must be code"
        if params.get("client_id") != CLIENT_ID:
            return "unknown client"
        if params.get("audience") != self.audience:
            # Auth0 would issue a token for /userinfo only, which no API can verify.
            return "no audience: the access token would not be a JWT for the API"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "a public client must use PKCE"
        return ""

    def post(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.seen.append(("POST", path, form))
            granted = self._codes.pop(form.get("code", ""), None)
        if path != "/oauth/token":
            return 404, {"Content-Type": "text/plain"}, b"not found"
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if (
            granted is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != granted["client_id"]
            or form.get("redirect_uri") != granted["redirect_uri"]
            or challenge != granted["code_challenge"]
        ):
            return json_answer({"error": "invalid_grant"}, status=403)
        scope = granted.get("scope", "")
        token = self.token(sub="auth0|swagger-user", scope=scope)
        return json_answer({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": scope})


def single(params: dict[str, list[str]]) -> dict[str, str]:
    return {name: values[0] for name, values in params.items()}


def json_answer(data: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


@pytest.fixture
def tenant(auth0_signing_key: Any) -> Iterator[AuthorizationServer]:
    with AuthorizationServer(keys=[auth0_signing_key]) as server:
        yield server


@pytest.fixture
def docs(live_server: Any, tenant: AuthorizationServer, settings: Any) -> Iterator[Any]:
    """Return a function that opens Swagger UI in ``mode``, against the live server trusting ``tenant``."""
    require_chromium()
    SCREENSHOTS.mkdir(exist_ok=True)
    with headless_chromium() as browser:

        def open_docs(mode: str) -> Any:
            settings.AUTH0_DRF = tenant.settings(OPENAPI_SCHEME=mode)
            # drf-spectacular reads its settings once; patched_settings changes them for the live server too.
            patches.append(patched_settings(swagger_ui_settings(mode, CLIENT_ID, tenant.audience)))
            patches[-1].__enter__()
            browser.get(f"{live_server.url}/api/docs/")
            return browser

        patches: list[Any] = []
        try:
            yield open_docs
        finally:
            for patch in patches:
                patch.__exit__(None, None, None)


def open_authorize_dialog(browser: Any) -> Any:
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper button.authorize").click()
    return browser.find_element(By.CSS_SELECTOR, ".modal-ux")


def checkboxes(element: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(element.find_elements(By.CSS_SELECTOR, "input[type=checkbox]"))


def wait_for(browser: Any, predicate: Any, message: str, timeout: float = 15) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda b: predicate(), message
    )


def wait_for_login(browser: Any) -> Any:
    """Wait until the dialog says the login finished (Swagger UI re-renders it: look it up afresh)."""
    from selenium.webdriver.common.by import By

    logout = "//div[contains(@class, 'auth-container')]//button[normalize-space()='Logout']"
    wait_for(browser, lambda: browser.find_elements(By.XPATH, logout), "the login did not finish")
    return browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-container")


def try_private_scoped(browser: Any) -> str:
    """Expand GET /api/private-scoped/, try it out, execute it, and return the response's status code."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, '.opblock-summary-path[data-path="/api/private-scoped/"]').click()
    block = browser.find_element(By.CSS_SELECTOR, ".opblock.is-open")
    block.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    status = block.find_element(By.CSS_SELECTOR, ".live-responses-table .response .response-col_status")
    wait_for(browser, lambda: status.text.strip(), "no response was shown")
    return str(status.text.split()[0])  # an undocumented status is shown with the word "Undocumented"


def test_bearer_mode_asks_for_a_token_to_paste_and_sends_it(docs, tenant):
    from selenium.webdriver.common.by import By

    browser = docs("bearer")
    dialog = open_authorize_dialog(browser)
    assert dialog.find_element(By.CSS_SELECTOR, ".auth-container h4").text.split() == ["auth0", "(http,", "Bearer)"]
    assert not checkboxes(dialog)  # no scopes to pick
    browser.save_screenshot(str(SCREENSHOTS / "openapi-bearer-authorize.png"))
    dialog.find_element(By.CSS_SELECTOR, ".auth-container input").send_keys(tenant.token(scope="read:messages"))
    dialog.find_element(By.CSS_SELECTOR, "button.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
    assert try_private_scoped(browser) == "200"


def test_oauth2_mode_logs_in_with_auth0s_authorization_code_flow_and_pkce(docs, tenant, live_server):
    from selenium.webdriver.common.by import By

    browser = docs("oauth2")
    dialog = open_authorize_dialog(browser)
    container = dialog.find_element(By.CSS_SELECTOR, ".auth-container")
    title = container.find_element(By.CSS_SELECTOR, "h4").text
    assert " ".join(title.split()) == "auth0 (OAuth2, authorizationCode with PKCE)"
    text = container.text
    assert f"{tenant.issuer}authorize?audience=https%3A%2F%2Fapi.example.test%2F" in text
    assert f"{tenant.issuer}oauth/token" in text
    client_id = container.find_element(By.CSS_SELECTOR, "input#client_id_authorizationCode")
    assert client_id.get_attribute("value") == CLIENT_ID
    boxes = {box.get_attribute("data-value"): box for box in checkboxes(container)}
    assert sorted(boxes) == ["archive:messages", "read:messages", "write:messages"]
    # The checkbox itself is hidden behind Swagger UI's styled label.
    browser.execute_script("arguments[0].click()", boxes["read:messages"])
    browser.save_screenshot(str(SCREENSHOTS / "openapi-oauth2-authorize.png"))
    container.find_element(By.CSS_SELECTOR, "button.authorize").click()  # opens the login popup
    container = wait_for_login(browser)
    assert "Authorized" in container.text
    browser.save_screenshot(str(SCREENSHOTS / "openapi-oauth2-authorized.png"))

    [authorize] = tenant.requests_to("/authorize")
    assert authorize["audience"] == tenant.audience
    assert authorize["scope"] == "read:messages"
    assert authorize["redirect_uri"] == f"{live_server.url}/api/docs/oauth2-redirect.html"
    [exchange] = tenant.requests_to("/oauth/token")
    assert exchange["code_verifier"] and "client_secret" not in exchange

    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
    assert try_private_scoped(browser) == "200"
    browser.save_screenshot(str(SCREENSHOTS / "openapi-oauth2-tried.png"))


def test_openid_connect_mode_reads_the_discovery_document_and_logs_in(docs, tenant):
    from selenium.webdriver.common.by import By

    browser = docs("openIdConnect")
    dialog = open_authorize_dialog(browser)
    container = dialog.find_element(By.CSS_SELECTOR, ".auth-container")
    # Swagger UI fetched the discovery document and shows its flow and scopes.
    wait_for(browser, lambda: "authorization_code" in container.text, "no flow from the discovery document")
    assert f"{tenant.issuer}authorize" in container.text
    boxes = [box.get_attribute("data-value") for box in checkboxes(container)]
    assert boxes == ["openid", "profile", "email", "offline_access"]
    browser.save_screenshot(str(SCREENSHOTS / "openapi-openidconnect-authorize.png"))
    container.find_element(By.CSS_SELECTOR, "button.authorize").click()
    wait_for_login(browser)
    # The audience came from SWAGGER_UI_OAUTH2_CONFIG: the discovery document's /authorize has none.
    [authorize] = tenant.requests_to("/authorize")
    assert authorize["audience"] == tenant.audience
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
    # No API scope was asked for: the token has none, and the scoped endpoint refuses it (RBAC would add them).
    assert try_private_scoped(browser) == "403"
