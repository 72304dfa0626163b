"""Settings come from the environment; production refuses to start without its secrets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "METALYARD_DEV_KEYS", "SECRET_KEY", "METALYARD_ENCRYPTION_KEYS"}}
    clean.update(env)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_refuses_to_start_without_secret_key():
    result = _check({})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_refuses_to_start_without_encryption_key():
    result = _check({"SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "METALYARD_ENCRYPTION_KEYS is not set" in result.stderr


def test_starts_with_both_keys_or_with_dev_keys():
    from cryptography.fernet import Fernet

    assert _check({"SECRET_KEY": "x" * 50, "METALYARD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}).returncode == 0
    assert _check({"METALYARD_DEV_KEYS": "1"}).returncode == 0


def test_redis_url_switches_the_broker():
    code = "from django.conf import settings; print('redis' in settings.Q_CLUSTER, 'orm' in settings.Q_CLUSTER)"
    env = {k: v for k, v in os.environ.items()}
    env.update({"METALYARD_DEV_KEYS": "1", "REDIS_URL": "redis://127.0.0.1:6379/0", "DJANGO_SETTINGS_MODULE": "project.settings"})
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "False"], out.stderr
    env.pop("REDIS_URL")
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr
