"""System check W005: DPoP's replay protection needs a cache that every worker process shares.

Without one, each process remembers only the proofs it has seen itself, and a proof replayed to
another worker is accepted (tests/e2e/test_workers.py shows it with two gunicorn workers).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Warning
from django.test import override_settings

from auth0_drf.checks import check_settings

GOOD = {"DOMAIN": "example.eu.auth0.com", "AUDIENCE": "https://api.example.com"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
SHARED_HINT = (
    "Set AUTH0_DRF['DPOP_REPLAY_CACHE'] to the alias of a cache that every worker process shares, such as Redis "
    "through django.core.cache.backends.redis.RedisCache (docs/workers.md shows the settings)."
)


def check(caches: dict[str, Any] | None = None, **auth0_drf: Any) -> list:
    """Run the settings checks with ``AUTH0_DRF`` = GOOD + ``auth0_drf`` and ``CACHES`` (default: a LocMemCache)."""
    with override_settings(AUTH0_DRF={**GOOD, **auth0_drf}, CACHES=caches or {"default": LOCMEM}):
        return check_settings()


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_w005_dpop_on_without_a_replay_cache_says_a_proof_replayed_to_another_worker_is_accepted(mode: str) -> None:
    assert check(DPOP=mode) == [
        Warning(
            f"AUTH0_DRF['DPOP'] is '{mode}' but AUTH0_DRF['DPOP_REPLAY_CACHE'] is not set: each worker process "
            "remembers only the DPoP proofs it has seen itself, so a proof replayed to another worker is accepted.",
            hint=f"{SHARED_HINT} With a single process, silence this with SILENCED_SYSTEM_CHECKS = ['auth0_drf.W005'].",
            id="auth0_drf.W005",
        )
    ]


def test_w005_a_locmem_replay_cache_is_per_process_too() -> None:
    assert check(DPOP="allowed", DPOP_REPLAY_CACHE="default") == [
        Warning(
            "AUTH0_DRF['DPOP_REPLAY_CACHE'] names the cache 'default', a LocMemCache, which each worker process keeps "
            "to itself: a DPoP proof replayed to another worker is accepted.",
            hint=SHARED_HINT,
            id="auth0_drf.W005",
        )
    ]


def test_w005_a_dummy_replay_cache_accepts_every_replayed_proof() -> None:
    assert check({"default": LOCMEM, "nothing": DUMMY}, DPOP="required", DPOP_REPLAY_CACHE="nothing") == [
        Warning(
            "AUTH0_DRF['DPOP_REPLAY_CACHE'] names the cache 'nothing', a DummyCache, which remembers nothing: every "
            "replayed DPoP proof is accepted.",
            hint=SHARED_HINT,
            id="auth0_drf.W005",
        )
    ]


def test_a_shared_replay_cache_passes_without_touching_it() -> None:
    # Nothing listens on that Redis URL: the check reads the settings only, never the network.
    assert check({"default": LOCMEM, "auth0": REDIS}, DPOP="allowed", DPOP_REPLAY_CACHE="auth0") == []


def test_dpop_off_needs_no_replay_cache() -> None:
    assert check() == []
    assert check(DPOP="off", DPOP_REPLAY_CACHE="default") == []


def test_an_unknown_replay_cache_alias_is_reported_once_by_e012_not_again_by_w005() -> None:
    assert [error.id for error in check(DPOP="allowed", DPOP_REPLAY_CACHE="redis")] == ["auth0_drf.E012"]


def test_a_replay_cache_setting_of_the_wrong_type_is_reported_by_e007_only() -> None:
    assert [error.id for error in check(DPOP="allowed", DPOP_REPLAY_CACHE=42)] == ["auth0_drf.E007"]
