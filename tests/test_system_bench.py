"""The benchmarks stay runnable: small runs of each produce their figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench import (
    bench_ack,
    bench_intake,
    bench_reports,
    bench_sender,
    bench_slack_path,
    bench_spreadsheet,
    bench_suppression,
    intake_profile,
)
from bench.intake_file import build_file
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import SendOptions


def test_generated_upload_has_the_mix_issue_3_asks_for() -> None:
    """1,000 rows: 10 % rejected, 5 % 16-bit, some duplicates, numbers from ten countries."""
    plan = plan_batch(build_file(1000), SendOptions(), IntakeLimits(), PriceTable())
    assert plan.rows == 1000 and len(plan.rejected) == 100
    assert sum(m.dca.value == "16bit" for m in plan.messages) + len(plan.duplicates) >= 50
    assert 10 <= len(plan.duplicates) <= 30
    assert len({m.country for m in plan.messages}) == 10


def test_intake_benchmark_runs_check_and_the_baseline_as_processes() -> None:
    """300 rows: both processes plan every row (table and JSON, and a file at the row limit's
    place with default settings); the import check names what `check` loaded."""
    figures = bench_intake.measure(300, big_rows=600, repeat=1, profile=False, limit_rows=400)
    assert figures["check_s"] > 0 and figures["baseline_s"] > 0
    assert figures["check_json_s"] > 0 and figures["json_ratio"] > 0
    assert figures["limit_rows"] == 400 and figures["limit_check_rss_mb"] > 10
    assert figures["check_rss_mb"] > 10 and figures["big_check_s"] > 0
    assert isinstance(figures["slack_modules"], list)


def test_spreadsheet_benchmark_reads_the_xlsx_three_ways() -> None:
    """300 rows: the xlsx check, calamine alone and the CSV check each read every row."""
    figures = bench_spreadsheet.measure(300, repeat=1)
    assert figures["xlsx_s"] > 0 and figures["calamine_s"] > 0 and figures["csv_s"] > 0
    assert figures["ratio"] == figures["xlsx_s"] / (figures["calamine_s"] + figures["csv_s"])


def test_phonenumbers_share_is_a_fraction() -> None:
    """The profile of a small file finds phonenumbers work by both estimates."""
    figures = intake_profile.measure(build_file(200))
    assert 0 < figures["sampled_share"] <= 1 and 0 < figures["share"] <= 1


def test_sender_benchmark_uses_one_connection_and_compares_with_bare_posts() -> None:
    """Five batches: one connection, one request at a time, and the same bodies posted bare."""
    figures = bench_sender.measure(5)
    assert figures["processed"] == 5 and figures["bare_processed"] == 5
    assert figures["connections_opened"] == 1 and figures["max_in_flight"] == 1
    assert figures["ratio"] > 0


def test_ack_benchmark_measures_commands_and_clicks_while_busy() -> None:
    """Four commands, clicks (Approve, Test, Stop) and Home opens, idle and busy."""
    figures = bench_ack.measure(4, 0.2, rows=300)
    assert figures["busy_command_p99_ms"] > 0 and figures["busy_click_max_ms"] > 0
    for kind in ("test", "stop", "home"):
        assert figures[f"busy_{kind}_p99_ms"] > 0 and figures[f"idle_{kind}_max_ms"] > 0
    assert figures["intakes"] >= 1 and figures["chunks"] >= 1


def test_slack_path_benchmark_times_the_card_and_the_approval() -> None:
    """300 rows: check, upload -> card and the approval's CPU in the app are all measured."""
    figures = bench_slack_path.measure(300, repeat=1)
    assert figures["check_s"] > 0 and figures["card_s"] > 0
    assert figures["card_ratio"] == figures["card_s"] / figures["check_s"]
    assert figures["approve_cpu_ms"] >= 0 and figures["ack_max_ms"] > 0


def test_app_sampler_reports_what_the_app_threads_ran(tmp_path: Path) -> None:
    """The ack benchmark's diagnosis mode writes the app's thread samples on exit."""
    out = tmp_path / "samples.json"
    bench_ack.measure(2, 0.2, rows=100, sample_to=out)
    report = json.loads(out.read_text())
    assert report["samples"] > 0 and report["running"]


def test_reports_benchmark_polls_every_submission_and_times_a_big_poll() -> None:
    """Three small batches: one fetch each, every message coded; a 2,000-row poll is timed."""
    polled = bench_reports.polled(3, 50)
    assert polled["submitted"] == polled["fetches"] == 3 and polled["messages"] == 150
    assert polled["max_in_flight"] == 1
    big = bench_reports.big_poll(2000, repeat=1)
    assert 0 < big["parse_s"] <= big["total_s"] and big["peak_mb"] > 0


def test_suppression_benchmark_checks_against_both_lists() -> None:
    """300 rows against 5,000 listed numbers: a tenth of the file's numbers are suppressed."""
    figures = bench_suppression.measure(300, 5000, repeat=1)
    assert figures["own_listed"] > 0 and figures["suppressed_rows"] >= figures["own_listed"]
    assert figures["empty_s"] > 0 and figures["full_rss_mb"] > 10
