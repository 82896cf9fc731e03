"""The EAPI client's own metric: how long each request took, by endpoint.

Each client gets its own histogram, registered with no registry: the composition root adds it
to the registry it serves (bot.cli.metrics), so tests and several clients never share state.
"""

from __future__ import annotations

from prometheus_client import Histogram

# From a fast answer to the client's read timeout (120 s): EAPI requests are slow when a big
# submission is being taken in.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def request_histogram() -> Histogram:
    """A new, unregistered `smsbatch_eapi_request_duration_seconds{endpoint}` histogram."""
    return Histogram(
        "smsbatch_eapi_request_duration_seconds",
        "Time from sending an EAPI request to its answer (or failure), by endpoint",
        ["endpoint"],
        buckets=BUCKETS,
        registry=None,
    )


def endpoint_of(path: str) -> str:
    """`/submission/send_batch/1/1.0` -> `send_batch`: one label value per fixed request path."""
    parts = [p for p in path.split("/") if p]
    return parts[1] if len(parts) > 1 else "other"
