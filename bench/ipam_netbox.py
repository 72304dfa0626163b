"""NetBox beside Metalyard for `bench/ipam.py --netbox`: a throw-away NetBox from a source tree or a
git directory the operator brings (NetBox is not on PyPI), its Python dependencies from PyPI in a
throw-away virtual environment, its own database and Redis db, seeded with the rows Metalyard gets,
served by gunicorn. Everything it makes is removed by `cleanup()`.

Nothing of NetBox is kept in this repository: the source comes from the path given on the command
line and is copied into a temporary directory for the run.
"""
from __future__ import annotations

import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PIP_TIMEOUT = 1800
MIGRATE_TIMEOUT = 3600
SEED_TIMEOUT = 1800
# Packages of NetBox's requirements.txt that only build its documentation; the API never imports them.
DOCS_ONLY = re.compile(r"^(mkdocs|mkdocs-material|mkdocstrings|mkdocstrings-python|zensical)==", re.IGNORECASE)

# Run inside NetBox's interpreter (cwd: its netbox/ directory): the bench user and token, 8 sites,
# 1,000 tenants, the /8 and the 64 /16s through NetBox's models, then every assignment and
# reservation row COPYed in one go (as Metalyard's are), with the depth and child counts NetBox
# keeps computed from the same rows. Prints one JSON line: the token header and the prefix ids.
SEED_SCRIPT = r'''
import datetime as dt, json, os, sys
sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "netbox.settings"
import django
django.setup()
from django.db import connection
from dcim.models import Site
from ipam.models import Prefix
from tenancy.models import Tenant
from users.models import Token, User

plan = json.load(open(sys.argv[1]))
user = User.objects.create_superuser("bench", "bench@example.invalid", plan["password"])
token = Token(user=user, version=2, write_enabled=True, description="bench")
token.save()
sites = [Site.objects.create(name=f"Bench {i}", slug=f"bm{i}") for i in range(8)]
tenants = Tenant.objects.bulk_create([Tenant(name=f"p{i}", slug=f"p{i}") for i in range(plan["projects"])])
top = Prefix.objects.create(prefix=plan["supernet"], status="container", description="bench")
pools = []
for index, network in enumerate(plan["pools"]):
    pool = Prefix(prefix=network, status="container", scope=sites[index % 8])
    pool.save()
    pools.append(pool)
now = dt.datetime.now(dt.UTC)
counts = [0] * len(pools)
with connection.cursor() as cursor:
    columns = "created, last_updated, custom_field_data, prefix, status, is_pool, description, tenant_id, _children, _depth, mark_utilized, comments"
    with cursor.cursor.copy(f"COPY ipam_prefix ({columns}) FROM STDIN") as copy:
        for pool_index, network, status, tenant in plan["rows"]:
            counts[pool_index] += 1
            copy.write_row((now, now, "{}", network, status, False, "", tenants[tenant].pk if tenant is not None else None, 0, 2, False, ""))
    for pool, count in zip(pools, counts):
        cursor.execute("UPDATE ipam_prefix SET _children = %s, _depth = 1 WHERE id = %s", [count, pool.pk])
    cursor.execute("UPDATE ipam_prefix SET _children = %s, _depth = 0 WHERE id = %s", [len(pools) + sum(counts), top.pk])
    cursor.execute("VACUUM ANALYZE ipam_prefix")
print(json.dumps({"authorization": token.get_auth_header_prefix() + token.token, "supernet": top.pk, "pools": [p.pk for p in pools]}))
'''


def log(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python_312() -> tuple[str, str]:
    """An interpreter NetBox accepts (3.12 or newer): this one, or else pyenv's 3.12."""
    if sys.version_info >= (3, 12):
        return sys.executable, f"Python {sys.version.split()[0]} (this interpreter)"
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(root / "versions" / "3.12*" / "bin" / "python3.12")))
    if not candidates:
        raise SystemExit(f"NetBox needs Python 3.12 and this is {sys.version.split()[0]}; install it with `pyenv install 3.12`.")
    return candidates[-1], (f"Python {Path(candidates[-1]).parent.parent.name} from pyenv "
                            f"(NetBox needs 3.12; this interpreter is {sys.version.split()[0]})")


def _git_dir(path: Path) -> Path | None:
    for candidate in (path, path / ".git"):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def _export_git(git_dir: Path, ref: str, dest: Path) -> list[str]:
    """Write the tree of `ref` into `dest` with `git cat-file --batch`; returns the paths whose blobs
    the git directory does not hold (a partial snapshot leaves out its largest files)."""
    listing = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-z", ref], capture_output=True, check=True, timeout=120)
    entries = []
    for entry in listing.stdout.split(b"\0"):
        if entry:
            meta, path = entry.split(b"\t", 1)
            mode, kind, oid = meta.split()
            if kind == b"blob":
                entries.append((mode, oid, path.decode()))
    missing = []
    with subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as cat:
        assert cat.stdin is not None and cat.stdout is not None
        for mode, oid, path in entries:
            cat.stdin.write(oid + b"\n")
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            if header[-1] == b"missing":
                missing.append(path)
                continue
            data = cat.stdout.read(int(header[2]))
            cat.stdout.read(1)
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode == b"120000":
                target.symlink_to(data.decode())
            else:
                target.write_bytes(data)
        cat.stdin.close()
        cat.wait(timeout=60)
    return missing


class NetBox:
    def __init__(self, *, source: Path, ref: str, database: dict[str, Any], redis_url: str, workers: int, keep_dir: Path | None) -> None:
        self.workers = workers
        self.database = database
        self.redis_url = urllib.parse.urlparse(redis_url)
        self.keep_dir = keep_dir
        self.root = keep_dir or Path(tempfile.mkdtemp(prefix="netbox-bench-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.src = self.root / "src"
        self.venv = self.root / "venv"
        self.server: subprocess.Popen | None = None
        self.port = 0
        self.notes: list[str] = []
        self._bring_source(source, ref)

    # ------------------------------------------------------------------ install

    def _bring_source(self, source: Path, ref: str) -> None:
        said = self.root / "source-notes.txt"  # what the first run said of the source, for the runs that reuse it
        if (self.src / "netbox" / "manage.py").is_file() and self.keep_dir is not None:
            self.notes.append(f"NetBox source reused from {self.src}")
            if said.is_file():
                self.notes += said.read_text().splitlines()
        else:
            shutil.rmtree(self.src, ignore_errors=True)
            git_dir = _git_dir(source)
            if git_dir is not None:
                missing = _export_git(git_dir, ref, self.src)
                self.notes.append(f"NetBox source: {ref} of the git directory {git_dir}")
            elif (source / "netbox" / "manage.py").is_file():
                shutil.copytree(source, self.src, symlinks=True)
                missing = []
                self.notes.append(f"NetBox source: the tree {source}")
            else:
                raise SystemExit(f"{source} is neither a NetBox source tree (netbox/manage.py) nor a git directory.")
            for path in missing:
                if path == "netbox/extras/data/un_locode.py":
                    # 5 MB of UN/LOCODE choices for custom fields; IPAM never reads it.
                    (self.src / path).write_text("UN_LOCODE = ()\n")
                    self.notes.append(f"{path} is not in the snapshot (too large); an empty choice list stands in (custom fields only)")
                elif not path.startswith("netbox/"):
                    continue  # docs, contrib: not part of the application
                else:
                    raise SystemExit(f"NetBox's {path} is missing from {source}; bring a complete source tree.")
            said.write_text("\n".join(self.notes) + "\n")
        release = (self.src / "netbox" / "release.yaml").read_text()
        self.version = re.search(r'version:\s*"?([^"\n]+)', release).group(1)  # type: ignore[union-attr]

    def install(self) -> None:
        python, said = python_312()
        self.notes.append(said)
        if (self.venv / "bin" / "gunicorn").exists() and self.keep_dir is not None:
            return
        started = time.monotonic()
        subprocess.run([python, "-m", "venv", str(self.venv)], check=True, timeout=300)
        requirements = []
        for line in (self.src / "requirements.txt").read_text().splitlines():
            if DOCS_ONLY.match(line):
                continue
            # psycopg[c] compiles against libpq; the binary wheel is the same driver, prebuilt.
            requirements.append(re.sub(r"^psycopg\[c,", "psycopg[binary,", line))
        (self.root / "requirements.txt").write_text("\n".join(requirements) + "\n")
        pip = subprocess.run([str(self.venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r",
                              str(self.root / "requirements.txt")], capture_output=True, text=True, timeout=PIP_TIMEOUT)
        if pip.returncode:
            raise SystemExit(f"pip could not install NetBox's requirements:\n{pip.stdout[-3000:]}{pip.stderr[-3000:]}")
        log(f"NetBox {self.version}: dependencies installed from PyPI in {time.monotonic() - started:.0f} s "
            "(psycopg[binary] for psycopg[c]; documentation-only packages left out)")

    def configure(self) -> None:
        db = self.database
        config = {
            "ALLOWED_HOSTS": ["*"],
            "DATABASES": {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": db["NAME"], "USER": db["USER"] or "",
                                      "PASSWORD": db["PASSWORD"] or "", "HOST": db["HOST"] or "127.0.0.1", "PORT": str(db["PORT"] or 5432),
                                      "CONN_MAX_AGE": 300}},
            "REDIS": {name: {"HOST": self.redis_url.hostname or "127.0.0.1", "PORT": self.redis_url.port or 6379, "USERNAME": "",
                             "PASSWORD": self.redis_url.password or "", "DATABASE": self.redis_db, "SSL": False}
                      for name in ("tasks", "caching")},
            "SECRET_KEY": os.urandom(32).hex() + "-bench-only",
            "API_TOKEN_PEPPERS": {1: os.urandom(32).hex() + "-bench-only"},
        }
        text = "".join(f"{name} = {value!r}\n" for name, value in config.items())
        (self.src / "netbox" / "netbox" / "configuration.py").write_text(text)

    def _redis(self) -> Any:
        import redis

        return redis.Redis(host=self.redis_url.hostname or "127.0.0.1", port=self.redis_url.port or 6379, db=self.redis_db,
                           password=self.redis_url.password, socket_timeout=10)

    def check_redis_empty(self) -> None:
        """The Redis db is emptied at the end, so it must be NetBox's alone: refuse one that holds keys."""
        keys = self._redis().dbsize()
        if keys:
            raise SystemExit(f"Redis db {self.redis_db} holds {keys} key(s) already; give NetBox an empty one with --netbox-redis.")

    @property
    def redis_db(self) -> int:
        return int((self.redis_url.path or "/0").lstrip("/") or 0)

    @property
    def env(self) -> dict[str, str]:
        """This process's environment without Metalyard's settings (NetBox reads its own configuration.py)."""
        return {k: v for k, v in os.environ.items()
                if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "PYTHONPATH"} and not k.startswith("METALYARD_")}

    def _manage(self, *argv: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "python"), "manage.py", *argv], cwd=self.src / "netbox", check=True,
                              capture_output=True, text=True, timeout=timeout, env=self.env)

    def migrate(self) -> None:
        started = time.monotonic()
        self._manage("migrate", "--no-input", timeout=MIGRATE_TIMEOUT)
        log(f"NetBox {self.version}: database {self.database['NAME']} migrated in {time.monotonic() - started:.0f} s")

    def seed(self, *, supernet: str, pools: list[str], rows: Iterable[tuple[int, str, str, int | None]], projects: int) -> None:
        started = time.monotonic()
        plan = self.root / "plan.json"
        self.password = os.urandom(12).hex()
        plan.write_text(json.dumps({"supernet": supernet, "pools": pools, "rows": list(rows), "projects": projects,
                                    "password": self.password}))
        script = self.root / "seed.py"
        script.write_text(SEED_SCRIPT)
        result = subprocess.run([str(self.venv / "bin" / "python"), str(script), str(plan)], cwd=self.src / "netbox", check=True,
                                capture_output=True, text=True, timeout=SEED_TIMEOUT, env=self.env)
        out = json.loads(result.stdout.strip().splitlines()[-1])
        self.authorization, self.supernet_id, self.pool_ids = out["authorization"], out["supernet"], out["pools"]
        log(f"NetBox {self.version}: seeded the same {len(json.loads(plan.read_text())['rows']) + len(pools) + 1:,} prefixes "
            f"in {time.monotonic() - started:.1f} s")

    # ------------------------------------------------------------------ serve

    def start(self) -> None:
        self.port = free_port()
        # Sync workers, as Metalyard's: one request at a time per process. NetBox's own example
        # (contrib/gunicorn.py) adds threads; the timeout is raised for its multi-second pages.
        self.server = subprocess.Popen(
            [str(self.venv / "bin" / "gunicorn"), "--workers", str(self.workers), "--worker-class", "sync", "--timeout", "600",
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "netbox.wsgi"],
            cwd=self.src / "netbox", start_new_session=True, env=self.env)
        wait_http(self.port, "/api/status/", self.server)
        self.session = self._login()

    def _login(self) -> str:
        """A browser session for the prefix page (NetBox's utilisation is on its web page, not its API)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", "/login/")
        response = conn.getresponse()
        page = response.read().decode()
        csrf_cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)  # type: ignore[union-attr]
        form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": form_token, "username": "bench", "password": self.password, "next": "/"})
        conn.request("POST", "/login/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                            "Cookie": f"csrftoken={csrf_cookie}"})
        response = conn.getresponse()
        response.read()
        cookies = ";".join(response.headers.get_all("Set-Cookie") or [])
        conn.close()
        session = re.search(r"sessionid=([^;]+)", cookies)
        if response.status != 302 or session is None:
            raise RuntimeError(f"NetBox login failed: {response.status}")
        return f"sessionid={session.group(1)}"

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait(timeout=30)
        self.server = None

    def cleanup(self, drop_database: Any) -> None:
        """Stop the server, drop the database, delete the Redis db's keys, remove the directory."""
        self.stop()
        drop_database(self.database["NAME"])
        client = self._redis()
        deleted = 0
        for key in client.scan_iter(count=1000):
            deleted += client.delete(key)
        if self.keep_dir is None:
            shutil.rmtree(self.root, ignore_errors=True)
        log(f"NetBox cleaned up: database {self.database['NAME']} dropped, {deleted} Redis key(s) of db {self.redis_db} deleted"
            + ("" if self.keep_dir else f", {self.root} removed"))


def wait_http(port: int, path: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")
