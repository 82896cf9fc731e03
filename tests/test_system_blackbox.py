"""Black-box scenarios: real processes, only what interface.md promises.

The app runs as `python -m bot` (HTTP mode) against the fake Slack; the EAPI is a separate
`python -m bot simulator` process reached over EAPI_URL with real credentials. Assertions are
about what Slack received (texts, threads, blocks), what the simulator logged it processed, and
what the `audit`, `health` and `check` commands print.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from slack_sdk.signature import SignatureVerifier

from tests.fake_slack import TEAM, FakeSlack, Recorded, running_fake_slack
from tests.test_handlers_http_mode import SECRET, base_env, free_port

SIM_USER = "blackbox-user"
SIM_PASSWORD = "blackbox-pw-3f9a1c"
CHANNEL = "C0BLACKBOX"
PREPARER = "UPREPARER"
APPROVER = "UAPPROVER"
OUTSIDER = "UOUTSIDER"
CSV = b"msisdn,message\n447911123401,Hello one\n447911123402,Hello two\n447700900003,Hi three\n"
ROWS = [("447911123401", "Hello one"), ("447911123402", "Hello two"), ("447700900003", "Hi three")]
PROCESSED = re.compile(r"send_batch: batch (\d+), (\d+) messages, (\d+) parts")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
RESULT = re.compile(r"status 0\b.*batch_id (\d+)")


class Proc:
    """A child process whose combined output is collected line by line by a reader thread."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._lock:
                self._lines.append(line)

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        with self._lock:
            return "".join(self._lines)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.popen.kill()
        self.popen.wait(10)


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until `predicate()` is truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class World:
    """The fake Slack, the simulator process and the app process(es) on one database."""

    tmp_path: Path
    fake: FakeSlack
    sim: Proc
    sim_url: str
    app_env: dict[str, str]
    app: Proc | None = None
    app_url: str = ""
    procs: list[Proc] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def start_app(self) -> None:
        """Start `python -m bot` on the world's database and wait until it serves."""
        port = free_port()
        env = self.app_env | {"PORT": str(port)}
        self.app = Proc([sys.executable, "-m", "bot"], env, self.tmp_path)
        self.procs.append(self.app)
        self.app_url = f"http://127.0.0.1:{port}"
        wait(lambda: self._serving(), 20, "the app to serve /healthz")

    def _serving(self) -> bool:
        assert self.app is not None
        assert self.app.popen.poll() is None, f"the app exited: {self.app.output}"
        try:
            requests.get(f"{self.app_url}/healthz", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    def post(self, body: str, content_type: str, **extra: str) -> requests.Response:
        """POST a correctly signed body to the app's /slack/events."""
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
            **extra,
        }
        url = f"{self.app_url}/slack/events"
        return requests.post(url, data=body.encode(), headers=headers, timeout=5)

    def upload(self, name: str, content: bytes, *, every_delivery: bool = False) -> str:
        """Share a file in the channel (file_share event); returns the upload's ts.

        With `every_delivery`, Slack's other deliveries for the same upload follow: the
        file_shared event and a retry of the file_share event (X-Slack-Retry-Num: 1).
        """
        file = self.fake.add_file(name, content)
        ts = f"1699999999.{next(self._ids):06d}"
        share = self.fake.file_share_event(file, channel=CHANNEL, ts=ts)
        shared = self.fake.file_shared_event(file, channel=CHANNEL, ts=ts)
        first = self.event(share)
        if every_delivery:
            self.event(shared)
            retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            self.event(share, event_id=first, **retry)
        return ts

    def event(self, event: dict[str, Any], event_id: str | None = None, **headers: str) -> str:
        """Deliver one Events API callback; returns its event_id."""
        event_id = event_id or f"Ev{next(self._ids):08d}"
        payload = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
        response = self.post(json.dumps(payload), "application/json", **headers)
        assert response.status_code == 200, response.text
        return event_id

    def click(self, card: Recorded, word: str, user: str) -> requests.Response:
        """Click the card's button whose label contains `word`, as `user`."""
        block, button = find_button(card, word)
        ts = str(card.answer["ts"])
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "token": "legacy",
            "team": {"id": TEAM, "domain": "example"},
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": CHANNEL,
                "is_ephemeral": False,
            },
            "trigger_id": f"trigger-{next(self._ids)}",
            "channel": {"id": CHANNEL, "name": "general"},
            "message": {"type": "message", "ts": ts, "thread_ts": card.body.get("thread_ts")},
            "response_url": f"{self.fake.url}/response/action-{next(self._ids)}",
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": block["block_id"],
                    "value": button["value"],
                    "type": "button",
                    "text": button["text"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        body = "payload=" + quote(json.dumps(payload))
        return self.post(body, "application/x-www-form-urlencoded")

    def cards(self, thread: str) -> list[Recorded]:
        """Messages with blocks the app posted in a thread (its preview cards)."""
        return [
            r
            for r in self.fake.calls("chat.postMessage")
            if r.blocks() and r.body.get("thread_ts") == thread
        ]

    def wait_card(self, thread: str, timeout: float = 15) -> Recorded:
        """The (first) preview card in a thread."""
        cards: list[Recorded] = wait(lambda: self.cards(thread), timeout, f"a card in {thread}")
        return cards[0]

    def texts(self, thread: str) -> list[str]:
        """Texts of plain messages the app posted in a thread."""
        return [
            str(r.body.get("text"))
            for r in self.fake.calls("chat.postMessage")
            if r.body.get("thread_ts") == thread and not r.blocks()
        ]

    def results(self, thread: str) -> list[str]:
        """Thread messages that report an EAPI status 0 with a batch_id."""
        return [t for t in self.texts(thread) if RESULT.search(t)]

    def ephemerals(self, user: str) -> list[str]:
        """Texts shown to one user only."""
        return [
            str(r.body.get("text"))
            for r in self.fake.calls("chat.postEphemeral")
            if r.body.get("user") == user
        ]

    def processed(self) -> list[tuple[int, int, int]]:
        """(eapi batch_id, messages, parts) of every submission the simulator processed."""
        found = PROCESSED.findall(self.sim.output)
        return [(int(batch), int(messages), int(parts)) for batch, messages, parts in found]

    def send_batch_requests(self) -> int:
        """How many send_batch requests reached the simulator."""
        return self.sim.output.count("POST /eapi/submission/send_batch/")

    def credits(self) -> float:
        """The simulated account's balance, asked with the EAPI's get_credits."""
        form = {"username": SIM_USER, "password": SIM_PASSWORD}
        url = f"{self.sim_url}/user/get_credits/1/1.1"
        answer = requests.post(url, data=form, timeout=5).text
        assert answer.startswith("0|"), answer
        return float(answer.split("|")[1])

    def cli(self, *args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run `python -m bot ARGS` (no Slack settings) against the world's database."""
        env = base_env(self.tmp_path) | {"SMSBATCH_DB": str(db or self.tmp_path / "app.db")}
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=self.tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )


def eapi_batch_id(text: str) -> int:
    """The batch_id a result message reports."""
    found = RESULT.search(text)
    assert found is not None, text
    return int(found.group(1))


def find_button(card: Recorded, word: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The actions block and the button whose label contains `word`."""
    for block in card.blocks():
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("type") == "button" and word in element["text"]["text"]:
                return block, element
    raise AssertionError(f"no {word!r} button on the card: {card.blocks()}")


def buttons(message: Recorded) -> list[str]:
    """Labels of every button in a posted or updated message."""
    return [
        e["text"]["text"]
        for b in message.blocks()
        if b["type"] == "actions"
        for e in b.get("elements", [])
        if e.get("type") == "button"
    ]


def start_simulator(tmp_path: Path, *options: str) -> tuple[Proc, str]:
    """`python -m bot simulator` with credentials set; returns it and its EAPI_URL."""
    port = free_port()
    env = base_env(tmp_path) | {"EAPI_USERNAME": SIM_USER, "EAPI_PASSWORD": SIM_PASSWORD}
    argv = [sys.executable, "-m", "bot", "simulator", "--port", str(port), *options]
    sim = Proc(argv, env, tmp_path)
    url = f"http://127.0.0.1:{port}/eapi"
    wait(lambda: "listening" in sim.output or sim.popen.poll() is not None, 20, "the simulator")
    assert sim.popen.poll() is None, f"the simulator exited: {sim.output}"
    return sim, url


@contextmanager
def running_world(tmp_path: Path, *sim_options: str, **env: str) -> Iterator[World]:
    """Fake Slack, simulator process and app process; everything stopped afterwards."""
    with running_fake_slack() as fake:
        sim, sim_url = start_simulator(tmp_path, *sim_options)
        app_env = base_env(tmp_path) | {
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "EAPI_URL": sim_url,
            "EAPI_USERNAME": SIM_USER,
            "EAPI_PASSWORD": SIM_PASSWORD,
            "SMSBATCH_APPROVERS": f"{APPROVER},{PREPARER}",
            "SMSBATCH_RETRY_BASE_SECONDS": "0.05",
            "SMSBATCH_RETRY_CAP_SECONDS": "0.2",
            **env,
        }
        world = World(tmp_path, fake, sim, sim_url, app_env, procs=[sim])
        try:
            world.start_app()
            yield world
        finally:
            for proc in reversed(world.procs):
                proc.stop()
        for proc in world.procs:
            assert "Traceback" not in proc.output, proc.output
            assert SIM_PASSWORD not in proc.output and fake.token not in proc.output
        assert fake.problems == [], fake.problems


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A world with a well-behaved simulator."""
    with running_world(tmp_path) as started:
        yield started


def approve_and_wait(world: World, thread: str) -> tuple[Recorded, str]:
    """Approve the thread's card as the approver; wait for the status 0 result message."""
    card = world.wait_card(thread)
    assert world.click(card, "Approve", APPROVER).status_code == 200
    result = wait(lambda: world.results(thread), 20, "the EAPI result in the thread")
    return card, result[0]


# 1 and 2: upload, preview, approval, submission


def test_an_upload_gets_one_preview_and_approval_sends_exactly_the_rows(world: World) -> None:
    """CSV upload -> one card in its thread; Approve -> one send_batch with the three rows."""
    credits_before = world.credits()
    thread = world.upload("contacts.csv", CSV, every_delivery=True)
    card = world.wait_card(thread)
    time.sleep(0.5)  # a second preview would show up by now
    assert len(world.cards(thread)) == 1 and card.body["channel"] == CHANNEL
    assert re.match(r"Batch (\d+): 3 recipients, 3 SMS, ~3 credits — waiting", card.body["text"])
    labels = buttons(card)
    assert any("Approve" in t for t in labels) and any("Cancel" in t for t in labels)

    _, result = approve_and_wait(world, thread)
    eapi_batch = eapi_batch_id(result)
    assert world.processed() == [(eapi_batch, 3, 3)]
    assert world.credits() == credits_before - 3
    updates = wait(
        lambda: [u for u in world.fake.calls("chat.update") if u.body["ts"] == card.answer["ts"]],
        10,
        "the card's update",
    )
    # After the decision only Stop may remain, while submissions are still to be made.
    assert all(set(buttons(u)) <= {"Stop sending"} for u in updates)
    final = wait(
        lambda: [u for u in world.fake.calls("chat.update") if "sent" in u.body["text"]],
        10,
        "the card showing the batch as sent",
    )[-1]
    assert buttons(final) == []
    assert str(eapi_batch) in json.dumps(final.blocks())
    assert "unknown" not in json.dumps(final.blocks())
    assert sent_batch_data(world) == [ROWS]


def sent_batch_data(world: World) -> list[list[tuple[str, str]]]:
    """The rows of each submission attempt, read back from `audit --format json`."""
    result = world.cli("audit", "--format", "json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    return [
        batch_rows(e["detail"]["params"]["batch_data"])
        for e in entries
        if e["event"] == "attempt_started"
    ]


def batch_rows(batch_data: str) -> list[tuple[str, str]]:
    """(msisdn, message) pairs of an EAPI batch_data CSV (backslash-escaped quotes)."""
    reader = csv.reader(io.StringIO(batch_data), escapechar="\\", doublequote=False)
    header, *rows = list(reader)
    assert header[:2] == ["msisdn", "message"], header
    return [(row[0], row[1]) for row in rows]


# 3: who may approve, and how many approvals count


def test_self_approval_and_outsiders_are_refused_and_nothing_is_sent(world: World) -> None:
    """The preparer (an approver too) and a non-approver get an ephemeral reason; no send_batch."""
    thread = world.upload("contacts.csv", CSV)
    card = world.wait_card(thread)
    assert world.click(card, "Approve", PREPARER).status_code == 200
    assert world.click(card, "Approve", OUTSIDER).status_code == 200
    wait(lambda: world.ephemerals(PREPARER), 10, "the preparer's refusal")
    wait(lambda: world.ephemerals(OUTSIDER), 10, "the outsider's refusal")
    time.sleep(1.0)  # a wrongly accepted approval would reach the simulator by now
    assert world.send_batch_requests() == 0 and world.processed() == []
    assert world.texts(thread) == [] and world.fake.calls("chat.update") == []
    refusals = [e for e in audit(world) if e["event"] == "approval_refused"]
    assert sorted(e["actor"] for e in refusals) == [OUTSIDER, PREPARER]


def test_a_double_click_submits_once(world: World) -> None:
    """Three Approve clicks at the same moment -> one approval, one submission, one result."""
    thread = world.upload("contacts.csv", CSV)
    card = world.wait_card(thread)
    clicks = [
        threading.Thread(target=world.click, args=(card, "Approve", APPROVER)) for _ in range(3)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(10)
    wait(lambda: world.results(thread), 20, "the EAPI result")
    time.sleep(1.0)  # a second submission would reach the simulator by now
    assert len(world.processed()) == 1 and world.send_batch_requests() == 1
    assert len(world.results(thread)) == 1
    assert [e["event"] for e in audit(world)].count("approved") == 1


def audit(world: World) -> list[dict[str, Any]]:
    """`audit --format json`, parsed."""
    result = world.cli("audit", "--format", "json")
    assert result.returncode == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


# 4 and 5: crashes and faults


def test_a_crash_mid_request_is_recovered_without_a_second_send(tmp_path: Path) -> None:
    """SIGKILL while the EAPI holds a processed request; the restarted app resends with the
    same stop_dup_id, the EAPI de-duplicates it, and the result reaches the thread."""
    with running_world(tmp_path, "--script", "timeout", "--hang-seconds", "60") as world:
        thread = world.upload("contacts.csv", CSV)
        card = world.wait_card(thread)
        assert world.click(card, "Approve", APPROVER).status_code == 200
        wait(lambda: "held, no answer" in world.sim.output, 15, "the held request")
        assert world.app is not None
        world.app.kill()
        world.start_app()
        result = wait(lambda: world.results(thread), 45, "the result after the restart")
        eapi_batch = eapi_batch_id(result[0])
        assert world.processed() == [(eapi_batch, 3, 3)]
        assert world.send_batch_requests() == 2 and len(world.results(thread)) == 1
        ids = re.findall(r"send_batch/1/1.0 user=\S+ stop_dup_id=(\d+)", world.sim.output)
        assert len(ids) == 2 and ids[0] == ids[1]
        assert sent_batch_data(world) == [ROWS, ROWS]


def test_transient_faults_are_retried_into_one_submission(tmp_path: Path) -> None:
    """Script 40,503,0: two retries, one processed submission, its result in the thread."""
    with running_world(tmp_path, "--script", "40,503,0") as world:
        thread = world.upload("contacts.csv", CSV)
        _, result = approve_and_wait(world, thread)
        eapi_batch = eapi_batch_id(result)
        assert world.processed() == [(eapi_batch, 3, 3)]
        assert world.send_batch_requests() == 3
        assert len(world.results(thread)) == 1
        assert sent_batch_data(world) == [ROWS, ROWS, ROWS]


# 6: audit and health


def test_audit_lists_the_batch_and_verifies_and_health_follows_the_app(world: World) -> None:
    """`audit --format json` is one array with the batch's story; `--verify` exits 0;
    `health` exits 0 while the app runs, non-zero with one line without a database."""
    thread = world.upload("contacts.csv", CSV)
    approve_and_wait(world, thread)
    events = wait(
        lambda: "batch_finished" in [e["event"] for e in audit(world)] and audit(world),
        10,
        "the batch_finished audit entry",
    )
    batch = events[0]["batch_id"]
    story = [e["event"] for e in events if e["batch_id"] == batch]
    for step in ("batch_prepared", "approved", "attempt_started", "chunk_done", "batch_finished"):
        assert step in story
    assert SIM_PASSWORD not in json.dumps(events)
    verified = world.cli("audit", "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    healthy = world.cli("health")
    assert healthy.returncode == 0, healthy.stderr
    report = requests.get(f"{world.app_url}/healthz", timeout=5)
    assert report.status_code == 200 and report.json()["ok"] is True
    only = world.cli("audit", "--batch", str(batch), "--format", "json")
    assert only.returncode == 0 and {e["batch_id"] for e in json.loads(only.stdout)} == {batch}
    missing = world.cli("health", db=world.tmp_path / "nowhere" / "none.db")
    assert missing.returncode != 0
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr
    assert not (world.tmp_path / "nowhere" / "none.db").exists()


# 7: check


def run_check(tmp_path: Path, content: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot check FILE --format json` in a clean environment."""
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", str(path), "--format", "json", *args],
        cwd=tmp_path,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_check_prints_the_plan_as_json_with_exit_codes(tmp_path: Path) -> None:
    """Sendable rows -> 0 and the interface keys; nothing sendable -> 1; unusable -> 2."""
    content = (
        "msisdn,message\n447911123401,Hello\n447911123401,Hello\n12,too short\n447700900002,Zoë €\n"
    ).encode()
    result = run_check(tmp_path, content)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["rows"], plan["recipients"], plan["duplicates"]) == (4, 2, 1)
    assert (plan["parts"], plan["credits"]) == (2, 2)
    [rejected] = plan["rejected"]
    assert set(rejected) >= {"line", "column", "reason", "value"}
    assert (rejected["line"], rejected["column"], rejected["value"]) == (4, "msisdn", "12")
    assert [
        {k: m[k] for k in ("line", "msisdn", "text", "dca", "parts")} for m in plan["messages"]
    ] == [
        {"line": 2, "msisdn": "447911123401", "text": "Hello", "dca": "7bit", "parts": 1},
        {"line": 5, "msisdn": "447700900002", "text": "Zoë €", "dca": "16bit", "parts": 1},
    ]
    nothing = run_check(tmp_path, b"msisdn,message\n12,too short\n")
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["recipients"] == 0
    unusable = run_check(tmp_path, PNG)
    assert unusable.returncode == 2 and unusable.stdout == ""
    assert len(unusable.stderr.strip().splitlines()) == 1 and "Traceback" not in unusable.stderr


# 8: bad input over Slack


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (PNG, ("image.csv", "PNG", "not a CSV")),
        (b"name,message\nAnn,Hello\nBob,Hi\n", ("image.csv", "msisdn column")),
    ],
    ids=["png-named-csv", "no-msisdn-column"],
)
def test_unusable_uploads_get_a_clear_reply_and_the_app_carries_on(
    world: World, content: bytes, words: tuple[str, ...]
) -> None:
    """A refused upload: one plain reply in its thread, no card, no traceback; the next good
    upload still gets its preview and the refusal is on record."""
    thread = world.upload("image.csv", content)
    reply = wait(lambda: world.texts(thread), 15, "the refusal in the thread")
    assert len(reply) == 1 and world.cards(thread) == []
    assert all(word in reply[0] for word in words), reply[0]
    assert "Traceback" not in reply[0] and "went wrong" not in reply[0]
    good = world.upload("contacts.csv", CSV)
    assert world.wait_card(good).body["text"].startswith("Batch ")
    assert "upload_refused" in [e["event"] for e in audit(world)]
