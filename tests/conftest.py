"""Shared fixtures. Tests run on PostgreSQL when DATABASE_URL points at it (CI always does),
on SQLite otherwise; tests marked `postgres` are skipped on SQLite with a message."""
from __future__ import annotations

import os
import re

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import UserFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("metalyard")
    group.addoption("--artifacts", default=None, metavar="DIR",
                    help="where browser tests save their screenshots (default: <the run's basetemp>/artifacts)")
    group.addoption("--screenshots-output", default=None, metavar="DIR",
                    help="also write the documentation's pictures there (docs/portal.md's command passes docs/images/portal)")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (make test runs two workers) each worker gets a Redis database of its own: the tests that
    use REDIS_TEST_URL flush it, and one worker's flush must not empty the other's queues. Worker gwN takes the
    configured database number minus N (CI's 15 gives 15 and 14)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("REDIS_TEST_URL", "")
    found = re.fullmatch(r"(?P<base>redis://[^/]+)/(?P<db>\d+)", url)
    if worker.startswith("gw") and found:
        os.environ["REDIS_TEST_URL"] = f"{found['base']}/{(int(found['db']) - int(worker[2:])) % 16}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if settings.IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Each worker's test database is a copy of one migrated template (project/migrated_template.py) instead of
    running the ~100 migrations itself: the first worker migrates it while the other waits, and a later run with
    the same migrations copies it at once. pytest-django's migrate then finds nothing to do."""
    if settings.IS_POSTGRES:
        from project.migrated_template import use_template

        use_template()


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """Each test starts with no throttle counts (the cache is per process and would carry one test's calls into the
    next); throttling itself stays on with its configured rates, and tests/security/test_throttling.py tests it."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


def provisioning_client(**defaults: object) -> Client:
    """A test client whose requests arrive on the provisioning listener (as the WSGI wrapper marks them)."""
    from project.listeners import LISTENER_KEY, PROVISIONING

    return Client(**{LISTENER_KEY: PROVISIONING, **defaults})


@pytest.fixture
def machine_client() -> Client:
    return provisioning_client()
