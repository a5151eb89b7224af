"""Translated texts: bodies and check messages in the client's language, challenges in English, catalogues complete.

The catalogues are checked against the source itself: the message ids are extracted afresh (as
``bin/translations`` does), so a text added without a translation fails here, with the list of
what each language lacks. GNU gettext (``msgfmt``, ``xgettext``) must be installed:
``bash bin/system-deps`` or ``apt-get install gettext``.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import Error
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from auth0_drf.checks import check_settings, check_throttle_rates
from auth0_drf.rejectcounts import rejection_counter

from .helpers import get

PACKAGE = Path(__file__).resolve().parent.parent / "auth0_drf"
LOCALE = PACKAGE / "locale"
#: The languages that ship, as in bin/translations.
LANGUAGES = ("de", "fr", "es", "pt_BR", "ja")
#: What bin/translations leaves out of the extraction.
IGNORED = ("testing/*", "migrations/*")
#: Placeholders a translation must keep: %(name)s for interpolation, {name} for str.format.
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+(?:![rs])?\}")

EXPIRED_EN = "The access token has expired: get a new one from Auth0."
EXPIRED_DE = "Das Zugriffstoken ist abgelaufen: Holen Sie sich ein neues von Auth0."


def with_locale_middleware() -> list[str]:
    """Return the test settings' middleware with LocaleMiddleware where Django documents it."""
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index("django.contrib.sessions.middleware.SessionMiddleware") + 1, LOCALE_MIDDLEWARE)
    return middleware


LOCALE_MIDDLEWARE = "django.middleware.locale.LocaleMiddleware"


def gettext_tool(name: str) -> str:
    """Return the path of a GNU gettext program, or fail saying how to install it (never skip)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: install GNU gettext (bash bin/system-deps, or apt-get install gettext)")
    return path


# --- the language of bodies and headers -----------------------------------------------------


@pytest.fixture(autouse=True)
def language_restored():
    """Restore the active language: LocaleMiddleware leaves the last request's active in the thread."""
    with translation.override(translation.get_language()):
        yield


@pytest.mark.django_db
def test_an_expired_token_is_refused_in_german_with_the_english_challenge(auth0_issuer):
    token = auth0_issuer.token(lifetime=-3600)
    with override_settings(MIDDLEWARE=with_locale_middleware()):
        english = get(token, HTTP_ACCEPT_LANGUAGE="en")
        german = get(token, HTTP_ACCEPT_LANGUAGE="de")
    assert english.status_code == german.status_code == 401
    assert english.json() == {"detail": EXPIRED_EN, "code": "token_expired"}
    assert german.json() == {"detail": EXPIRED_DE, "code": "token_expired"}
    assert german["Content-Language"] == "de"
    # RFC 6750 section 3: the challenge is ASCII, and the same whatever the client's language.
    assert german["WWW-Authenticate"].encode("ascii") == english["WWW-Authenticate"].encode("ascii")
    assert f'error_description="{EXPIRED_EN}"' in german["WWW-Authenticate"]


@pytest.mark.django_db
def test_a_missing_scope_is_refused_in_german_with_the_english_challenge(auth0_issuer):
    token = auth0_issuer.token(scope="openid")
    with override_settings(MIDDLEWARE=with_locale_middleware()):
        english = get(token, "/api/private-scoped", HTTP_ACCEPT_LANGUAGE="en")
        german = get(token, "/api/private-scoped", HTTP_ACCEPT_LANGUAGE="de")
    assert english.status_code == german.status_code == 403
    assert english.json()["detail"] == "The access token lacks required scopes; it needs all of: read:messages."
    assert german.json() == {
        "detail": "Dem Zugriffstoken fehlen erforderliche Scopes; es braucht alle von: read:messages.",
        "code": "insufficient_scope",
        "missing_scopes": ["read:messages"],
    }
    assert german["WWW-Authenticate"].encode("ascii") == english["WWW-Authenticate"].encode("ascii")
    assert 'error="insufficient_scope"' in german["WWW-Authenticate"]


@pytest.mark.django_db
def test_one_raised_error_reads_in_each_requests_language(auth0_issuer):
    # Messages are lazy: an error's text is rendered for the response it is in, not when raised.
    token = auth0_issuer.token(lifetime=-3600)
    with override_settings(MIDDLEWARE=with_locale_middleware()):
        details = [get(token, HTTP_ACCEPT_LANGUAGE=language).json()["detail"] for language in ("de", "en", "ja")]
    assert details == [
        EXPIRED_DE,
        EXPIRED_EN,
        "アクセストークンの有効期限が切れています。Auth0 から新しいトークンを取得してください。",
    ]


def test_a_system_check_speaks_the_active_language():
    with override_settings(AUTH0_DRF={"DOMAIN": "example.eu.auth0.com", "AUDIENCE": "https://api", "LEEWAY": "5"}):
        with translation.override("de"):
            german = check_settings()
        english = check_settings()
    assert german == [
        Error(
            "AUTH0_DRF['LEEWAY'] muss eine Zahl von mindestens 0 sein.",
            hint="Setzen Sie AUTH0_DRF['LEEWAY'] auf eine Zahl, oder entfernen Sie es für den Standardwert (5).",
            id="auth0_drf.E007",
        )
    ]
    assert english == [
        Error(
            "AUTH0_DRF['LEEWAY'] must be a number of at least 0.",
            hint="Set AUTH0_DRF['LEEWAY'] to a number, or remove it for the default (5).",
            id="auth0_drf.E007",
        )
    ]


def test_a_system_check_with_values_in_it_is_translated_around_them():
    with override_settings(AUTH0_DRF={"DOMAIN": "example.eu.auth0.com"}), translation.override("fr"):
        (error,) = check_settings()
    assert error.msg == "Aucune AUDIENCE n'est configurée pour l'émetteur https://example.eu.auth0.com/."
    assert error.id == "auth0_drf.E002"


def test_a_throttle_rate_check_is_translated_with_every_part_of_it():
    # The parts put into the message (where the throttle is named, what is wrong) are translated too.
    rest = {
        "DEFAULT_THROTTLE_CLASSES": ["auth0_drf.throttling.SubjectRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"auth0_subject": 100},
    }
    with override_settings(REST_FRAMEWORK=rest), translation.override("de"):
        (error,) = check_throttle_rates()
    assert error.msg == (
        "Die Rate der Drosselung auth0_drf.throttling.SubjectRateThrottle "
        "(in REST_FRAMEWORK['DEFAULT_THROTTLE_CLASSES']), REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['auth0_subject'], "
        "ist kein String."
    )
    assert error.id == "auth0_drf.E020"


def superuser_client(language: str) -> Client:
    """Return a logged-in superuser's client whose requests ask for ``language``."""
    user = get_user_model().objects.create_superuser("root", "root@example.test", "pw")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_rejections_page_is_in_the_admin_users_language(auth0_issuer):
    assert get(auth0_issuer.token(lifetime=-60)).status_code == 401
    rejection_counter.flush()
    with override_settings(MIDDLEWARE=with_locale_middleware()):
        response = superuser_client("de").get(reverse("admin:auth0_drf_rejectioncount_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Ablehnungen pro 10 Minuten, nach Code</title>" in html
    assert ">letzte 24 Stunden</option>" in html
    assert '<th scope="col">Was zu tun ist</th>' in html
    # The advice is the German body of the rejection; the code stays as it is.
    assert EXPIRED_DE in html and "<code>token_expired</code>" in html
    assert "1 Ablehnung" in html


@pytest.mark.django_db
def test_the_token_inspector_is_in_the_admin_users_language(auth0_issuer):
    with override_settings(MIDDLEWARE=with_locale_middleware()):
        client = superuser_client("ja")
        page = reverse("admin:auth0_drf_tokeninspector_changelist")
        empty = client.post(page, {"token": " "}).content.decode()
        expired = client.post(page, {"token": auth0_issuer.token(lifetime=-3600)}).content.decode()
    assert "検査するアクセストークンを入力欄に貼り付けてください。" in empty
    assert "判定: この API はこのトークンを拒否します: 問題 1 件。" in expired
    # The words of auth0_inspect: the kind of token, and what to do about its problem.
    assert "トークン: 署名付き JWT (JWS)" in expired
    assert "前に期限切れになりました" in expired and "Auth0 から新しいトークンを取得してください。" in expired
    assert '<th scope="row">信頼する発行者</th>' in expired
    assert "<h2>この API の設定</h2>" in expired


# --- the catalogues -------------------------------------------------------------------------


def parse_po(path: Path) -> list[dict[str, Any]]:
    """Return the entries of a .po file (blank-line separated, as msgmerge writes them), the header left out.

    Each is ``{"msgid", "msgid_plural", "msgstr": [forms], "fuzzy"}``; obsolete (``#~``) entries are skipped.
    """
    entries = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        fields: dict[str, list[str]] = {}
        current: list[str] | None = None
        fuzzy = False
        for line in block.strip().splitlines():
            if line.startswith("#,"):
                fuzzy = fuzzy or "fuzzy" in line
            elif line.startswith("#"):
                continue
            elif match := re.fullmatch(r"(msgid|msgid_plural|msgstr(?:\[\d+\])?) (\".*\")", line):
                current = fields.setdefault(match.group(1), [])
                current.append(ast.literal_eval(match.group(2)))
            elif line.startswith('"') and current is not None:
                current.append(ast.literal_eval(line))
        msgid = "".join(fields.get("msgid", []))
        if msgid:
            forms = sorted(key for key in fields if key.startswith("msgstr"))
            entries.append(
                {
                    "msgid": msgid,
                    "msgid_plural": "".join(fields.get("msgid_plural", [])),
                    "msgstr": ["".join(fields[key]) for key in forms],
                    "fuzzy": fuzzy,
                }
            )
    return entries


@pytest.fixture(scope="module")
def source_msgids(tmp_path_factory) -> set[str]:
    """Extract every message id from the source now, as bin/translations does, into a temporary copy."""
    gettext_tool("xgettext")
    copy = tmp_path_factory.mktemp("extract") / "auth0_drf"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    (copy / "locale").mkdir()
    ignores = [argument for pattern in IGNORED for argument in ("--ignore", pattern)]
    # No DJANGO_SETTINGS_MODULE: makemessages configures the settings it needs itself.
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "--locale", "en", "--keep-pot", *ignores],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    msgids = {entry["msgid"] for entry in parse_po(copy / "locale" / "django.pot")}
    assert len(msgids) > 150, "the extraction found too few texts"
    return msgids


def test_every_text_in_the_source_has_a_translation_in_every_shipped_language(source_msgids):
    missing: dict[str, list[str]] = {}
    for language in LANGUAGES:
        translated = {
            entry["msgid"]
            for entry in parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")
            if not entry["fuzzy"] and entry["msgstr"] and all(entry["msgstr"])
        }
        lacking = sorted(source_msgids - translated)
        if lacking:
            missing[language] = lacking
    report = "\n".join(
        f"{language} ({len(msgids)} missing):\n" + "\n".join(f"  msgid {msgid!r}" for msgid in msgids)
        for language, msgids in missing.items()
    )
    assert not missing, (
        "texts without a (non-fuzzy) translation; run bash bin/translations, translate them in "
        f"auth0_drf/locale/<lang>/LC_MESSAGES/django.po, then run it again:\n{report}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_compiled_catalogue_is_the_compiled_po_file_with_matching_placeholders(language, tmp_path):
    msgfmt = gettext_tool("msgfmt")
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    compiled = tmp_path / "django.mo"
    # The options compilemessages uses; --check-format refuses a translation whose placeholders differ.
    result = subprocess.run(
        [msgfmt, "--check-format", "-o", str(compiled), str(po)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    shipped = LOCALE / language / "LC_MESSAGES" / "django.mo"
    assert shipped.read_bytes() == compiled.read_bytes(), f"{shipped} is stale: run bash bin/translations"
    # msgfmt checks only the entries xgettext flagged; {default!r} is flagged nowhere, so compare all here.
    for entry in parse_po(po):
        sources = [entry["msgid"]] + [entry["msgid_plural"] or entry["msgid"]] * (len(entry["msgstr"]) - 1)
        for source, translation_text in zip(sources, entry["msgstr"], strict=True):
            if translation_text:
                assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(translation_text)), (
                    language,
                    source,
                )
