"""Who holds the sender lease, and whether a holder on this machine is certainly gone.

An owner name is `host:pid:tag:pidns`: the host name, the process id, a random tag (two senders
of one process differ) and the inode of the process's PID namespace (`-` when unknown). A pid
only means something inside its PID namespace: two containers that share a host name (host
networking, a fixed `hostname:`) and a database volume have separate pid spaces, so the same
host name alone would not prove that a pid refers to the holder.

`holder_is_gone` answers True only when the holder ran here (same host name and PID namespace)
and its pid no longer exists; every doubt (other host, another namespace, the pid alive, no
permission to ask, an owner name from an older version) answers False, and the caller waits for
the lease to expire as before. A pid reused by an unrelated process reads as alive: waiting.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

UNKNOWN_NAMESPACE = "-"
_NAMESPACE = re.compile(r"pid:\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Owner:
    """The parts of an owner name."""

    host: str
    pid: int
    tag: str
    pid_namespace: str


def pid_namespace() -> str:
    """This process's PID namespace inode as digits (Linux), else `-`."""
    try:
        link = os.readlink("/proc/self/ns/pid")
    except OSError:
        return UNKNOWN_NAMESPACE
    found = _NAMESPACE.fullmatch(link)
    return found.group(1) if found else UNKNOWN_NAMESPACE


def default_owner() -> str:
    """A lease owner name unique to this sender: host, process id, random tag, PID namespace."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}:{pid_namespace()}"


def parse_owner(owner: str) -> Owner | None:
    """The parts of a `default_owner()` name; None for any other form."""
    parts = owner.split(":")
    if len(parts) != 4:
        return None
    host, pid, tag, namespace = parts
    if not host or not pid.isdigit() or not tag:
        return None
    if namespace != UNKNOWN_NAMESPACE and not namespace.isdigit():
        return None
    number = int(pid)
    return Owner(host, number, tag, namespace) if number > 0 else None  # 0 = our process group


def _pid_is_meaningful_here(owner: Owner) -> bool:
    """True when the owner's pid names a process in our own pid space."""
    if owner.host != socket.gethostname():
        return False
    if owner.pid_namespace == UNKNOWN_NAMESPACE:
        # Without namespaces (macOS, BSD) the host name is enough; on Linux it means /proc
        # could not be read, so a container with our host name cannot be ruled out.
        return not sys.platform.startswith("linux") and pid_namespace() == UNKNOWN_NAMESPACE
    return owner.pid_namespace == pid_namespace()


def holder_is_gone(owner: str, kill: Callable[[int, int], None] = os.kill) -> bool:
    """True only when the holder certainly was a process of this machine that has ended."""
    parsed = parse_owner(owner)
    if parsed is None or not _pid_is_meaningful_here(parsed):
        return False
    try:
        kill(parsed.pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists under another user; anything else: doubt
        return False
    return False
