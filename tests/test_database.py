"""The identity table on the configured database (SQLite by default, PostgreSQL with bin/test-postgres)."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from auth0_drf.models import Auth0Identity

pytestmark = pytest.mark.django_db


def claims_of(token: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/api/claims")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_suite_runs_on_the_database_named_by_database_url():
    url = os.environ.get("DATABASE_URL", "sqlite:")
    expected = "postgresql" if url.startswith(("postgres:", "postgresql:", "pgsql:")) else url.split(":", 1)[0]
    assert connection.vendor == expected


def test_subjects_differing_only_in_case_are_two_identities(auth0_issuer):
    first = claims_of(auth0_issuer.token(sub="auth0|Alice"))["user"]["id"]
    second = claims_of(auth0_issuer.token(sub="auth0|alice"))["user"]["id"]
    assert first != second
    assert Auth0Identity.objects.count() == 2


@pytest.mark.parametrize("char", ["\u00e9", "\u20ac", "\U0001f600"], ids=["2-byte", "3-byte", "4-byte"])
def test_the_longest_subject_is_stored_whole_in_any_encoding(auth0_issuer, char):
    sub = "auth0|" + char * 249  # 255 characters: the limit of sub and of the subject column
    claims_of(auth0_issuer.token(sub=sub))
    assert Auth0Identity.objects.get().subject == sub


def test_claims_with_nul_and_unicode_render_but_never_reach_the_database(auth0_issuer):
    # PostgreSQL cannot store NUL in text; only sub and iss are stored, and sub may not hold one.
    body = claims_of(auth0_issuer.token(sub="auth0|n", claims={"https://auth0-drf-demo/note": "a\u0000b \U0001f600"}))
    assert body["claims"]["https://auth0-drf-demo/note"] == "a\u0000b \U0001f600"
    assert Auth0Identity.objects.get().subject == "auth0|n"
