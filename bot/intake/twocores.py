"""A big file's phone numbers parsed on two cores: half in a forked child, half here.

phonenumbers is pure Python, and parsing each distinct number cell is most of a check (60 % of
a 30,000-row file, the same work a bare csv + phonenumbers loop does). On a machine with two
cores a file of at least `MIN_CELLS` distinct cells is split: a child forked from this process
(phonenumbers already loaded) parses the second half and sends the results back pickled on a
pipe, while this process parses the first half.

Only callers that know their process is single-threaded ask for it (`smsbatch-bot check`, the
upload checker's worker): forking a process with other threads could copy a lock one of them
holds. Anything that goes wrong on the child's side (fork refused, the child killed, an answer
cut short) costs only time: this process then parses that half itself, so the result is
always the one `parse_number` gives, cell for cell.

Hand-written rather than `multiprocessing`: one short-lived child that needs nothing but the
modules already loaded, no start-up of its own, no helper threads left in the parent.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import sys
import time

from bot.intake.numbers import BadNumber, Number, parse_number

__all__ = ["MIN_CELLS", "parse_numbers"]

logger = logging.getLogger(__name__)

MIN_CELLS = 10_000  # fewer distinct cells take under 0.25 s: not worth a second process
PATIENCE_FACTOR = 4.0  # the child may take this many times what this process took, plus
PATIENCE_FLOOR = 10.0  # these seconds, before its half is parsed here instead
_READ = 1 << 20
Parsed = Number | BadNumber


def parse_numbers(cells: list[str], region: str) -> dict[str, Parsed]:
    """`{cell: parse_number(cell, region)}` for distinct `cells`, on two cores when worth it."""
    if len(cells) < MIN_CELLS or not _two_cores():
        return {cell: parse_number(cell, region) for cell in cells}
    half = len(cells) // 2
    mine, theirs = cells[:half], cells[half:]
    forked = _fork()
    if forked is None:  # no process or pipe to spare: all of it here
        return {cell: parse_number(cell, region) for cell in cells}
    child, reader, writer = forked
    if child == 0:
        _child(reader, writer, theirs, region)  # never returns
    os.close(writer)
    started = time.monotonic()
    parsed = {cell: parse_number(cell, region) for cell in mine}
    # The child has as much to do as this process had: give it that and plenty more.
    patience = PATIENCE_FACTOR * (time.monotonic() - started) + PATIENCE_FLOOR
    answer = _collect(reader, child, len(theirs), patience)
    if answer is None:
        answer = _parse_list(theirs, region)
    parsed.update(zip(theirs, answer, strict=True))
    return parsed


def _two_cores() -> bool:
    """True on Linux when this process may run on two cores or more (elsewhere a forked child
    of a process that has loaded system frameworks is not safe: never tried)."""
    return sys.platform == "linux" and len(os.sched_getaffinity(0)) >= 2


def _fork() -> tuple[int, int, int] | None:
    """(child's pid, or 0 in the child; the pipe's read and write ends), or None."""
    try:
        reader, writer = os.pipe()
    except OSError as exc:
        logger.info("numbers parsed in one process: %s", exc)
        return None
    try:
        return os.fork(), reader, writer
    except OSError as exc:
        os.close(reader)
        os.close(writer)
        logger.info("numbers parsed in one process: %s", exc)
        return None


def _parse_list(cells: list[str], region: str) -> list[Parsed]:
    return [parse_number(cell, region) for cell in cells]


# On the pipe a result is plain data, which pickle writes in C: a Number as its three fields,
# a BadNumber as its reason (pickling the dataclasses runs Python code per object, 4x slower).
_Wire = tuple[str, str, tuple[str, ...]] | str


def _to_wire(parsed: Parsed) -> _Wire:
    if isinstance(parsed, Number):
        return (parsed.msisdn, parsed.country, parsed.flags)
    return parsed.reason


def _from_wire(item: _Wire) -> Parsed:
    if isinstance(item, str):
        return BadNumber(item)
    msisdn, country, flags = item
    return Number(msisdn, country, tuple(flags))


def _child(reader: int, writer: int, cells: list[str], region: str) -> None:
    """In the child: parse, write the pickled list, and end without running any clean-up of
    the parent's (atexit handlers, buffered output, open files stay the parent's)."""
    code = 1
    try:
        os.close(reader)
        wire = [_to_wire(parsed) for parsed in _parse_list(cells, region)]
        payload = pickle.dumps(wire, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(writer, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)


def _collect(reader: int, child: int, expected: int, patience: float) -> list[Parsed] | None:
    """The child's results, or None (logged) when it did not send all of them in `patience`
    seconds (then it is killed: a child stuck on a lock copied at fork never holds the check)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + patience
    with os.fdopen(reader, "rb", buffering=0) as stream:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stream], [], [], left)[0]:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                logger.warning("the number-parsing child took too long; parsing its half here")
                return None
            chunk = stream.read(_READ)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        logger.warning("the number-parsing child ended with %s; parsing its half here", status)
        return None
    try:
        wire = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child wrote it, just now
        answer = [_from_wire(item) for item in wire]
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
        answer = []
    if len(answer) != expected:
        logger.warning("the number-parsing child sent a short answer; parsing its half here")
        return None
    return answer
