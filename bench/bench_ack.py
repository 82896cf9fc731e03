"""Ack latency (issue 5): the real app in HTTP mode, idle and while it checks a 30,000-row upload
and submits a batch.

    python -m bench.bench_ack [COUNT] [--latency S] [--switch-interval MS] [--no-intake]
                              [--no-submission] [--sample-app OUT.json]

Starts `python -m bot simulator --latency S` (default 3 s a request) and `python -m bot run`
(waitress, HTTP mode) pointed at it through EAPI_URL, with the local fake Slack Web API. A small
pasted batch gives a card whose Approve button a non-approver clicks (refused on the job pool:
the full listener path). Then, one after another over one kept-alive connection, COUNT (200)
signed `/smsbatch` commands (`help`, answered in the ack, and `status N` of the small batch,
answered on the job pool, in turn), COUNT Approve, COUNT Send me a test and COUNT Stop clicks,
and COUNT `app_home_opened` events (each publishes the Home tab), interleaved:
- idle: nothing else going on;
- busy: after a 30,000-row upload was approved (its chunks go out one by one, each held S
  seconds by the simulator) and while a feeder keeps a 30,000-row upload being checked at all
  times (the next is uploaded as soon as the previous card appears).
Each figure is the time from sending the request to its complete answer. The share of busy
requests sent during an intake and during the submission is measured, not assumed: intake
windows run from an upload's event to its card; the submission from the first send_batch
request to the last answer the simulator logged (or the end, if chunks were still to go).
`--switch-interval` starts the app with `sys.setswitchinterval(MS / 1000)` (CPython's default is
5 ms), to test whether GIL hand-offs explain the busy latency; `--sample-app` runs it under
`bench.app_sampler`, which writes what each thread was running to OUT.json.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import ack_slack as slack
from bench.ack_slack import FORM, SlackClient, Timed
from bench.bench_sender import percentile
from bench.intake_file import build_file
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import SendOptions
from handlers.builders import ids
from tests.fake_slack import FakeSlack, Recorded, running_fake_slack
from tests.test_handlers_http_mode import SECRET, base_env, free_port, wait_until_serving

COUNT = 200
UPLOAD_ROWS = 30_000
LATENCY = 3.0
PREPARER, APPROVER, VIEWER = "UPREPARER", "UAPPROVER", "UVIEWER"
CARD_TIMEOUT = 180.0
POLL = 0.05
KINDS = ("command", "click", "test", "stop", "home")  # click: Approve

logger = logging.getLogger(__name__)


@dataclass
class Running:
    """The app and simulator processes, and the simulator's send_batch log lines as they came."""

    url: str
    app: subprocess.Popen[str]
    simulator: subprocess.Popen[str]
    sent: list[float] = field(default_factory=list)  # perf_counter when each answer was logged


def _follow(stream: IO[str], into: list[float]) -> None:
    """Timestamp every send_batch line the simulator logs (one per answered request)."""
    for line in stream:
        if "send_batch" in line:
            into.append(time.perf_counter())


def _app_argv(switch_interval: float | None, sample_to: Path | None) -> list[str]:
    """`python -m bot run`, or the same through a wrapper that tunes or samples it."""
    run = ["run", "--host", "127.0.0.1"]
    if sample_to is not None:
        return [sys.executable, "-m", "bench.app_sampler", str(sample_to), *run]
    if switch_interval is None:
        return [sys.executable, "-m", "bot", *run]
    code = (
        f"import sys; sys.setswitchinterval({switch_interval!r}); "
        f"sys.argv = ['smsbatch-bot', *{run!r}]; "
        "from bot.cli.main import main; raise SystemExit(main())"
    )
    return [sys.executable, "-c", code]


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def running(
    tmp: Path,
    fake: FakeSlack,
    latency: float,
    switch_interval: float | None = None,
    sample_to: Path | None = None,
    extra_env: dict[str, str] | None = None,
    simulator_args: tuple[str, ...] = (),
) -> Iterator[Running]:
    """The simulator (given `simulator_args` too) and the app (`extra_env` added to its
    environment), stopped (SIGTERM) on the way out."""
    root = str(Path(__file__).resolve().parent.parent)
    env = base_env(tmp) | {"PYTHONPATH": root, "EAPI_USERNAME": "bench", "EAPI_PASSWORD": "pw"}
    env |= extra_env or {}
    sim_port, port = free_port(), free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "simulator",
            "--port",
            str(sim_port),
            "--latency",
            str(latency),
            *simulator_args,
        ],
        cwd=tmp,
        env=env | {"SMSBATCH_LOG_LEVEL": "INFO"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    app_env = env | {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "PORT": str(port),
        "EAPI_URL": f"http://127.0.0.1:{sim_port}/eapi",
        "SMSBATCH_APPROVERS": APPROVER,
    }
    with (tmp / "app.log").open("w") as log:
        app = subprocess.Popen(
            _app_argv(switch_interval, sample_to),
            cwd=tmp,
            env=app_env,
            stdout=log,
            stderr=log,
            text=True,
        )
    run = Running(f"http://127.0.0.1:{port}", app, simulator)
    assert simulator.stderr is not None
    threading.Thread(target=_follow, args=(simulator.stderr, run.sent), daemon=True).start()
    try:
        wait_until_serving(run.url, app)
        yield run
    finally:
        _stop(app)
        _stop(simulator)


def _wait(predicate: Callable[[], Any], what: str) -> Any:
    """Poll (gently: the bench process's CPU time would show in the latencies) until truthy."""
    deadline = time.monotonic() + CARD_TIMEOUT
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(POLL)
    raise RuntimeError(f"timed out after {CARD_TIMEOUT:.0f} s waiting for {what}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Feeder(threading.Thread):
    """Keeps one 30,000-row upload being checked: the next goes up when the last card appears."""

    def __init__(self, url: str, fake: FakeSlack, data: bytes) -> None:
        super().__init__(daemon=True)
        self.fake, self.data = fake, data
        self.client = SlackClient(url, SECRET)
        self.windows: list[tuple[float, float]] = []  # (event sent, card seen)
        self.acks: list[Timed] = []
        self.started = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        """Upload, wait for the card, repeat until stopped."""
        n = 1000
        while not self.stopping.is_set():
            before = len(slack.cards(self.fake))
            body = slack.upload_event(self.fake, self.data, n)
            timed = self.client.post(body, "application/json", "upload")
            self.acks.append(timed)
            self.started.set()
            deadline = time.monotonic() + CARD_TIMEOUT
            while len(slack.cards(self.fake)) <= before and not self.stopping.is_set():
                if time.monotonic() > deadline:
                    raise RuntimeError("an upload's card did not appear")
                time.sleep(POLL)
            self.windows.append((timed.sent, time.perf_counter()))  # to the card, or the stop
            n += 1

    def stop(self) -> None:
        """Upload no more (the intake under way finishes in the app)."""
        self.stopping.set()
        self.join(CARD_TIMEOUT)
        self.client.close()


def card_batch_id(card: Recorded) -> int:
    """The id of the batch a card shows (from its Approve button)."""
    return int(slack.button_value(card, ids.APPROVE).partition(":")[0])


def _round(
    client: SlackClient, fake: FakeSlack, card: Recorded, first: int, count: int
) -> list[Timed]:
    """`count` each of commands, Approve, Test and Stop clicks and Home tab opens, interleaved,
    one at a time. The clicks are a non-approver's: refused on the job pool after the ack (Test
    after reading their profile), the full listener path; each open publishes their Home tab."""
    timed = []
    batch = card_batch_id(card)
    status = f"status {batch}"
    for n in range(first, first + count):
        text = "help" if n % 2 == 0 else status
        timed.append(client.post(slack.command(fake, text, PREPARER, n), FORM, "command"))
        body = slack.click(fake, card, ids.APPROVE, VIEWER, n)
        timed.append(client.post(body, FORM, "click"))
        body = slack.click(fake, card, ids.TEST, VIEWER, n)
        timed.append(client.post(body, FORM, "test"))
        body = slack.click(fake, card, ids.STOP, VIEWER, n, value=str(batch))
        timed.append(client.post(body, FORM, "stop"))
        timed.append(client.post(slack.home_opened(VIEWER, n), "application/json", "home"))
    return timed


def _submit_big_batch(client: SlackClient, fake: FakeSlack, data: bytes) -> float:
    """Upload a file and approve its card; when the card said so (perf_counter)."""
    before = len(slack.cards(fake))
    client.post(slack.upload_event(fake, data, 1), "application/json", "upload")
    card: Recorded = _wait(lambda: slack.cards(fake)[before:], "the big batch's card")[0]
    ts = card.answer["ts"]
    updates = len(fake.calls("chat.update"))
    client.post(slack.click(fake, card, ids.APPROVE, APPROVER, 1), FORM, "click")
    _wait(
        lambda: [u for u in fake.calls("chat.update")[updates:] if u.body.get("ts") == ts],
        "the big batch's approval",
    )
    return time.perf_counter()


def _summary(prefix: str, timed: list[Timed]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for kind in KINDS:
        ms = [t.seconds * 1000 for t in timed if t.kind == kind]
        figures |= {
            f"{prefix}_{kind}_p50_ms": percentile(ms, 0.50),
            f"{prefix}_{kind}_p99_ms": percentile(ms, 0.99),
            f"{prefix}_{kind}_max_ms": max(ms),
        }
    return figures


def _share(timed: list[Timed], windows: list[tuple[float, float]]) -> float:
    inside = [t for t in timed if any(a <= t.sent <= b for a, b in windows)]
    return len(inside) / len(timed)


def _busy(
    run: Running,
    client: SlackClient,
    fake: FakeSlack,
    small: Recorded,
    count: int,
    feeder: Feeder | None,
) -> tuple[list[Timed], dict[str, float]]:
    """The busy round (with the feeder running, if any), and each process's CPU use during it."""
    if feeder is not None:
        feeder.start()
        feeder.started.wait(CARD_TIMEOUT)
    pids = {"app": run.app.pid, "simulator": run.simulator.pid}
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()} | {"bench": _own_cpu()}
    started = time.perf_counter()
    busy = _round(client, fake, small, 100_000, count)
    wall = time.perf_counter() - started
    cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()} | {
        "bench": _own_cpu() - cpu["bench"]
    }
    if feeder is not None:
        feeder.stop()
    return busy, {f"busy_cpu_{name}": used / wall for name, used in cpu.items()}


def measure(
    count: int = COUNT,
    latency: float = LATENCY,
    *,
    rows: int = UPLOAD_ROWS,
    intake: bool = True,
    submission: bool = True,
    switch_interval: float | None = None,
    sample_to: Path | None = None,
) -> dict[str, float]:
    """Run the app and return ack latencies (ms) idle and busy, and how busy "busy" was."""
    data = build_file(rows)
    chunks = len(plan_batch(data, SendOptions(), IntakeLimits(), PriceTable()).chunks)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_fake_slack() as fake,
        running(Path(tmp), fake, latency, switch_interval, sample_to) as run,
    ):
        client = SlackClient(run.url, SECRET)
        paste = "msisdn,message\n447911123401,Hello from the bench"
        client.post(slack.command(fake, paste, PREPARER, 0), FORM, "command")
        small = _wait(lambda: slack.cards(fake), "the pasted batch's card")[0]
        logger.info("app up; idle round")
        idle = _round(client, fake, small, 1, count)
        approved = 0.0
        if submission:
            logger.info("uploading and approving the batch to submit")
            approved = _submit_big_batch(client, fake, data)
        logger.info("busy round")
        feeder = Feeder(run.url, fake, data)
        busy, cpu = _busy(run, client, fake, small, count, feeder if intake else None)
        ended = time.perf_counter()
        client.close()
        answered = list(run.sent)
        logger.info("stopping the app")
    sending = []
    if submission:  # from the approval to the last chunk's answer (or the end, if unfinished)
        sending = [(approved, answered[-1] if len(answered) >= chunks else ended)]
    return (
        _summary("idle", idle)
        | _summary("busy", busy)
        | cpu
        | {
            "busy_p99_ms": percentile([t.seconds * 1000 for t in busy], 0.99),
            "busy_during_intake": _share(busy, feeder.windows),
            "busy_during_submission": _share(busy, sending),
            "intakes": len(feeder.acks),
            "upload_ack_max_ms": max((t.seconds * 1000 for t in feeder.acks), default=0.0),
            "chunks_answered": len(answered),
            "chunks": chunks,
        }
    )


def main(argv: list[str]) -> int:
    """Print each figure on its own line."""
    args = list(argv)

    def option(name: str) -> str | None:
        if name not in args:
            return None
        value = args[args.index(name) + 1]
        args.remove(value)
        args.remove(name)
        return value

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    latency = float(option("--latency") or LATENCY)
    interval = option("--switch-interval")
    sample_to = option("--sample-app")
    intake = "--no-intake" not in args
    submission = "--no-submission" not in args
    args = [a for a in args if not a.startswith("--")]
    figures = measure(
        int(args[0]) if args else COUNT,
        latency,
        intake=intake,
        submission=submission,
        switch_interval=float(interval) / 1000 if interval else None,
        sample_to=Path(sample_to).resolve() if sample_to else None,
    )
    for name, value in figures.items():
        print(f"ack {name}: {value:.3f}" if isinstance(value, float) else f"ack {name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
