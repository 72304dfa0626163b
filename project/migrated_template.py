"""Throw-away databases (the test suite's and the benchmarks') copied from a migrated template instead of migrated
each time.

Every benchmark builds its own database and drops it at the end, and each of the suite's pytest-xdist workers builds
its test database (tests/conftest.py). Running the ~100 migrations into each one cost 15 s of CPU (40 s of wall time
on a loaded machine): eight times over for the quick runs of docs/benchmarks.md, and 47 s at the start of each test
worker in a loaded CI run. PostgreSQL copies a template database in well under a second, so the first caller
migrates one template, named after the migrations it holds (`metalyard_bench_template_<hash>`), and every caller
after it starts from a copy; a change to any migration gives a new name, and the outdated template is dropped then.
The template is an ordinary database: `dropdb metalyard_bench_template_<hash>` removes it at any time.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PREFIX = "metalyard_bench_template_"
MIGRATE_TIMEOUT = 600


def template_name() -> str:
    """Named after every migration file's bytes and Django's version: the same name means the same schema."""
    digest = hashlib.sha256(django.get_version().encode())
    for path in sorted(ROOT.glob("apps/*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return TEMPLATE_PREFIX + digest.hexdigest()[:12]


def _admin_connect() -> Any:
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                           password=db["PASSWORD"] or None, dbname="postgres", autocommit=True, connect_timeout=10)


def database_url(name: str | None = None) -> str:
    """A postgres:// URL for database `name` (default: the connection's own, e.g. the benchmark's test database) on
    the configured server, for the processes a benchmark starts (gunicorn, workers, listeners)."""
    db = connection.settings_dict
    name = name or db["NAME"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER'] or 'postgres'}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def ensure_template() -> str:
    """The migrated template's name, migrating it first if this schema has none yet. Callers starting at once (the
    suite's two workers) wait on an advisory lock while the first one migrates, then copy its template; it is
    migrated under another name and renamed when complete, so an interrupted migration never leaves a template."""
    name = template_name()
    with _admin_connect() as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return name
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])  # released when this connection closes
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return name
        building = f"{name}_building_{uuid.uuid4().hex[:6]}"
        admin.execute(f'CREATE DATABASE "{building}"')
        print(f"migrating a template database ({name}; once per schema)", flush=True)
        env = {**os.environ, "DATABASE_URL": database_url(building)}
        try:
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                           timeout=MIGRATE_TIMEOUT)
            admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        except Exception:
            admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                raise
            return name
        for (outdated,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
                                         [TEMPLATE_PREFIX + "%", name]).fetchall():
            try:
                admin.execute(f'DROP DATABASE "{outdated}"')
            except Exception as exc:  # noqa: BLE001 - another benchmark is copying it right now: next time
                print(f"note: outdated template {outdated} kept for now ({exc})", flush=True)
    return name


def use_template() -> None:
    """Make Django's test-database creation (setup_databases, create_test_db) copy the migrated template; the
    migrate it still runs then finds nothing to do."""
    if connection.vendor != "postgresql":
        return
    settings.DATABASES["default"].setdefault("TEST", {})["TEMPLATE"] = ensure_template()
    connection.settings_dict.setdefault("TEST", {})["TEMPLATE"] = settings.DATABASES["default"]["TEST"]["TEMPLATE"]


def setup_bench_databases() -> Any:
    """django.test.utils.setup_databases from the template; pass the result to teardown_databases as before."""
    from django.test.utils import setup_databases

    use_template()
    return setup_databases(verbosity=0, interactive=False)


def create_database(name: str) -> None:
    """CREATE DATABASE name as a copy of the migrated template (for a benchmark that names its own database)."""
    template = ensure_template()
    with _admin_connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
