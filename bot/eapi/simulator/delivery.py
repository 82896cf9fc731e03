"""What happens to each accepted message after send_batch, in the simulator: its report codes.

Each message gets a fate when its submission is accepted, drawn from a delivery mix
(`delivered=88,failed=6,transient=4,pending=2` by default): a path of (seconds after acceptance,
status code) steps. Delivered: 0, then 10, then 11. Failed: 0, 10, then 51, 53 or 57. Transient:
0, then 63 (queued for retry), later 11 or 51. Pending: 0 for ever. Nothing is known for the first
`FIRST_REPORT` seconds (get_report answers zero rows). A `time_scale` of 60 runs the paths sixty
times faster than the wall clock, so a test sees a batch go final within seconds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

FATES = ("delivered", "failed", "transient", "pending")
DEFAULT_MIX: Mapping[str, float] = {"delivered": 88, "failed": 6, "transient": 4, "pending": 2}
FIRST_REPORT = 2.0  # simulated seconds before any report is known
FAILED_CODES = (51, 53, 57)

Path = tuple[tuple[float, int], ...]


def parse_mix(text: str) -> dict[str, float]:
    """`delivered=90,failed=5` → weights; ValueError naming a wrong part."""
    mix: dict[str, float] = dict.fromkeys(FATES, 0.0)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in FATES:
            raise ValueError(f"{name!r} is not one of {', '.join(FATES)}")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if weight < 0:
            raise ValueError(f"{part!r}: the weight must be a number, 0 or more")
        mix[name] = weight
    if not sum(mix.values()) > 0:
        raise ValueError("the delivery mix needs at least one weight above 0")
    return mix


@dataclass
class DeliveryModel:
    """Draws each message's path and says its code at a given moment."""

    mix: Mapping[str, float]
    time_scale: float = 1.0

    def path(self, rng: random.Random) -> Path:
        """One message's path, in simulated seconds after acceptance."""
        fate = rng.choices(FATES, weights=[self.mix.get(f, 0.0) for f in FATES])[0]
        start = FIRST_REPORT
        upstream = start + rng.uniform(3, 10)
        end = upstream + rng.uniform(10, 60)
        if fate == "delivered":
            return ((start, 0), (upstream, 10), (end, 11))
        if fate == "failed":
            return ((start, 0), (upstream, 10), (end, rng.choice(FAILED_CODES)))
        if fate == "transient":
            later = end + rng.uniform(60, 240)
            return ((start, 0), (upstream, 63), (later, 11 if rng.random() < 0.75 else 51))
        return ((start, 0),)

    def code_at(self, path: Path, elapsed: float) -> int | None:
        """The code `elapsed` wall seconds after acceptance; None while nothing is known."""
        simulated = elapsed * self.time_scale
        code = None
        for offset, step in path:
            if offset > simulated:
                break
            code = step
        return code

    def final_code(self, path: Path) -> int:
        """The code a path ends with."""
        return path[-1][1]
