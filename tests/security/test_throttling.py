"""Finding 11 of the security review (no throttling anywhere): 30 wrong logins and no lockout, MAC guessing at 160/s,
unlimited API calls. Each is replayed against small rates set for the test, and must end in 429 with Retry-After
(JSON on the API and machine routes) with nothing written but the attempts' own bookkeeping."""
from __future__ import annotations

import os

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts import throttling
from apps.accounts.models import Role
from tests.conftest import provisioning_client
from tests.factories import ProjectFactory, UserFactory
from tests.installs.test_api import client_for
from tests.security.dbstate import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "api_token": "5/minute", "api_address": "8/minute", "login_username": "3/15m",
                               "login_address": "6/15m", "machine_address": "10/minute"}
    return settings.THROTTLE_RATES


def test_rates_parse_and_malformed_ones_are_refused() -> None:
    assert throttling.parse_rate("1200/minute") == throttling.Rate(1200, 60)
    assert throttling.parse_rate("5/15m") == throttling.Rate(5, 900)
    assert throttling.parse_rate("20/hours") == throttling.Rate(20, 3600)
    with pytest.raises(ValueError, match="not a rate"):
        throttling.parse_rate("fast")


def test_the_api_throttles_each_token_then_each_address(rates, settings) -> None:
    project = ProjectFactory()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    accounts.membership_set(user=alice, project=project, role=Role.COLLABORATOR)
    accounts.membership_set(user=bob, project=project, role=Role.COLLABORATOR)
    first, second = client_for(alice), client_for(alice)
    answers = [first.get(f"/metal/v1/projects/{project.pk}").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    refused = first.get(f"/metal/v1/projects/{project.pk}")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Content-Type"].startswith("application/json") and "throttled" in refused.json()["errors"][0]
    # Another token of the same user has its own count, but the address (127.0.0.1) has used 7 of its 8 calls.
    assert second.get(f"/metal/v1/projects/{project.pk}").status_code == 200
    assert client_for(bob).get(f"/metal/v1/projects/{project.pk}").status_code == 429
    # Behind a trusted load balancer, each client is counted by its X-Forwarded-For address.
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    via_proxy = client_for(bob)
    assert via_proxy.get(f"/metal/v1/projects/{project.pk}", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200


def test_wrong_tokens_count_against_their_address(rates) -> None:
    guesser = APIClient()
    answers = [guesser.get("/metal/v1/user", HTTP_X_AUTH_TOKEN=f"guess-{n}").status_code for n in range(10)]
    assert answers == [401] * 8 + [429] * 2


def test_staff_api_and_the_lean_path_are_throttled_too(rates, staff_user) -> None:
    from tests.ipam.conftest import Kind, services  # the lean IPAM endpoints answer for a staff token

    pool = services.block_create(network="147.75.0.0/16", kind=Kind.SUPERNET)
    api = client_for(staff_user)
    answers = [api.get(f"/api/ipam/blocks/{pool.pk}/utilisation").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]


def _login(client: Client, path: str, username: str, password: str):  # noqa: ANN202
    return client.post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_repeated_wrong_passwords_lock_the_login_name_out(rates, path) -> None:
    carol = UserFactory(username="carol", is_staff=True)
    browser = Client()
    before = db_fingerprint()
    wrong = [_login(browser, path, "carol", f"guess-{n}").status_code for n in range(3)]
    assert wrong == [200, 200, 200]  # the form again, with its error
    locked = _login(browser, path, "carol", "pw-for-tests-only")  # the right password, during the lockout
    assert locked.status_code == 429 and 800 < int(locked["Retry-After"]) <= 900
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in browser.session
    assert _login(Client(), path, "CAROL", "pw-for-tests-only").status_code == 429  # names are counted case-blind
    assert changed_tables(before, db_fingerprint()) == []
    # Another account from the same address still signs in; its success does not lift carol's lockout.
    UserFactory(username="dave", is_staff=True)
    assert _login(Client(), path, "dave", "pw-for-tests-only").status_code == 302
    assert _login(Client(), path, "carol", "pw-for-tests-only").status_code == 429
    assert carol.pk


def test_one_address_trying_many_names_is_locked_out(rates) -> None:
    UserFactory(username="erin")
    browser = Client()
    answers = [_login(browser, "/accounts/login/", f"user-{n}", "x").status_code for n in range(7)]
    assert answers == [200] * 6 + [429]
    assert _login(Client(REMOTE_ADDR="127.0.0.1"), "/accounts/login/", "erin", "pw-for-tests-only").status_code == 429
    assert _login(Client(REMOTE_ADDR="192.0.2.44"), "/accounts/login/", "erin", "pw-for-tests-only").status_code == 302


def test_a_successful_sign_in_clears_the_names_failures(rates) -> None:
    UserFactory(username="frank")
    browser = Client()
    for _ in range(2):
        assert _login(browser, "/accounts/login/", "frank", "wrong").status_code == 200
    assert _login(browser, "/accounts/login/", "frank", "pw-for-tests-only").status_code == 302
    for _ in range(2):
        assert _login(Client(), "/accounts/login/", "frank", "wrong").status_code == 200
    assert _login(Client(), "/accounts/login/", "frank", "pw-for-tests-only").status_code == 302


def test_mac_scanning_on_the_provisioning_listener_is_throttled_per_address(rates) -> None:
    scanner = provisioning_client(REMOTE_ADDR="127.151.9.9")
    before = db_fingerprint()
    answers = [scanner.get(f"/ipxe/mac/0c-c4-7a-00-00-{n:02x}") for n in range(12)]
    assert all(a.status_code != 429 for a in answers[:10])
    assert [a.status_code for a in answers[10:]] == [429, 429]
    assert answers[10]["Content-Type"] == "application/json" and 1 <= int(answers[10]["Retry-After"]) <= 60
    assert "more than 10 calls in 60 s from 127.151.9.9" in answers[10].json()["errors"][0]
    assert provisioning_client(REMOTE_ADDR="127.151.9.9").get("/metadata").status_code == 429
    assert provisioning_client(REMOTE_ADDR="127.151.9.9").get("/healthz").status_code == 200
    assert provisioning_client(REMOTE_ADDR="127.151.9.10").get("/ipxe/mac/0c-c4-7a-00-00-01").status_code != 429
    assert changed_tables(before, db_fingerprint()) == []


@pytest.mark.skipif(not os.environ.get("REDIS_TEST_URL"), reason="needs Redis: set REDIS_TEST_URL=redis://127.0.0.1:6379/<db>")
def test_the_counts_work_on_redis_as_in_production(settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_TEST_URL"],
                                   "KEY_PREFIX": f"metalyard-test-{os.getpid()}"}}
    limit = throttling.Rate(3, 60)
    ident = f"redis-check-{os.getpid()}"
    try:
        assert [throttling.throttle_hit("api_token", ident, limit) for _ in range(3)] == [None, None, None]
        wait = throttling.throttle_hit("api_token", ident, limit)
        assert wait is not None and 1 <= wait <= 60
        assert throttling.throttle_peek("api_token", ident, limit) is not None
    finally:
        throttling.throttle_reset("api_token", ident)
    assert throttling.throttle_peek("api_token", ident, limit) is None


def test_an_operator_lifts_a_lockout(rates) -> None:
    from io import StringIO

    from django.core.management import call_command

    UserFactory(username="gina")
    for _ in range(3):
        _login(Client(), "/accounts/login/", "gina", "wrong")
    assert _login(Client(), "/accounts/login/", "gina", "pw-for-tests-only").status_code == 429
    out = StringIO()
    call_command("throttle_reset", "--user", "Gina", stdout=out)
    assert out.getvalue().strip() == "sign-in lockout lifted for user Gina"
    assert _login(Client(), "/accounts/login/", "gina", "pw-for-tests-only").status_code == 302
