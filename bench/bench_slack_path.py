"""The Slack path at the row limit (issue 14): upload -> card against `check` on the same file,
and the app process's CPU to approve the batch.

    python -m bench.bench_slack_path [ROWS] [REPEAT]

Writes the generated upload (`bench.intake_file`) of ROWS (100,000) rows, then in one run:
1. `smsbatch-bot check FILE` as its own child process (`bench.bench_intake.run_child`), best of
   REPEAT (3) wall times;
2. the simulator (answering at once, but holding the first send_batch for HOLD seconds) and
   the app (`python -m bot run`, HTTP mode, the local fake Slack Web API), as
   `bench.bench_ack` starts them; REPEAT uploads of the file, one after another: upload -> card
   is the time from posting the `file_share` event to the fake Slack receiving the card
   (polled every 10 ms);
3. a one-row upload is approved, so that the sender is waiting on its POST (the held one) and
   does nothing of its own meanwhile; then the approver clicks the last big card's Approve:
   the app process's CPU (user + system, from /proc) from just before the click until the
   card's edit arrives is what approving cost the Slack-facing process.
Every ack (uploads, clicks) is timed too. Both sides get SMSBATCH_MAX_ROWS /
SMSBATCH_MAX_FILE_BYTES raised to fit the file when the defaults would refuse it (the figure is
about speed, not limits). Prints one line per figure.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ack_slack as slack
from bench.ack_slack import FORM, SlackClient
from bench.bench_ack import APPROVER, cpu_seconds, running
from bench.bench_intake import check_argv, run_child
from bench.intake_file import write_file
from bot.config import Settings
from handlers.builders import ids
from tests.fake_slack import FakeSlack, Recorded, running_fake_slack
from tests.test_handlers_http_mode import SECRET, base_env

ROWS = 100_000
REPEAT = 3
HOLD = 20.0  # the small batch's POST outlasts the big batch's approval
SMALL = b"msisdn,message\n447400123456,Hold the sender\n"
TIMEOUT = 300.0
POLL = 0.01


def limits_env(path: Path, rows: int) -> dict[str, str]:
    """The row and byte limits raised to fit this file, where the defaults would refuse it."""
    defaults, size = Settings(), path.stat().st_size
    env = {}
    if rows > defaults.max_rows:
        env["SMSBATCH_MAX_ROWS"] = str(rows)
    if size > defaults.max_file_bytes:
        env["SMSBATCH_MAX_FILE_BYTES"] = str(size)
    return env


def _until(predicate: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(POLL)
    raise RuntimeError(f"timed out after {TIMEOUT:.0f} s waiting for {what}")


def _check_s(path: Path, rows: int, env: dict[str, str], cwd: Path, repeat: int) -> float:
    """The best wall time of `check` on the file, each run its own process."""
    times = []
    for _ in range(repeat):
        run = run_child(check_argv(path), base_env(cwd) | env, cwd)
        if run.returncode != 0 or f"{rows}" not in run.stdout:
            raise RuntimeError(f"check did not plan {rows:,} rows: {run.stderr.strip()[:300]}")
        times.append(run.wall_s)
    return min(times)


def _upload(
    client: SlackClient, fake: FakeSlack, data: bytes, n: int, acks: list[float]
) -> tuple[float, Recorded]:
    """Post an upload event; seconds from sending it to its card, and the card."""
    before = len(slack.cards(fake))
    timed = client.post(slack.upload_event(fake, data, n), "application/json", "upload")
    acks.append(timed.seconds)
    cards = _until(lambda: slack.cards(fake)[before:], "the upload's card")
    return time.perf_counter() - timed.sent, cards[0]


def _approve(
    client: SlackClient, fake: FakeSlack, card: Recorded, n: int, acks: list[float]
) -> None:
    """Click Approve as the approver and wait for the card's edit."""
    ts, updates = card.answer["ts"], len(fake.calls("chat.update"))
    acks.append(
        client.post(slack.click(fake, card, ids.APPROVE, APPROVER, n), FORM, "click").seconds
    )
    _until(
        lambda: [u for u in fake.calls("chat.update")[updates:] if u.body.get("ts") == ts],
        "the approval's card edit",
    )


def _approve_cpu(
    client: SlackClient, fake: FakeSlack, card: Recorded, pid: int, acks: list[float]
) -> float:
    """The app's CPU seconds for one approval, the sender held on a one-row batch's POST."""
    _, small = _upload(client, fake, SMALL, 10_000, acks)
    _approve(client, fake, small, 10_000, acks)
    time.sleep(0.5)  # the sender takes the small batch and waits on its POST
    before = cpu_seconds(pid)
    _approve(client, fake, card, 10_001, acks)
    return cpu_seconds(pid) - before


def measure(rows: int = ROWS, repeat: int = REPEAT) -> dict[str, float]:
    """`check`'s best time, upload -> card's best time, the approval's CPU in the app, and
    the slowest ack of the run."""
    acks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_fake_slack() as fake:
        root = Path(tmp)
        path = write_file(root / "upload.csv", rows)
        env = limits_env(path, rows)
        check_s = _check_s(path, rows, env, root, repeat)
        data = path.read_bytes()
        held = ("--script", "timeout", "--hang-seconds", str(HOLD))
        with running(root, fake, 0.0, extra_env=env, simulator_args=held) as run:
            client = SlackClient(run.url, SECRET)
            uploads = [_upload(client, fake, data, n, acks) for n in range(1, repeat + 1)]
            cpu = _approve_cpu(client, fake, uploads[-1][1], run.app.pid, acks)
            client.close()
    card_s = min(seconds for seconds, _ in uploads)
    return {
        "rows": rows,
        "file_mb": len(data) / 1e6,
        "check_s": check_s,
        "card_s": card_s,
        "card_ratio": card_s / check_s,
        "approve_cpu_ms": cpu * 1000,
        "ack_max_ms": max(acks) * 1000,
    }


def main(argv: list[str]) -> int:
    """Measure and print the figures."""
    rows = int(argv[0]) if argv else ROWS
    repeat = int(argv[1]) if len(argv) > 1 else REPEAT
    f = measure(rows, repeat)
    print(f"file: {f['rows']:,.0f} rows, {f['file_mb']:.1f} MB")
    print(f"check, best of {repeat}: {f['check_s']:.2f} s")
    print(f"upload -> card, best of {repeat}: {f['card_s']:.2f} s = {f['card_ratio']:.2f}x check")
    print(f"approve: app CPU {f['approve_cpu_ms']:.0f} ms (target < 50)")
    print(f"slowest ack of the run (uploads, clicks): {f['ack_max_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
