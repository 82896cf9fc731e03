"""The benchmarks stay runnable: small runs of each produce their figures."""

from __future__ import annotations

from bench import bench_intake, bench_sender


def test_sender_benchmark_uses_one_connection_and_one_request_at_a_time() -> None:
    """Five batches drained: all processed over one connection, never two requests at once."""
    figures = bench_sender.measure(5)
    assert figures["processed"] == 5
    assert figures["connections_opened"] == 1
    assert figures["max_in_flight"] == 1


def test_intake_benchmark_plans_every_row() -> None:
    """A 300-row generated file is planned with every row accounted for."""
    figures = bench_intake.measure(300)
    assert figures["rows"] == 300
    assert figures["messages"] + figures["rejected"] + figures["duplicates"] == 300
