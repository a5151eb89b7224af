"""Claims to user fields, flags and groups (``auth0_drf.usersync``): written on creation and on change only."""

from __future__ import annotations

import logging
from io import StringIO
from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.db import IntegrityError, OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from auth0_drf.checks import check_settings
from auth0_drf.models import Auth0Identity
from auth0_drf.usersync import wait_for_profiles

from .helpers import claims_of, get, m2m_token, run_together, warm_up

pytestmark = pytest.mark.django_db

User = get_user_model()
NS = "https://auth0-drf-demo/"
ROLES = NS + "roles"
FIELDS = {"email": "email", "first_name": "given_name", "last_name": "family_name"}
FLAGS = {"is_staff": (ROLES, "admin")}


def mapping(issuer: Any, **overrides: Any) -> dict[str, Any]:
    """The AUTH0_DRF settings of these tests: fields, a flag and groups from the demo's namespace."""
    values: dict[str, Any] = {
        "CLAIMS_NAMESPACE": NS,
        "USER_FIELDS": FIELDS,
        "USER_FLAGS": FLAGS,
        "GROUPS_CLAIM": "roles",
    }
    values.update(overrides)
    return issuer.settings(**values)


def profile_token(issuer: Any, sub: str = "auth0|ada", roles: Any = (), **claims: Any) -> str:
    """A token with the profile claims an Auth0 Action adds (email, names, roles), under the namespace."""
    values: dict[str, Any] = {NS + "email": "ada@example.com", NS + "given_name": "Ada", NS + "family_name": "Lovelace"}
    if roles is not None:
        values[ROLES] = list(roles) if not isinstance(roles, str) else roles
    values.update({(name if ":" in name else NS + name): value for name, value in claims.items()})
    return issuer.token(sub=sub, claims=values)


def user_of(sub: str) -> Any:
    return Auth0Identity.objects.select_related("user").get(subject=sub).user


def group_names(user: Any) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def warnings_of(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "auth0_drf" and r.levelno == logging.WARNING]


# --- claims to user fields ---------------------------------------------------------------------------


def test_mapped_claims_fill_the_fields_of_a_new_user(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer)).status_code == 200
    user = user_of("auth0|ada")
    assert (user.email, user.first_name, user.last_name) == ("ada@example.com", "Ada", "Lovelace")


def test_a_bare_claim_name_is_read_under_the_namespace_first_then_as_it_is(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer, USER_FIELDS={"first_name": "given_name", "last_name": "family_name"})
    token = auth0_issuer.token(sub="auth0|bare", claims={"given_name": "Plain", NS + "given_name": "Namespaced"})
    token_without = auth0_issuer.token(sub="auth0|bare2", claims={"given_name": "Plain"})
    assert get(token).status_code == 200 and get(token_without).status_code == 200
    assert user_of("auth0|bare").first_name == "Namespaced"
    assert user_of("auth0|bare2").first_name == "Plain"


def test_a_claim_named_by_its_full_url_is_read_as_it_is(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer, USER_FIELDS={"email": "https://other.example/mail"})
    token = auth0_issuer.token(sub="auth0|url", claims={"https://other.example/mail": "url@example.com"})
    assert get(token).status_code == 200
    assert user_of("auth0|url").email == "url@example.com"


def test_a_changed_claim_changes_the_field_and_a_missing_one_leaves_it(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer)).status_code == 200
    assert get(profile_token(auth0_issuer, email="ada@lovelace.example")).status_code == 200
    assert user_of("auth0|ada").email == "ada@lovelace.example"
    token = auth0_issuer.token(sub="auth0|ada", claims={NS + "given_name": "Augusta"})
    assert get(token).status_code == 200
    user = user_of("auth0|ada")
    assert (user.email, user.first_name, user.last_name) == ("ada@lovelace.example", "Augusta", "Lovelace")


@pytest.mark.parametrize(
    ("claim", "value", "problem"),
    [
        ("email", "not an email", "invalid (invalid)"),
        ("email", "x" * 250 + "@example.com", "invalid (max_length)"),
        ("email", 42, "not a string"),
        ("email", "nul\x00@example.com", "holds a NUL character"),
        ("given_name", "A" * 151, "invalid (max_length)"),
        ("given_name", ["Ada"], "not a string"),
    ],
)
def test_a_claim_that_does_not_fit_its_field_is_skipped_with_one_warning(
    auth0_issuer, settings, caplog, claim, value, problem
):
    settings.AUTH0_DRF = mapping(auth0_issuer, RECORD_CLAIMS=False)  # PostgreSQL's JSON refuses NUL: the recorder warns
    field = {"email": "email", "given_name": "first_name"}[claim]
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        assert get(profile_token(auth0_issuer, **{claim: value})).status_code == 200
        assert get(profile_token(auth0_issuer, **{claim: value})).status_code == 200  # steady: no second line
    assert warnings_of(caplog) == [f"auth0_drf: claim {claim} does not fit user field {field} ({problem}): skipped"]
    user = user_of("auth0|ada")
    assert getattr(user, field) == ""
    assert user.last_name == "Lovelace"  # the claims that fit are written


# --- flags ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [["admin", "editor"], "editor admin"])
def test_a_flag_is_true_while_the_claim_contains_its_value(auth0_issuer, settings, roles):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer, roles=roles)).status_code == 200
    assert user_of("auth0|ada").is_staff is True
    assert get(profile_token(auth0_issuer, roles=["editor"])).status_code == 200
    assert user_of("auth0|ada").is_staff is False
    assert get(profile_token(auth0_issuer, roles=None)).status_code == 200
    assert user_of("auth0|ada").is_staff is False


def test_a_value_that_only_contains_the_flag_value_is_not_a_match(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer, roles=["administrator", "not-admin"])).status_code == 200
    assert user_of("auth0|ada").is_staff is False


def test_is_superuser_is_set_only_when_mapped(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer, roles=["admin", "superuser"])).status_code == 200
    assert user_of("auth0|ada").is_superuser is False
    settings.AUTH0_DRF = mapping(auth0_issuer, USER_FLAGS={"is_superuser": (ROLES, "superuser")})
    assert get(profile_token(auth0_issuer, roles=["admin", "superuser"])).status_code == 200
    assert user_of("auth0|ada").is_superuser is True


# --- roles to groups -------------------------------------------------------------------------------------


def test_only_existing_groups_are_joined_by_default(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    Group.objects.create(name="reviewers")
    assert get(profile_token(auth0_issuer, roles=["reviewers", "ghosts"])).status_code == 200
    assert group_names(user_of("auth0|ada")) == {"reviewers"}
    assert not Group.objects.filter(name="ghosts").exists()


def test_mirror_groups_creates_the_missing_ones(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer, MIRROR_GROUPS=True)
    Group.objects.create(name="reviewers")
    assert get(profile_token(auth0_issuer, roles="reviewers ghosts")).status_code == 200
    assert group_names(user_of("auth0|ada")) == {"reviewers", "ghosts"}
    assert Group.objects.filter(name="ghosts").count() == 1


def test_a_group_name_that_only_equals_another_ignoring_case_is_not_joined(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    Group.objects.create(name="Reviewers")
    assert get(profile_token(auth0_issuer, roles=["reviewers"])).status_code == 200
    assert group_names(user_of("auth0|ada")) == set()


def test_memberships_follow_the_claim_and_those_given_by_hand_stay(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    for name in ("a", "b", "c", "by-hand", "both"):
        Group.objects.create(name=name)
    assert get(profile_token(auth0_issuer, roles=["a", "b"])).status_code == 200
    user = user_of("auth0|ada")
    user.groups.add(Group.objects.get(name="by-hand"), Group.objects.get(name="both"))
    assert get(profile_token(auth0_issuer, roles=["b", "c", "both"])).status_code == 200
    assert group_names(user) == {"b", "c", "by-hand", "both"}
    assert get(profile_token(auth0_issuer, roles=[])).status_code == 200
    assert group_names(user) == {"by-hand", "both"}  # "both" was given by hand before the claim named it
    identity = Auth0Identity.objects.get(subject="auth0|ada")
    assert identity.managed_groups == []


def test_a_group_renamed_in_the_admin_stays_managed(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    group = Group.objects.create(name="old-name")
    assert get(profile_token(auth0_issuer, roles=["old-name"])).status_code == 200
    group.name = "new-name"
    group.save()
    assert get(profile_token(auth0_issuer, roles=["other"])).status_code == 200
    assert group_names(user_of("auth0|ada")) == set()


# --- in sync, not on every request --------------------------------------------------------------------------


def test_steady_state_makes_no_queries_with_fields_flags_and_groups_mapped(
    auth0_issuer, client_for, settings, django_assert_num_queries
):
    settings.AUTH0_DRF = mapping(auth0_issuer, MIRROR_GROUPS=True)
    client = client_for(profile_token(auth0_issuer, roles=["admin", "editor"]))
    warm_up(client)
    with django_assert_num_queries(0):
        for _ in range(20):
            assert client.get("/api/private").status_code == 200


def test_a_changed_claim_is_one_write_transaction_and_the_next_request_is_free(
    auth0_issuer, client_for, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    settings.AUTH0_DRF = mapping(auth0_issuer, RECORD_CLAIMS=False)  # the recorder writes on a change too
    Group.objects.create(name="editor-2")
    warm_up(client_for(profile_token(auth0_issuer, roles=["admin"])))
    changed = client_for(profile_token(auth0_issuer, roles=["editor-2"], email="new@example.com"))
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        assert changed.get("/api/private").status_code == 200
    sqls = [query["sql"] for query in queries.captured_queries]
    starts = [i for i, sql in enumerate(sqls) if sql.startswith("SAVEPOINT")]
    ends = [i for i, sql in enumerate(sqls) if sql.startswith("RELEASE SAVEPOINT")]
    assert len(starts) == len(ends) == 1  # one transaction (a savepoint inside the test's own)
    writes = [i for i, sql in enumerate(sqls) if sql.startswith(("UPDATE", "INSERT", "DELETE"))]
    assert writes and all(starts[0] < i < ends[0] for i in writes)
    user_table, identity_table = User._meta.db_table, Auth0Identity._meta.db_table
    assert sum(sqls[i].startswith(f'UPDATE "{user_table}"') or f"UPDATE `{user_table}`" in sqls[i] for i in writes) == 1
    assert sum(identity_table in sqls[i] for i in writes) == 1
    user = user_of("auth0|ada")
    assert (user.email, user.is_staff, group_names(user)) == ("new@example.com", False, {"editor-2"})
    with django_assert_num_queries(0):
        assert changed.get("/api/private").status_code == 200


def test_a_new_mapping_resyncs_each_user_once(auth0_issuer, client_for, settings, django_assert_num_queries):
    settings.AUTH0_DRF = mapping(auth0_issuer, USER_FIELDS={"email": "email"})
    client = client_for(profile_token(auth0_issuer))
    warm_up(client)
    assert user_of("auth0|ada").first_name == ""
    settings.AUTH0_DRF = mapping(auth0_issuer)
    warm_up(client)
    assert user_of("auth0|ada").first_name == "Ada"
    with django_assert_num_queries(0):
        assert client.get("/api/private").status_code == 200


def test_a_database_failure_during_the_sync_is_logged_and_saves_nothing(auth0_issuer, settings, caplog):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    Group.objects.create(name="editor-3")
    assert get(profile_token(auth0_issuer)).status_code == 200
    identity_table = Auth0Identity._meta.db_table

    def locked_identity_table(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # The last write of the sync (the identity's fingerprint) meets a lock conflict.
        if sql.startswith("UPDATE") and identity_table in sql:
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    token = profile_token(auth0_issuer, email="changed@example.com", roles=["admin", "editor-3"])
    with caplog.at_level(logging.WARNING, logger="auth0_drf"), connection.execute_wrapper(locked_identity_table):
        assert get(token).status_code == 200
    user = user_of("auth0|ada")
    assert (user.email, user.is_staff, group_names(user)) == ("ada@example.com", False, set())  # all or nothing
    assert len(warnings_of(caplog)) == 1
    assert warnings_of(caplog)[0].startswith(f"auth0_drf: could not write the claims of user {user.pk} ")
    assert get(token).status_code == 200  # a later request tries again
    user = user_of("auth0|ada")
    assert (user.email, user.is_staff, group_names(user)) == ("changed@example.com", True, {"editor-3"})


def test_a_sync_the_database_refuses_for_good_is_not_tried_again_on_every_request(
    auth0_issuer, settings, client_for, caplog, django_assert_num_queries
):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    warm_up(client_for(profile_token(auth0_issuer)))  # created, then found and cached
    user_table = User._meta.db_table

    def email_taken(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # A user model whose email is unique, and another user has the token's new address.
        if sql.startswith("UPDATE") and user_table in sql:
            raise IntegrityError(f"UNIQUE constraint failed: {user_table}.email")
        return execute(sql, params, many, context)

    client = client_for(profile_token(auth0_issuer, email="taken@example.com"))
    with caplog.at_level(logging.WARNING, logger="auth0_drf"), connection.execute_wrapper(email_taken):
        assert client.get("/api/private").status_code == 200
        with django_assert_num_queries(0):  # the cached identity remembers the refusal
            for _ in range(3):
                assert client.get("/api/private").status_code == 200
    assert len(warnings_of(caplog)) == 1
    assert user_of("auth0|ada").email == "ada@example.com"


def test_the_sync_failure_warning_keeps_the_first_line_of_the_database_message_never_the_values_it_quotes(
    auth0_issuer, settings, caplog
):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer)).status_code == 200
    user_table = User._meta.db_table

    def email_taken(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("UPDATE") and user_table in sql:
            # PostgreSQL's message: its DETAIL line quotes the row's value.
            raise IntegrityError(
                'duplicate key value violates unique constraint "auth_user_email_key"\n'
                "DETAIL:  Key (email)=(taken@example.com) already exists.\n"
            )
        return execute(sql, params, many, context)

    with caplog.at_level(logging.WARNING, logger="auth0_drf"), connection.execute_wrapper(email_taken):
        assert get(profile_token(auth0_issuer, email="taken@example.com")).status_code == 200
    (warning,) = warnings_of(caplog)
    assert "auth_user_email_key" in warning
    assert "taken@example.com" not in warning and "DETAIL" not in warning


def test_a_deactivated_user_is_rejected_and_not_written(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(profile_token(auth0_issuer)).status_code == 200
    User.objects.filter(username="auth0|ada").update(is_active=False)
    assert get(profile_token(auth0_issuer, email="late@example.com")).status_code == 401
    assert user_of("auth0|ada").email == "ada@example.com"


# --- users without a database row ---------------------------------------------------------------------------


def test_stateless_users_carry_the_mapped_fields_flags_and_group_names(
    auth0_issuer, settings, django_assert_num_queries
):
    settings.AUTH0_DRF = mapping(auth0_issuer, STATELESS_USERS=True)
    token = profile_token(auth0_issuer, roles=["admin", "editor"], email="not an email")
    claims_of(token)  # the first sight is recorded for the admin (RECORD_CLAIMS)
    with django_assert_num_queries(0):
        body = claims_of(token)
    assert body["synced"] == {
        "email": "",  # does not fit an EmailField: skipped, as for a database user
        "first_name": "Ada",
        "last_name": "Lovelace",
        "is_staff": True,
        "groups": ["admin", "editor"],
    }
    assert body["user"]["stored_in_database"] is False


def test_a_machine_token_user_carries_the_mapped_flags(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    body = claims_of(m2m_token(auth0_issuer, claims={ROLES: ["admin"]}))
    assert body["synced"]["is_staff"] is True and body["synced"]["groups"] == ["admin"]
    assert not User.objects.exists()


# --- Django's permissions from the token's roles ---------------------------------------------------------------


def test_django_model_permissions_follow_the_roles_in_the_token(auth0_issuer, settings):
    # The demo's migration gives the "editor" group view_message and add_message.
    settings.AUTH0_DRF = mapping(auth0_issuer)
    editor = profile_token(auth0_issuer, sub="auth0|ed", roles=["editor"])
    nobody = profile_token(auth0_issuer, sub="auth0|no", roles=["reader"])
    assert get(editor, "/api/role-messages").status_code == 200
    assert get(nobody, "/api/role-messages").status_code == 403
    from rest_framework.test import APIClient  # noqa: PLC0415

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {editor}")
    assert client.post("/api/role-messages", {"text": "by role"}, format="json").status_code == 201
    assert get(profile_token(auth0_issuer, sub="auth0|ed", roles=[]), "/api/role-messages").status_code == 403
    assert get(editor, "/api/role-messages").status_code == 200


# --- concurrent first requests ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_make_one_user_with_one_group_set(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer, MIRROR_GROUPS=True)
    token = profile_token(auth0_issuer, sub="auth0|stampede", roles=["admin", "crowd-1", "crowd-2"])
    statuses = run_together([lambda: get(token).status_code for _ in range(8)])
    assert statuses == [200] * 8
    assert User.objects.count() == 1
    user = user_of("auth0|stampede")
    assert group_names(user) == {"admin", "crowd-1", "crowd-2"}
    assert Group.objects.filter(name__in=["admin", "crowd-1", "crowd-2"]).count() == 3
    identity = Auth0Identity.objects.get(subject="auth0|stampede")
    assert sorted(identity.managed_groups) == sorted(user.groups.values_list("pk", flat=True))
    assert (user.email, user.is_staff) == ("ada@example.com", True)


@pytest.mark.django_db(transaction=True)
def test_new_users_creating_the_same_new_group_at_once_share_it(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer, MIRROR_GROUPS=True)
    tokens = [profile_token(auth0_issuer, sub=f"auth0|crowd-{i}", roles=["brand-new"]) for i in range(8)]
    statuses = run_together([lambda token=token: get(token).status_code for token in tokens])
    assert statuses == [200] * 8
    group = Group.objects.get(name="brand-new")
    assert group.user_set.count() == 8


# --- system checks ------------------------------------------------------------------------------------------------


def settings_messages(**auth0_drf: Any) -> list[Any]:
    with override_settings(
        AUTH0_DRF={"DOMAIN": "example.eu.auth0.com", "AUDIENCE": "https://api.example.com", **auth0_drf}
    ):
        return check_settings()


def test_a_mapping_of_fields_the_user_model_has_passes():
    assert settings_messages(USER_FIELDS=FIELDS, USER_FLAGS=FLAGS, GROUPS_CLAIM="roles", MIRROR_GROUPS=True) == []


@override_settings(AUTH_USER_MODEL="plainuser.PlainUser")
def test_e017_a_mapped_field_the_custom_user_model_lacks():
    assert settings_messages(USER_FIELDS={"email": "email", "nickname": "nickname"}, USER_FLAGS=FLAGS) == [
        Error(
            "AUTH0_DRF['USER_FIELDS'] maps the field 'email', which the user model plainuser.PlainUser does not have.",
            hint="Remove 'email' from AUTH0_DRF['USER_FIELDS'], or map a field of plainuser.PlainUser.",
            id="auth0_drf.E017",
        )
    ]


@override_settings(AUTH_USER_MODEL="plainuser.PlainUser")
def test_e017_groups_for_a_custom_user_model_without_groups():
    assert settings_messages(GROUPS_CLAIM="roles", USER_FLAGS={"is_staff": (ROLES, "x")}) == [
        Error(
            "AUTH0_DRF['GROUPS_CLAIM'] is set, but the user model plainuser.PlainUser has no groups.",
            hint="Give the user model Django's PermissionsMixin, or unset AUTH0_DRF['GROUPS_CLAIM'].",
            id="auth0_drf.E017",
        )
    ]


@pytest.mark.parametrize(
    "mapping_settings",
    [{"USER_FIELDS": {"username": "nickname"}}, {"USER_FIELDS": {"id": "n"}}, {"USER_FLAGS": {"email": (ROLES, "x")}}],
)
def test_e018_a_field_claims_may_not_set(mapping_settings):
    setting, value = next(iter(mapping_settings.items()))
    field = next(iter(value))
    assert settings_messages(**mapping_settings) == [
        Error(
            f"AUTH0_DRF['{setting}'] maps '{field}', which claims may not set.",
            hint="Map fields that describe the user (email, names) in USER_FIELDS and boolean fields in USER_FLAGS; "
            "never the primary key, the username or the password.",
            id="auth0_drf.E018",
        )
    ]


@pytest.mark.parametrize(
    "mapping_settings", [{"USER_FLAGS": {"is_active": (ROLES, "active")}}, {"USER_FIELDS": {"is_active": "active"}}]
)
def test_e018_is_active_may_not_come_from_a_claim_since_an_inactive_user_is_refused_before_it_is_read(
    mapping_settings,
):
    setting, value = next(iter(mapping_settings.items()))
    assert settings_messages(**mapping_settings) == [
        Error(
            f"AUTH0_DRF['{setting}'] maps 'is_active', which claims may not set.",
            hint="A claim could deactivate a user but never reactivate one: deactivate users in the admin, "
            "or revoke their tokens (Auth0Identity.revoke_tokens()).",
            id="auth0_drf.E018",
        )
    ]


def test_w006_is_superuser_from_a_claim():
    assert settings_messages(USER_FLAGS={"is_superuser": (ROLES, "root")}) == [
        Warning(
            "AUTH0_DRF['USER_FLAGS'] maps is_superuser: whoever can put that value in the claim has every "
            "permission of every model.",
            hint="Prefer groups with the permissions they need (GROUPS_CLAIM); keep is_superuser only if only "
            "trusted administrators can set that claim in Auth0.",
            id="auth0_drf.W006",
        )
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("USER_FIELDS", ["email"]),
        ("USER_FIELDS", {"email": 3}),
        ("USER_FLAGS", {"is_staff": "admin"}),
        ("USER_FLAGS", {"is_staff": (ROLES,)}),
        ("GROUPS_CLAIM", ["roles"]),
        ("MIRROR_GROUPS", "yes"),
    ],
)
def test_e007_mapping_settings_of_the_wrong_type(name, value):
    [message] = settings_messages(**{name: value})
    assert message.id == "auth0_drf.E007" and f"AUTH0_DRF['{name}']" in message.msg


# --- the demo: auth0_mint's profile options ------------------------------------------------------------------------


def test_auth0_mint_puts_email_name_and_roles_into_the_token_and_the_demo_maps_them(settings, tmp_path):
    settings.DEBUG = True
    demo_mapping = {"USER_FIELDS": FIELDS, "GROUPS_CLAIM": "roles", "CLAIMS_NAMESPACE": NS}
    settings.AUTH0_DRF = {
        "ISSUER": "http://127.0.0.1:8000/",
        "AUDIENCE": "https://api.example.test/",
        "DEV_ISSUER": True,
        "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem"),
        **demo_mapping,
    }
    out = StringIO()
    call_command(
        "auth0_mint", "--email=ada@example.com", "--name=Ada King Lovelace", "--role=editor", "--role=x", stdout=out
    )
    token = out.getvalue().strip()
    body = claims_of(token)
    assert {name: body["claims"][NS + name] for name in ("email", "name", "given_name", "family_name", "roles")} == {
        "email": "ada@example.com",
        "name": "Ada King Lovelace",
        "given_name": "Ada",
        "family_name": "King Lovelace",
        "roles": ["editor", "x"],
    }
    assert body["synced"] == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "King Lovelace",
        "is_staff": False,
        "groups": ["editor"],  # the demo's group; "x" does not exist
    }
    assert get(token, "/api/role-messages").status_code == 200


def test_auth0_mint_without_profile_options_adds_no_profile_claims(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = {
        "ISSUER": "http://127.0.0.1:8000/",
        "AUDIENCE": "https://api.example.test/",
        "DEV_ISSUER": True,
        "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem"),
        "CLAIMS_NAMESPACE": NS,
    }
    out = StringIO()
    call_command("auth0_mint", stdout=out)
    assert not [name for name in claims_of(out.getvalue().strip())["claims"] if name.startswith(NS)]


# --- the profile from /userinfo ---------------------------------------------------------------------------------


def userinfo_token(issuer: Any, sub: str = "auth0|uma", **kwargs: Any) -> str:
    """A token for the API and the issuer's /userinfo (as Auth0 issues one for a login with openid)."""
    return issuer.token(sub=sub, audience=[issuer.audience, issuer.userinfo_url], **kwargs)


def userinfo_settings(issuer: Any, **overrides: Any) -> dict[str, Any]:
    # RECORD_CLAIMS off: on SQLite the recorder's prune can meet the profile's background write
    # ("database is locked", one more WARNING), which these tests, counting warnings, are not about.
    return mapping(issuer, USERINFO=True, GROUPS_CLAIM=None, USER_FLAGS={}, RECORD_CLAIMS=False, **overrides)


@pytest.mark.django_db(transaction=True)
def test_a_new_user_gets_the_fields_its_token_lacks_from_userinfo_once(auth0_issuer, settings):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer)
    auth0_issuer.profiles["auth0|uma"] = {"email": "uma@example.com", "given_name": "Uma", "family_name": "Profile"}
    token = userinfo_token(auth0_issuer, claims={NS + "family_name": "FromToken"})
    assert get(token).status_code == 200
    wait_for_profiles()
    user = user_of("auth0|uma")
    assert (user.email, user.first_name, user.last_name) == ("uma@example.com", "Uma", "FromToken")  # the token wins
    assert Auth0Identity.objects.get(subject="auth0|uma").userinfo_at is not None
    for _ in range(5):
        assert get(token).status_code == 200
    wait_for_profiles()
    assert auth0_issuer.userinfo_hits() == 1


@pytest.mark.django_db(transaction=True)
def test_the_profile_is_fetched_again_once_the_interval_has_passed(auth0_issuer, settings):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer, USERINFO_INTERVAL=0)
    auth0_issuer.profiles["auth0|uma"] = {"email": "uma@example.com"}
    token = userinfo_token(auth0_issuer)
    assert get(token).status_code == 200
    wait_for_profiles()
    auth0_issuer.profiles["auth0|uma"] = {"email": "uma@new.example"}
    assert get(token).status_code == 200
    wait_for_profiles()
    assert auth0_issuer.userinfo_hits() == 2
    assert user_of("auth0|uma").email == "uma@new.example"


@pytest.mark.django_db(transaction=True)
def test_a_steady_state_request_never_waits_for_userinfo(auth0_issuer, settings, django_assert_num_queries):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer)
    auth0_issuer.profiles["auth0|uma"] = {"email": "uma@example.com"}
    token = userinfo_token(auth0_issuer)
    assert get(token).status_code == 200
    wait_for_profiles()
    assert get(token).status_code == 200  # the profile's write dropped the user from the cache: looked up again
    auth0_issuer.override = lambda path: (500, {}, b"") if path == "/userinfo" else None
    with django_assert_num_queries(0):
        for _ in range(10):
            assert get(token).status_code == 200
    wait_for_profiles()
    assert auth0_issuer.userinfo_hits() == 1


@pytest.mark.django_db(transaction=True)
def test_no_userinfo_fetch_for_a_token_whose_audience_does_not_include_it(auth0_issuer, settings):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer)
    auth0_issuer.profiles["auth0|uma"] = {"email": "uma@example.com"}
    assert get(auth0_issuer.token(sub="auth0|uma")).status_code == 200
    wait_for_profiles()
    assert auth0_issuer.userinfo_hits() == 0
    assert user_of("auth0|uma").email == ""


@pytest.mark.django_db(transaction=True)
def test_userinfo_is_off_by_default(auth0_issuer, settings):
    settings.AUTH0_DRF = mapping(auth0_issuer)
    assert get(userinfo_token(auth0_issuer)).status_code == 200
    wait_for_profiles()
    assert auth0_issuer.userinfo_hits() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "answer",
    [
        (500, {}, b"down"),
        (302, {"Location": "http://127.0.0.1:1/elsewhere"}, b""),
        (200, {"Content-Type": "application/json"}, b"not json"),
        (200, {"Content-Type": "application/json"}, b'{"sub": "auth0|someone-else", "email": "x@example.com"}'),
        (200, {"Content-Type": "application/json"}, b'{"sub": "auth0|uma", "email": "' + b"x" * 70000 + b'"}'),
    ],
    ids=["500", "redirect", "not-json", "another-subject", "too-large"],
)
def test_a_failed_userinfo_fetch_is_harmless_and_never_logs_the_token(auth0_issuer, settings, caplog, answer):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer)
    auth0_issuer.override = lambda path: answer if path == "/userinfo" else None
    token = userinfo_token(auth0_issuer)
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        assert get(token).status_code == 200
        wait_for_profiles()
        assert get(token).status_code == 200
        wait_for_profiles()
    assert user_of("auth0|uma").email == ""
    [warning] = warnings_of(caplog)  # one line; not retried at once
    assert warning.startswith("auth0_drf: the /userinfo profile was not applied (FetchError: ")
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
    assert auth0_issuer.userinfo_hits() == 1


@pytest.mark.django_db(transaction=True)
def test_a_userinfo_value_that_does_not_fit_is_skipped(auth0_issuer, settings, caplog):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer)
    auth0_issuer.profiles["auth0|uma"] = {"email": "not an email", "given_name": "Uma"}
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        assert get(userinfo_token(auth0_issuer)).status_code == 200
        wait_for_profiles()
    user = user_of("auth0|uma")
    assert (user.email, user.first_name) == ("", "Uma")
    assert warnings_of(caplog) == ["auth0_drf: claim email does not fit user field email (invalid (invalid)): skipped"]


@pytest.mark.django_db(transaction=True)
def test_the_dev_issuer_serves_userinfo_for_the_profile_given_to_auth0_mint(live_server, settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = {
        "ISSUER": live_server.url + "/",
        "AUDIENCE": "https://api.example.test/",
        "DEV_ISSUER": True,
        "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem"),
        "CLAIMS_NAMESPACE": NS,
        "USER_FIELDS": FIELDS,
        "USERINFO": True,
    }

    def mint(*options: str) -> str:
        out = StringIO()
        call_command("auth0_mint", "--sub=auth0|dev-uma", *options, stdout=out)
        return out.getvalue().strip()

    token = mint("--userinfo", "--email=uma@example.com", "--name=Uma Dev")
    claims = claims_of(token)["claims"]
    assert live_server.url + "/userinfo" in claims["aud"]
    assert not [name for name in claims if name.startswith(NS)]  # the profile is at /userinfo only
    wait_for_profiles()
    user = user_of("auth0|dev-uma")
    assert (user.email, user.first_name, user.last_name) == ("uma@example.com", "Uma", "Dev")
    without = requests.get(
        live_server.url + "/userinfo", headers={"Authorization": f"Bearer {mint('--email=x@example.com')}"}, timeout=10
    )
    assert without.status_code == 401  # a token not meant for /userinfo
    assert requests.get(live_server.url + "/userinfo", timeout=10).status_code == 401


def test_group_names_that_cannot_be_groups_are_skipped_with_one_warning(auth0_issuer, settings, caplog):
    settings.AUTH0_DRF = mapping(auth0_issuer, MIRROR_GROUPS=True, RECORD_CLAIMS=False)  # PostgreSQL refuses NUL
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        assert get(profile_token(auth0_issuer, roles=["ok", "g" * 151, "nul\x00"])).status_code == 200
    assert group_names(user_of("auth0|ada")) == {"ok"}
    assert warnings_of(caplog) == [
        "auth0_drf: claim roles: 2 names skipped (longer than 150 characters, or holding NUL)"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_userinfo_value_with_a_lone_surrogate_is_skipped_and_the_rest_of_the_profile_applied(
    auth0_issuer, settings, caplog
):
    settings.AUTH0_DRF = userinfo_settings(auth0_issuer)
    # Valid JSON that no database can store: "\ud800" decodes to a lone surrogate.
    body = b'{"sub": "auth0|uma", "email": "uma@example.com", "given_name": "U\\ud800ma"}'
    answer = (200, {"Content-Type": "application/json"}, body)
    auth0_issuer.override = lambda path: answer if path == "/userinfo" else None
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        assert get(userinfo_token(auth0_issuer)).status_code == 200
        wait_for_profiles()
    user = user_of("auth0|uma")
    assert (user.email, user.first_name) == ("uma@example.com", "")
    assert warnings_of(caplog) == [
        "auth0_drf: claim given_name does not fit user field first_name (not valid Unicode): skipped"
    ]
