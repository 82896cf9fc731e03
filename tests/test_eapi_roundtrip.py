"""Property: any text and number survive client form -> real HTTP POST -> simulator, unchanged.

The client's writer (bot.eapi.batchcsv) and the simulator's reader (bot.eapi.simulator.reader)
were written separately, so agreement between them is evidence, not an echo. One change is by
design: CRLF and lone CR become LF (every message is sent with LF line ends,
as the preview shows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.eapi.client import BatchRow, EapiClient, Outcome, send_batch_params
from bot.eapi.simulator.server import SimulatorServer, Submission
from bot.intake.gsm import first_non_7bit
from bot.model import Dca, SendOptions
from tests.eapi_fixtures import client_for, running_simulator

MSISDNS = st.text(alphabet="0123456789", min_size=7, max_size=15)
# Texts of every kind: quotes, backslashes, commas, CR/LF, Greek, emoji, any plane.
TEXTS = st.text(min_size=1) | st.text(alphabet='",\\\r\n ΔΩΣ{}[]~^|€é😀a', min_size=1)
LATIN1 = st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\x00"), max_size=20)
ROWS = st.lists(st.tuples(MSISDNS, TEXTS, LATIN1), min_size=1, max_size=4)
STOP_DUP_IDS = count(1)


@pytest.fixture(scope="module")
def eapi() -> Iterator[tuple[SimulatorServer, EapiClient]]:
    """One simulator (with credits for every example) and one client for the whole module."""
    with running_simulator(credits=10**9) as server:
        client = client_for(server)
        yield server, client
        client.close()


def lf(text: str) -> str:
    """The text with CRLF and CR as LF, as it is sent by design."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def submit(
    eapi: tuple[SimulatorServer, EapiClient], rows: list[BatchRow]
) -> tuple[Dca, Submission]:
    """Send rows (7-bit when all can be, else 16-bit) and return the dca and the record."""
    server, client = eapi
    seven = all(first_non_7bit(lf(row.text)) is None for row in rows)
    dca = Dca.SEVEN_BIT if seven else Dca.SIXTEEN_BIT
    params = send_batch_params(
        rows, dca, SendOptions(), stop_dup_id=next(STOP_DUP_IDS), max_parts=255
    )
    before = len(server.processed)
    result = client.send_batch(params)
    assert result.outcome is Outcome.ACCEPTED, result
    assert len(server.processed) == before + 1
    return dca, server.processed[-1]


@settings(max_examples=100, deadline=None)
@given(rows=ROWS)
def test_any_rows_arrive_exactly(
    eapi: tuple[SimulatorServer, EapiClient], rows: list[tuple[str, str, str]]
) -> None:
    """Every number, text and per-row source_id reaches the simulator as written (CR -> LF)."""
    batch = [BatchRow(m, t, (("source_id", s),) if s else ()) for m, t, s in rows]
    dca, record = submit(eapi, batch)
    assert record.dca == dca.value
    assert record.rows == tuple((m, lf(t)) for m, t, _ in rows)
    expected_fields = tuple((("source_id", lf(s)),) if s else () for _, _, s in rows)
    assert record.row_fields == expected_fields


def test_spec_example_round_trips(eapi: tuple[SimulatorServer, EapiClient]) -> None:
    """The spec's own example, quoted text and a newline, arrives unchanged."""
    text = 'Hello again. Here is some "quoted text".\nThis text follows a newline'
    rows = [BatchRow("111111111", "Hi there"), BatchRow("333333333", text)]
    dca, record = submit(eapi, rows)
    assert dca is Dca.SEVEN_BIT
    assert record.rows == (("111111111", "Hi there"), ("333333333", text))


@pytest.mark.parametrize(
    "text",
    ["a\r\nb", "a\rb", "\\", '"', "\\\n", '\\"', "ΔΦΓΛΩΠΨΣΘΞ", "{}[]~^|", "😀", "€", "Zoë\r\n"],
)
def test_awkward_texts_round_trip(eapi: tuple[SimulatorServer, EapiClient], text: str) -> None:
    """Escape-heavy, Greek, extension and 16-bit texts arrive as written (line ends as LF)."""
    _, record = submit(eapi, [BatchRow("447700900001", text)])
    assert record.rows == (("447700900001", lf(text)),)
