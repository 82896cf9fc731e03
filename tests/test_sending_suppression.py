"""Numbers suppressed after approval: dropped from a submission before it goes out, never after."""

from __future__ import annotations

import json
from pathlib import Path

from bot.codec import sha256_hex
from bot.model import BatchState, ProgressKind
from bot.sending.gate import ALL_DROPPED
from bot.store import suppression
from bot.store.suppression import Source
from tests.core_helpers import PREPARER, Core, FakeClock, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator
from tests.test_sending_sender import drain

SECOND = "447400100001"  # the second row of csv_rows


def listed(core: Core, *numbers: str) -> None:
    """Put numbers on the list, as a person would after approval."""
    with core.store.write() as tx:
        for number in numbers:
            suppression.suppress(tx, number, Source.MANUAL, actor=PREPARER, at=1.0)


def test_a_number_listed_after_approval_is_dropped_and_said(tmp_path: Path) -> None:
    """The EAPI never sees it; new body and hash stored with `submission_trimmed`; reported."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    batch_id = core.approved(csv_rows(3))
    listed(core, SECOND)
    with running_simulator() as sim:
        client = client_for(sim)
        drain(core.sender(client), clock)
        client.close()
        sent = [number for number, _ in sim.processed[0].rows]
    assert sent == ["447400100000", "447400100002"]
    chunk = core.store.chunks(batch_id)[0]
    params_json, sha = core.store.chunk_params(chunk.id)
    assert sha == sha256_hex(params_json) == chunk.params_sha256 and chunk.messages == 2
    trimmed = [e for e in core.store.audit_entries(batch_id) if e.event == "submission_trimmed"]
    assert len(trimmed) == 1
    assert json.loads(trimmed[0].detail)["dropped"] == [SECOND]
    dropped = core.notifier.of(ProgressKind.DROPPED)
    assert [(e.batch_id, e.dropped) for e in dropped] == [(batch_id, 1)]
    assert core.service.get(batch_id).state is BatchState.SENT


def test_a_resend_keeps_the_body_its_stop_dup_id_covers(tmp_path: Path) -> None:
    """A timed-out first attempt is resent byte for byte even if a number is listed meanwhile."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    batch_id = core.approved(csv_rows(3))
    with running_simulator(script="503,0") as sim:
        client = client_for(sim)
        sender = core.sender(client)
        assert sender.run_once()  # the first attempt: HTTP 503, a retry is scheduled
        listed(core, SECOND)
        drain(sender, clock)
        client.close()
        bodies = [r.params["batch_data"] for r in sim.requests]
    assert len(bodies) == 2 and bodies[0] == bodies[1] and SECOND in bodies[1]
    assert "submission_trimmed" not in [e.event for e in core.store.audit_entries(batch_id)]


def test_a_submission_with_every_number_listed_is_never_sent(tmp_path: Path) -> None:
    """No request at all; the chunk is closed with the reason, the batch finishes."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    batch_id = core.approved(csv_rows(2))
    listed(core, "447400100000", SECOND)
    with running_simulator() as sim:
        client = client_for(sim)
        drain(core.sender(client), clock)
        client.close()
        assert sim.requests == []
    chunk = core.store.chunks(batch_id)[0]
    assert (chunk.state, chunk.reason) == ("failed", ALL_DROPPED)
    assert core.service.get(batch_id).state is BatchState.FAILED
    assert core.notifier.of(ProgressKind.DROPPED)[0].description == ALL_DROPPED
