"""Taking over the lease of a sender that died on this machine at once; waiting on any doubt."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Secret
from bot.eapi.client import EapiClient
from bot.sending.sender import Sender
from bot.store import lease
from bot.store.lease import default_owner, holder_is_gone, parse_owner, pid_namespace
from tests.core_helpers import Core, FakeClock, make_core

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a child process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


@pytest.fixture
def core(tmp_path: Path) -> Core:
    """A store and service on a temporary database with a fake clock."""
    return make_core(tmp_path / "lease.db", clock=FakeClock())


@pytest.fixture
def client() -> Iterator[EapiClient]:
    """A client that is never used: these tests have nothing to send."""
    made = EapiClient("http://127.0.0.1:9/eapi", "nobody", Secret("unused"), connect_timeout=0.1)
    yield made
    made.close()


def held_by(core: Core, owner: str, lease_seconds: float = 60.0) -> None:
    """Give the lease to `owner` for `lease_seconds` from now."""
    with core.store.write() as tx:
        assert tx.hold_lease(owner, core.clock(), lease_seconds)


def test_the_default_owner_names_host_pid_tag_and_pid_namespace() -> None:
    """default_owner() parses back into this host, this pid and this PID namespace."""
    parsed = parse_owner(default_owner())
    assert parsed is not None
    assert (parsed.host, parsed.pid, parsed.pid_namespace) == (HOST, os.getpid(), pid_namespace())
    assert default_owner() != default_owner()  # two senders of one process differ


@pytest.mark.parametrize(
    "owner",
    ["stale", "host:12:ab", "host:0:ab:1", "host:-5:ab:1", "host:x:ab:1", ":12:ab:1", "h:1:a:ns"],
)
def test_other_owner_names_do_not_parse(owner: str) -> None:
    """Test names, the three-part names of older versions and pid 0 or below are refused."""
    assert parse_owner(owner) is None


def test_a_dead_holder_of_this_machine_is_gone(dead_pid: int) -> None:
    """Same host and PID namespace, pid no longer exists: gone."""
    assert holder_is_gone(f"{HOST}:{dead_pid}:cafe0123:{pid_namespace()}")


@pytest.mark.parametrize(
    "owner",
    [
        "{host}:{alive}:cafe0123:{ns}",  # the process exists (this one)
        "elsewhere.example:{dead}:cafe0123:{ns}",  # another host
        "{host}:{dead}:cafe0123:{other_ns}",  # another container with our host name
        "{host}:{dead}:cafe0123",  # an older version's name
        "stale",
    ],
    ids=["alive", "other-host", "other-pid-namespace", "old-format", "unparseable"],
)
def test_any_doubt_is_not_gone(dead_pid: int, owner: str) -> None:
    """A live pid, another host or namespace, an unknown name: the holder may be alive."""
    ns = pid_namespace()
    other_ns = "1" if ns != "1" else "2"
    name = owner.format(host=HOST, alive=os.getpid(), dead=dead_pid, ns=ns, other_ns=other_ns)
    assert not holder_is_gone(name)


@pytest.mark.parametrize(
    ("error", "gone"),
    [(ProcessLookupError, True), (PermissionError, False), (OSError, False)],
)
def test_only_no_such_process_means_gone(error: type[OSError], gone: bool) -> None:
    """kill(pid, 0) failing with EPERM (another user's process) or anything else is doubt."""

    def kill(pid: int, signal: int) -> None:
        """Fail as the kernel would."""
        raise error(f"kill({pid}, {signal})")

    owner = f"{HOST}:4242:cafe0123:{pid_namespace()}"
    assert holder_is_gone(owner, kill=kill) is gone


def test_without_a_readable_pid_namespace_linux_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Linux an owner without a namespace (no /proc) is doubt; elsewhere host + pid decide."""
    monkeypatch.setattr(lease, "pid_namespace", lambda: lease.UNKNOWN_NAMESPACE)

    def kill(pid: int, signal: int) -> None:
        """No such process."""
        raise ProcessLookupError(pid)

    owner = f"{HOST}:4242:cafe0123:-"
    monkeypatch.setattr(sys, "platform", "linux")
    assert not holder_is_gone(owner, kill=kill)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert holder_is_gone(owner, kill=kill)


def test_a_sender_takes_a_dead_local_holders_lease_at_once(
    core: Core, client: EapiClient, dead_pid: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The lease has 60 s left, but its holder died here: taken on the first step, logged."""
    dead = f"{HOST}:{dead_pid}:cafe0123:{pid_namespace()}"
    held_by(core, dead)
    sender = core.sender(client)
    with caplog.at_level(logging.WARNING, logger="bot.sending.sender"):
        sender.run_once()
    assert sender.holding_lease and core.store.lease_owner(core.clock()) == sender.owner
    assert any("took the lease over at once" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "owner",
    ["{host}:{alive}:cafe0123:{ns}", "elsewhere.example:{dead}:cafe0123:{ns}", "s0"],
    ids=["alive", "other-host", "unparseable"],
)
def test_a_sender_in_doubt_waits_for_the_lease_to_expire(
    core: Core, client: EapiClient, dead_pid: int, owner: str
) -> None:
    """Holder alive, elsewhere or unknown: no takeover before expiry, takeover after it."""
    name = owner.format(host=HOST, alive=os.getpid(), dead=dead_pid, ns=pid_namespace())
    held_by(core, name, lease_seconds=20)
    sender: Sender = core.sender(client)
    sender.run_once()
    assert not sender.holding_lease and core.store.lease_owner(core.clock()) == name
    assert isinstance(core.clock, FakeClock)
    core.clock.advance(20.5)
    sender.run_once()
    assert sender.holding_lease
