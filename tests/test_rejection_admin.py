"""The rejections page of the admin: real rejected requests, real admin requests, real permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from auth0_drf.rejectcounts import rejection_counter
from tests.helpers import get, staff_client

pytestmark = pytest.mark.django_db

User = get_user_model()
PAGE = reverse("admin:auth0_drf_rejectioncount_changelist")


@pytest.fixture
def rejections(auth0_issuer) -> None:
    """A few rejected requests of several kinds, written to the database."""
    for _ in range(3):
        assert get("not-a-jwt").status_code == 401
    assert get(auth0_issuer.token(audience="https://other-api.example/")).status_code == 401
    assert get(auth0_issuer.token(lifetime=-60, claims={"azp": "mobile-app"})).status_code == 401
    assert get(auth0_issuer.token(lifetime=-60)).status_code == 401
    rejection_counter.flush()


def rows_of(content: str) -> dict[str, str]:
    """Return each table row's text by its code (the page's HTML, parsed just enough)."""
    rows: dict[str, str] = {}
    for chunk in content.split('<tr class="auth0-drf-rejection" data-code="')[1:]:
        code, rest = chunk.split('"', 1)
        rows[code] = rest.split("</tr>", 1)[0]
    return rows


def test_the_page_shows_a_chart_and_a_table_per_code_with_advice(rejections, auth0_issuer):
    response = staff_client("view_rejectioncount").get(PAGE)
    assert response.status_code == 200
    content = response.content.decode()
    assert '<svg id="auth0-drf-rejections-chart"' in content
    assert content.count('<rect class="bar" data-code="not_a_jwt"') == 1
    assert "<title>" in content and ">not_a_jwt: 3<" not in content  # the tooltip names the time too
    rows = rows_of(content)
    assert list(rows) == ["not_a_jwt", "token_expired", "invalid_audience"]
    assert '<td class="rejection-count">3</td>' in rows["not_a_jwt"]
    assert "<li>unverified (3)</li>" in rows["not_a_jwt"]
    assert "request the token with audience=https://api.example.test/" in rows["not_a_jwt"]
    assert "<li>mobile-app (1)</li>" in rows["token_expired"] and "<li>test-client-id (1)</li>" in rows["token_expired"]
    assert "get a new one from Auth0" in rows["token_expired"]
    # The verified aud of the token, and the audience this API wants.
    assert (
        "aud is &quot;https://other-api.example/&quot;; request the token with audience=https://api.example.test/."
        in rows["invalid_audience"]
    )
    assert "no CDN" not in content and "<script" not in content.split('id="content-main"', 1)[1]


def test_the_page_writes_this_processes_counts_first(auth0_issuer):
    assert get("not-a-jwt").status_code == 401
    assert len(rejection_counter) == 1
    rows = rows_of(staff_client("view_rejectioncount").get(PAGE).content.decode())
    assert '<td class="rejection-count">1</td>' in rows["not_a_jwt"]


def test_the_filters_narrow_the_table_to_an_issuer_or_a_client(rejections, auth0_issuer):
    client = staff_client(superuser=True)
    by_client = rows_of(client.get(PAGE, {"client": "mobile-app"}).content.decode())
    assert list(by_client) == ["token_expired"]
    assert "<li>mobile-app (1)</li>" in by_client["token_expired"]
    by_issuer = rows_of(client.get(PAGE, {"issuer": auth0_issuer.issuer, "hours": "1"}).content.decode())
    assert list(by_issuer) == ["token_expired", "invalid_audience"]
    unverified = rows_of(client.get(PAGE, {"issuer": "unverified", "hours": "168"}).content.decode())
    assert list(unverified) == ["not_a_jwt"]
    nothing = client.get(PAGE, {"issuer": "https://nobody.example/"})
    assert nothing.status_code == 200
    assert "No rejections in this range." in nothing.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hours": "5"}, "Select a valid choice. 5 is not one of the available choices."),
        ({"hours": "lots"}, "Select a valid choice. lots is not one of the available choices."),
        ({"issuer": "x" * 300}, "Ensure this value has at most 255 characters (it has 300)."),
        ({"client": "a\x01b"}, "Control characters are not allowed here."),
    ],
)
def test_a_bad_filter_is_a_clear_message_not_a_500(rejections, params, message):
    response = staff_client(superuser=True).get(PAGE, params)
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="auth0-drf-rejections-errors"' in content
    assert message in content
    assert 'id="auth0-drf-rejections-chart"' not in content


# --- who may see it -------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page():
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_non_staff_users_are_sent_to_the_login_page():
    user = User.objects.create_user("plain", password="pw")
    user.user_permissions.set(Permission.objects.filter(codename="view_rejectioncount"))
    client = Client()
    client.force_login(user)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("perms", [(), ("view_claimrecord",), ("change_rejectioncount",), ("delete_rejectioncount",)])
def test_staff_without_the_view_permission_are_refused(rejections, perms):
    response = staff_client(*perms).get(PAGE)
    assert response.status_code == 403
    assert b"not_a_jwt" not in response.content


def test_the_page_is_listed_on_the_admin_index_for_those_who_may_see_it():
    index = reverse("admin:index")
    assert PAGE.encode() in staff_client("view_rejectioncount").get(index).content
    User.objects.all().delete()
    assert PAGE.encode() not in staff_client("view_claimrecord").get(index).content


def test_there_is_nothing_to_add_change_or_delete():
    client = staff_client(superuser=True)
    assert client.get(PAGE + "add/").status_code == 404
    assert client.get(PAGE + "1/change/").status_code == 404
