"""Credits per SMS part, by destination country and routing group (`SMSBATCH_PRICES`).

The table is a TOML or JSON file (`.toml` or `.json`; any other name is read as JSON when it
starts with `{`, else as TOML). Every value is credits per SMS part, a number >= 0:

    default = 1                 # any destination not listed (optional; 1 when absent)
    routing_group_1 = 0.8       # optional: any destination not listed, on routing group 1

    [countries.GB]              # ISO region of the destination, as phonenumbers names it
    default = 1.0               # this country when the routing group is not given
    routing_group_1 = 0.8       # this country on routing group 1 (also _2, _3)

    [countries.DE]
    default = 1.5

JSON has the same shape: `{"default": 1, "countries": {"GB": {"default": 1.0}}}`.

A price is looked up from the most specific entry to the least: the country on that routing
group, the country's default, the table's routing group, the table's default. A region that
shares its calling code with a listed main region and is not listed itself is priced like that
region (Guernsey, Jersey and the Isle of Man like GB; Canada like US), because carriers bill
those destinations alike and a reseller's list usually names only the main one.

No file at all means 1 credit a part everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.errors import ConfigError

ROUTING_GROUPS = (1, 2, 3)
_GROUP_KEYS = {f"routing_group_{g}": g for g in ROUTING_GROUPS}
_VARIABLE = "SMSBATCH_PRICES"


@dataclass(frozen=True, slots=True)
class Prices:
    """Credits per part for one scope (the whole table, or one country)."""

    default: Decimal | None = None
    groups: Mapping[int, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as plain values (a mappingproxy cannot be): the intake's worker gets it."""
        return (_prices_from, (self.default, dict(self.groups)))

    def lookup(self, routing_group: int | None) -> Decimal | None:
        """The price for that routing group, else this scope's default, else None."""
        if routing_group is not None and routing_group in self.groups:
            return self.groups[routing_group]
        return self.default


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Credits per SMS part by destination country and routing group; see the module doc."""

    base: Prices = field(default_factory=lambda: Prices(default=Decimal(1)))
    countries: Mapping[str, Prices] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "built-in: 1 credit a part"

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """Read the table from a TOML or JSON file; None means 1 credit a part everywhere."""
        if path is None:
            return cls()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError([f"{_VARIABLE}: cannot read {str(path)!r} ({exc.strerror})"]) from exc
        data = _parse(raw, path)
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "mapping") -> PriceTable:
        """Build a table from parsed TOML/JSON, raising ConfigError listing every problem."""
        problems: list[str] = []
        base = _prices(data, "", problems, allow={"countries"})
        if base.default is None:
            base = Prices(default=Decimal(1), groups=base.groups)
        countries: dict[str, Prices] = {}
        raw_countries = data.get("countries", {})
        if not isinstance(raw_countries, Mapping):
            problems.append("'countries' must be a table of country tables, e.g. [countries.GB]")
            raw_countries = {}
        for name, entry in raw_countries.items():
            region = str(name).strip().upper()
            if not _known_region(region):
                problems.append(f"countries.{name}: not an ISO region such as GB or DE")
            elif not isinstance(entry, Mapping):
                problems.append(f"countries.{name} must be a table such as {{ default = 1 }}")
            else:
                countries[region] = _prices(entry, f"countries.{region}.", problems, allow=set())
        if problems:
            raise ConfigError([f"{_VARIABLE} ({source}): {p}" for p in problems])
        return cls(base=base, countries=MappingProxyType(countries), source=source)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as plain values (a mappingproxy cannot be): the intake's worker gets it."""
        return (_table_from, (self.base, dict(self.countries), self.source))

    @property
    def is_default(self) -> bool:
        """True when no table was configured (1 credit a part everywhere)."""
        return not self.countries and not self.base.groups and self.base.default == 1

    def credits_per_part(self, country: str, routing_group: int | None) -> Decimal:
        """Credits one SMS part to that country costs on that routing group (None: default)."""
        for region in (country, _main_region(country)):
            prices = self.countries.get(region) if region else None
            if prices is not None:
                found = prices.lookup(routing_group)
                if found is not None:
                    return found
        found = self.base.lookup(routing_group)
        return found if found is not None else Decimal(1)


def _prices_from(default: Decimal | None, groups: dict[int, Decimal]) -> Prices:
    """`Prices` back from its pickled values."""
    return Prices(default=default, groups=MappingProxyType(groups))


def _table_from(base: Prices, countries: dict[str, Prices], source: str) -> PriceTable:
    """`PriceTable` back from its pickled values."""
    return PriceTable(base=base, countries=MappingProxyType(countries), source=source)


def _parse(raw: bytes, path: Path) -> Mapping[str, Any]:
    """Parse the file as TOML or JSON (by extension, else by its first character)."""
    import tomllib  # here, not at the top: most runs have no price table (5 ms of every check)

    suffix = path.suffix.lower()
    as_json = suffix == ".json" or (suffix != ".toml" and raw.lstrip()[:1] == b"{")
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text) if as_json else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if as_json else "TOML"
        raise ConfigError([f"{_VARIABLE}: {str(path)!r} is not valid {kind}: {exc}"]) from exc
    if not isinstance(data, Mapping):
        raise ConfigError([f"{_VARIABLE}: {str(path)!r} must hold a table (an object in JSON)"])
    return data


def _prices(data: Mapping[str, Any], prefix: str, problems: list[str], allow: set[str]) -> Prices:
    """Read `default` and `routing_group_N` keys of one scope, noting every problem."""
    default: Decimal | None = None
    groups: dict[int, Decimal] = {}
    for key, value in data.items():
        if key in allow:
            continue
        if key != "default" and key not in _GROUP_KEYS:
            expected = "default, routing_group_1, routing_group_2, routing_group_3"
            problems.append(f"{prefix}{key}: unknown key (expected {expected})")
            continue
        price = _credits(value)
        if price is None:
            problems.append(f"{prefix}{key}: must be a number of credits >= 0, got {value!r}")
        elif key == "default":
            default = price
        else:
            groups[_GROUP_KEYS[key]] = price
    return Prices(default=default, groups=MappingProxyType(groups))


def _credits(value: object) -> Decimal | None:
    """A finite, non-negative Decimal from a TOML/JSON number or numeric string, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        # str() first: Decimal(0.1) would carry the float's binary error into every estimate.
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None


def _known_region(region: str) -> bool:
    import phonenumbers  # local: the metadata loads lazily and most callers never need it

    return region in phonenumbers.SUPPORTED_REGIONS or region == "001"


def _main_region(region: str) -> str | None:
    """The main region of the region's calling code (GG -> GB, CA -> US), or None."""
    import phonenumbers

    code = phonenumbers.country_code_for_region(region)
    if not code:
        return None
    main: str = phonenumbers.region_code_for_country_code(code)
    return main if main != region else None
