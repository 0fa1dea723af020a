"""Seeded, byte-reproducible CleverTap export files for tests, demos and benchmarks.

`generate_samples` writes the small bundle under ``data/samples/``; `generate_events`
writes the same event layout at benchmark scale (millions of rows), one day and event
name at a time so memory stays flat. The same seed and arguments always give
byte-identical files: gzip headers carry no time or file name, Parquet options are
fixed, and every random draw comes from a numpy generator keyed by (seed, stream, day,
event, file).

Layout under the output directory::

    events/csv/<stem>.csv.gz        legacy event export, flattened, gzipped CSV
    events/parquet/<stem>.parquet   the same rows, flat dotted columns, typed
    events/json/<stem>.json.gz      the same rows, nested, one object per line
    profiles/100000000-<export id>-<run ts>-0.parquet   enhanced profile export
    lookups/tiers.csv               identity,tier,region_code for joins

``<stem>`` is CleverTap's legacy name
``<request id>-<run ts>-<event name>-<yyyymmdd>-<file index>-<database id>``, with
request id 1709251200, database id 0, the run timestamp the epoch of the UTC midnight
after the day, and the event name keeping its spaces. A day and event name with more
rows than ``rows_per_file`` is split into file index 0, 1, ...

Event columns, in order: ``ts`` (packed ``yyyyMMddHHmmss`` in the project's local
clock), ``eventName``, ``profile.*`` (identity, objectId, all_identities, platform,
phone, name, email, push_token), ``deviceInfo.*`` (make, model, appVersion, sdkVersion,
osVersion, browser, dpi, dimensions.width/height/unit), ``controlGroupName``, then one
``eventProps.<name>`` column per property of that event. Per format:

- CSV: absent values are empty cells; ``profile.all_identities`` and
  ``eventProps.Items`` are JSON text; whole floats are written without ``.0``.
- Parquet: ``ts``, dpi and dimensions are Int64, ``all_identities`` is List(String),
  ``Items`` is List(Struct{sku, name, qty, price}), other properties typed naturally.
- JSON: nested ``profile`` / ``deviceInfo`` (with ``dimensions``) / ``eventProps``
  objects; absent keys are dropped, never written as null. There is no leading line
  holding the event name: whether real legacy files have one is unconfirmed.

Deliberate quirks, so readers and jobs meet them in every sample:

- identities are strings; most look numeric with leading zeros (``007421``), some are
  ``cust-1234``, a few are email addresses; phones keep their ``+``; some are empty;
- ``Charged`` ``Order Id`` is a 25-digit string that no integer type can hold;
- ``Charged`` ``Coupon`` is absent from day-1 files (no column at all) and present,
  sometimes empty, from day 2 on, so the schema changes between runs;
- ``eventProps.Price`` is whole in the first 200 rows of every file and fractional
  after, which breaks CSV type inference that looks only at the first rows;
- row 3 of the first file of each day holds ``Café "Deluxe", 500g`` as a
  ``Product Viewed`` name (comma, quote, non-ASCII) and a ``Payment Mode`` with a line
  break for ``Charged``;
- some ``Category`` and ``Coupon`` values are empty strings (``""`` in JSON, an empty
  cell in CSV, where they cannot be told apart from absent);
- ``App Launched`` is a reserved system event that uploads must filter out.

Profile export columns: ``identity`` (String), ``all_identities`` (List(String)),
``clevertapId`` (String), then ``profileProps``, ``device`` and ``commPrefs`` as
MAP<string, union struct> columns: exactly one of ``member0`` (bool), ``member1``
(int32), ``member2`` (int64), ``member3`` (float32), ``member4`` (double), ``member5``
(string) is set per value, and ``commPrefs`` adds ``member6`` (map<string, string>) for
``subscriptionGroups``. ``DOB`` is epoch seconds of the birth date's UTC midnight in
``member2``; absent properties have no map entry.

Files already in the output directory are overwritten, never removed: regenerate into
an empty directory when the arguments change.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ctjobs.errors import UsageError

logger = logging.getLogger(__name__)

ACCOUNT_ID = "100000000"
EXPORT_REQUEST_ID = "1709251200"
DATABASE_ID = "0"
DEFAULT_START = date(2024, 3, 1)
EVENT_NAMES = (
    "Product Viewed",
    "Added To Cart",
    "Charged",
    "Plan Renewed",
    "App Launched",
)
FORMATS = ("csv", "parquet", "json")

# Share of each event name in benchmark exports: browsing outnumbers buying.
_EVENT_MIX = (0.35, 0.20, 0.15, 0.05, 0.25)
_SUFFIX = {"csv": ".csv.gz", "parquet": ".parquet", "json": ".json.gz"}
_DAY_SECONDS = 86_400
_WHOLE_PRICE_ROWS = 200
_QUIRK_ROW = 3
_PARQUET_ROW_GROUP = 128 * 1024
_GZIP_LEVEL = 6
# CleverTap's draft export docs chunk files at 1,000K records.
_BENCHMARK_ROWS_PER_FILE = 1_000_000

# Independent random streams, so adding a draw to one never shifts another.
_USERS_STREAM, _COUNTS_STREAM, _TS_STREAM, _ROWS_STREAM, _TIERS_STREAM = range(5)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Rng = np.random.Generator

_FIRST_NAMES = (
    "Aarav",
    "Diya",
    "Kabir",
    "Meera",
    "Rohan",
    "José",
    "Zoë",
    "Priya",
    "Dev",
)
_LAST_NAMES = (
    "Sharma",
    "Iyer",
    "Khan",
    "Patel",
    "Reddy",
    "Nair",
    "Gupta",
    "Rao",
    "Singh",
)
_CITIES = ("Mumbai", "Bengaluru", "Delhi", "Pune", "Chennai", "Kochi", "Hyderabad")
_CUSTOMER_TYPES = ("New", "Regular", "Premium")
_APP_VERSIONS = ("5.1.0", "5.2.0", "5.2.1")
_PAYMENT_MODES = ("UPI", "Credit Card", "Debit Card", "Net Banking", "Wallet", "COD")
_COUPONS = ("SAVE10", "WELCOME50", "FESTIVE20")
_QUIRK_PRODUCT = 'Café "Deluxe", 500g'
_QUIRK_PAYMENT_MODE = "Credit Card\nEMI"

# (sku, name, category, whole price)
_CATALOGUE = (
    ("SKU-1001", "Basmati Rice 5kg", "Grocery", 649),
    ("SKU-1002", "Green Tea 100 bags", "Grocery", 299),
    ("SKU-1003", "Cold Brew Coffee", "Beverages", 180),
    ("SKU-2001", "Running Shoes", "Footwear", 2499),
    ("SKU-2002", "Cotton Kurta", "Apparel", 899),
    ("SKU-3001", "Wireless Earbuds", "Electronics", 1999),
    ("SKU-3002", "USB-C Charger", "Electronics", 749),
    ("SKU-4001", "Yoga Mat", "Fitness", 1199),
    ("SKU-4002", "Steel Water Bottle", "Home", 449),
    ("SKU-5001", "Notebook Set", "Stationery", 150),
)

# (platform, make, model, osVersion, browser, sdkVersion, dpi, width, height in mm,
#  share of users)
_DEVICES: tuple[tuple[Any, ...], ...] = (
    ("Android", "samsung", "SM-S911B", "14", None, "70001", 480, 70, 146, 0.18),
    ("Android", "Xiaomi", "2201117TI", "13", None, "70001", 400, 76, 164, 0.12),
    ("Android", "OnePlus", "CPH2449", "14", None, "60200", 450, 74, 163, 0.10),
    ("Android", "Google", "Pixel 7", "14", None, "70001", 420, 73, 155, 0.08),
    ("iOS", "Apple", "iPhone14,2", "17.2", None, "60101", 460, 72, 147, 0.17),
    ("iOS", "Apple", "iPhone15,3", "17.4", None, "60101", 460, 78, 161, 0.13),
    ("Web", None, None, "Windows 11", "Chrome", "10803", None, None, None, 0.12),
    ("Web", None, None, "macOS 14", "Safari", "10803", None, None, None, 0.06),
    ("Web", None, None, "Linux", "Firefox", "10803", None, None, None, 0.04),
)

_PROFILE_FIELDS = (
    "identity",
    "objectId",
    "all_identities",
    "platform",
    "phone",
    "name",
    "email",
    "push_token",
)
_DEVICE_FIELDS = (
    "make",
    "model",
    "appVersion",
    "sdkVersion",
    "osVersion",
    "browser",
    "dpi",
    "dimensions.width",
    "dimensions.height",
    "dimensions.unit",
)


# ----------------------------------------------------------------------------- API


def generate_samples(
    out_dir: str | Path = "data/samples",
    *,
    seed: int = 7,
    start: date = DEFAULT_START,
    days: int = 7,
    users: int = 300,
    events_per_day: int = 250,
    formats: Sequence[str] = FORMATS,
    rows_per_file: int | None = None,
) -> list[Path]:
    """Write the sample bundle: events in each format, one profile export, tiers.

    Each event name gets 60 % to 160 % of ``events_per_day`` rows a day. Returns the
    written paths, events first, in a stable order.
    """
    out = Path(out_dir)
    _check_formats(formats)
    people = _users(users, seed)

    rng = np.random.default_rng([seed, _COUNTS_STREAM])
    low, high = int(events_per_day * 0.6), int(events_per_day * 1.6)
    counts = rng.integers(low, high + 1, size=(days, len(EVENT_NAMES)))

    paths = _write_events(out, people, counts, seed, start, formats, rows_per_file)
    paths.append(_write_profiles(out / "profiles", people, start, days))
    paths.append(_write_tiers(out / "lookups" / "tiers.csv", people, seed))
    return paths


def generate_events(
    n_rows: int,
    out_dir: str | Path,
    *,
    seed: int = 7,
    fmt: str = "parquet",
    start: date = DEFAULT_START,
    days: int = 7,
    users: int = 300,
    rows_per_file: int | None = _BENCHMARK_ROWS_PER_FILE,
) -> list[Path]:
    """Write exactly ``n_rows`` events, mixed over event names and days, for benchmarks.

    Files go to ``<out_dir>/events/<fmt>/`` with the sample layout. Rows are built one
    output file at a time, so peak memory follows ``rows_per_file`` (default one
    million, CleverTap's documented chunk size), not ``n_rows``. With
    ``rows_per_file=None`` a whole day of one event name is built at once.
    """
    if n_rows < 0:
        raise UsageError(f"n_rows must be zero or more, got {n_rows}")
    _check_formats([fmt])
    people = _users(users, seed)

    rng = np.random.default_rng([seed, _COUNTS_STREAM])
    cells = np.tile(np.asarray(_EVENT_MIX) / days, days)
    counts = rng.multinomial(n_rows, cells / cells.sum()).reshape(
        days, len(EVENT_NAMES)
    )

    return _write_events(
        Path(out_dir), people, counts, seed, start, [fmt], rows_per_file
    )


def event_file_stem(event: str, day: date, index: int = 0) -> str:
    """Return CleverTap's legacy export file name, without suffix, for one file."""
    run_ts = _midnight_epoch(day) + _DAY_SECONDS
    return f"{EXPORT_REQUEST_ID}-{run_ts}-{event}-{day:%Y%m%d}-{index}-{DATABASE_ID}"


def _check_formats(formats: Sequence[str]) -> None:
    """Refuse formats the generator cannot write, before anything is written."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UsageError(
            f"unknown export formats {unknown}; choose from {list(FORMATS)}"
        )


# ----------------------------------------------------------------------------- users


def _users(n: int, seed: int) -> pl.DataFrame:
    """One row per user: identifiers, contact fields, device and profile properties."""
    rng = np.random.default_rng([seed, _USERS_STREAM])
    frame = pl.DataFrame({"user": np.arange(n)})
    frame = frame.with_columns(**_identities(rng, n))
    frame = frame.with_columns(**_devices(rng, n))
    return frame.with_columns(**_profile_traits(rng, n))


def _identities(rng: Rng, n: int) -> dict[str, pl.Series | pl.Expr]:
    """Identity, email, phone, name, objectId and all_identities for ``n`` users."""
    pool = max(100_000, 10 * n)
    numbers = pl.Series(rng.permutation(pool)[:n]).cast(pl.String)
    kind = rng.choice(3, size=n, p=[0.72, 0.24, 0.04])  # numeric, cust-, email

    first = _pick(rng, _FIRST_NAMES, n)
    last = _pick(rng, _LAST_NAMES, n)
    slug = (first + "." + last).str.to_lowercase()
    address = slug.str.replace_many({"é": "e", "ë": "e"}) + numbers + "@example.com"
    # Users who sign in with their email always have one; others sometimes don't.
    email = _only((rng.random(n) > 0.12) | (kind == 2), address)

    identity = pl.select(
        pl.when(pl.Series(kind == 0))
        .then(numbers.str.zfill(len(str(pool))))
        .when(pl.Series(kind == 1))
        .then("cust-" + numbers)
        .otherwise(email)
    ).to_series()
    extra_email = _only(kind != 2, email)
    phone = _only(rng.random(n) > 0.15, "+9198" + _digits(rng, n, 8))

    return {
        "identity": identity,
        "objectId": "__g" + _hex(rng, n, 32),
        "all_identities": pl.concat_list(identity, extra_email).list.drop_nulls(),
        "phone": phone,
        "name": first + " " + last,
        "email": email,
    }


def _devices(rng: Rng, n: int) -> dict[str, pl.Series | pl.Expr]:
    """Platform and device fields; web users have no make, model, dpi or push token."""
    table = pl.DataFrame(
        [row[:9] for row in _DEVICES],
        schema={
            "platform": pl.String,
            "make": pl.String,
            "model": pl.String,
            "osVersion": pl.String,
            "browser": pl.String,
            "sdkVersion": pl.String,
            "dpi": pl.Int64,
            "dimensions.width": pl.Int64,
            "dimensions.height": pl.Int64,
        },
        orient="row",
    )
    weights = np.asarray([row[9] for row in _DEVICES])
    picked = table[rng.choice(len(_DEVICES), size=n, p=weights / weights.sum())]

    mobile = picked["platform"] != "Web"
    token_prefix = pl.select(
        pl.when(picked["platform"] == "iOS")
        .then(pl.lit("apns:"))
        .otherwise(pl.lit("fcm:"))
    ).to_series()
    has_token = mobile & pl.Series(rng.random(n) > 0.2)
    app_version = pl.Series(_APP_VERSIONS).gather(
        rng.integers(0, len(_APP_VERSIONS), n)
    )

    columns: dict[str, pl.Series | pl.Expr] = dict(picked.to_dict())
    columns["push_token"] = pl.when(has_token).then(token_prefix + _hex(rng, n, 32))
    columns["appVersion"] = pl.when(mobile).then(app_version)
    columns["dimensions.unit"] = pl.when(mobile).then(pl.lit("mm"))
    return columns


def _profile_traits(rng: Rng, n: int) -> dict[str, pl.Series | pl.Expr]:
    """Profile properties that appear only in the profile export."""
    dob_days = rng.integers(-3650, 12_783, n)  # 1960 .. 2004, days since 1970
    return {
        "Gender": pl.Series(np.where(rng.random(n) < 0.5, "M", "F")),
        "Customer Type": _pick(rng, _CUSTOMER_TYPES, n),
        "City": _pick(rng, _CITIES, n),
        "DOB": pl.Series(dob_days * _DAY_SECONDS, dtype=pl.Int64),
        "Lifetime Orders": pl.Series(rng.integers(0, 120, n), dtype=pl.Int32),
        "Score": pl.Series(np.round(rng.random(n) * 100, 2)),
        "Verified": pl.Series(rng.random(n) < 0.6),
        "Avg Rating": pl.Series(np.round(1 + rng.random(n) * 4, 1), dtype=pl.Float32),
        "MSG-push": pl.Series(rng.random(n) < 0.8),
        "MSG-email": pl.Series(rng.random(n) < 0.7),
        "MSG-sms": pl.Series(rng.random(n) < 0.5),
        "MSG-whatsapp": pl.Series(rng.random(n) < 0.4),
        "Offers": _pick(rng, ("Subscribed", "Unsubscribed"), n),
        "Newsletter": _pick(rng, ("Subscribed", "Unsubscribed"), n),
    }


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class _EventFile:
    """One export file to build: event, day and the packed timestamps of its rows."""

    event: str
    day: date
    day_index: int
    index: int
    ts: IntArray

    @property
    def rows(self) -> int:
        return len(self.ts)


def _write_events(
    out: Path,
    people: pl.DataFrame,
    counts: IntArray,
    seed: int,
    start: date,
    formats: Sequence[str],
    rows_per_file: int | None,
) -> list[Path]:
    """Build each event file once and write it in every requested format."""
    paths: list[Path] = []
    for spec in _event_files(counts, seed, start, rows_per_file):
        frame = _event_frame(people, spec, seed)
        stem = event_file_stem(spec.event, spec.day, spec.index)
        for fmt in formats:
            path = out / "events" / fmt / (stem + _SUFFIX[fmt])
            _EVENT_WRITERS[fmt](frame, path)
            logger.info("wrote %s (%d rows)", path, frame.height)
            paths.append(path)
    return paths


def _event_files(
    counts: IntArray, seed: int, start: date, rows_per_file: int | None
) -> Iterator[_EventFile]:
    """Yield the files of each day and event name in order, skipping empty ones."""
    if rows_per_file is not None and rows_per_file < 1:
        raise UsageError(f"rows_per_file must be 1 or more, got {rows_per_file}")
    for day_index, day_counts in enumerate(counts):
        day = start + timedelta(days=day_index)
        for event_index, (event, n) in enumerate(
            zip(EVENT_NAMES, day_counts, strict=True)
        ):
            rng = np.random.default_rng([seed, _TS_STREAM, day_index, event_index])
            ts = _packed_ts(rng, day, int(n))
            step = rows_per_file or max(len(ts), 1)
            for index, offset in enumerate(range(0, len(ts), step)):
                yield _EventFile(
                    event, day, day_index, index, ts[offset : offset + step]
                )


def _packed_ts(rng: Rng, day: date, n: int) -> IntArray:
    """Sorted ``yyyyMMddHHmmss`` integers spread over one day."""
    seconds = np.sort(rng.integers(0, _DAY_SECONDS, n))
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    day_part = (day.year * 10_000 + day.month * 100 + day.day) * 1_000_000
    packed: IntArray = day_part + hours * 10_000 + minutes * 100 + secs
    return packed


def _event_frame(people: pl.DataFrame, spec: _EventFile, seed: int) -> pl.DataFrame:
    """The typed rows of one export file, in CleverTap's column order."""
    event_index = EVENT_NAMES.index(spec.event)
    key = [seed, _ROWS_STREAM, spec.day_index, event_index, spec.index]
    rng = np.random.default_rng(key)
    n = spec.rows

    who = people[rng.integers(0, people.height, n)]
    control = pl.when(pl.Series(rng.random(n) < 0.01)).then(pl.lit("CG-Spring-Sale"))
    draw = _Draw(rng, n, spec.day, spec.day_index, spec.index == 0)
    props = _EVENT_PROPERTIES[spec.event](draw)

    return who.select(
        pl.Series("ts", spec.ts, dtype=pl.Int64),
        pl.lit(spec.event).alias("eventName"),
        *[pl.col(field).alias(f"profile.{field}") for field in _PROFILE_FIELDS],
        *[pl.col(field).alias(f"deviceInfo.{field}") for field in _DEVICE_FIELDS],
        control.alias("controlGroupName"),
        *[series.alias(f"eventProps.{name}") for name, series in props.items()],
    )


@dataclass(frozen=True)
class _Draw:
    """What a property builder needs: the file's generator, size and place in time."""

    rng: Rng
    n: int
    day: date
    day_index: int
    first_file: bool

    def quirk(self, series: pl.Series, value: str) -> pl.Series:
        """Put one hand-written awkward value at a fixed row of a day's first file."""
        if self.first_file and self.n > _QUIRK_ROW:
            series = series.scatter(_QUIRK_ROW, value)
        return series


Properties = dict[str, pl.Series]


def _product_viewed(draw: _Draw) -> Properties:
    """Browsing: product, category (sometimes blank), price and source."""
    product = draw.rng.integers(0, len(_CATALOGUE), draw.n)
    category = _catalogue_column(2).gather(product)
    blank = pl.Series(draw.rng.random(draw.n) < 0.04)
    return {
        "Product Name": draw.quirk(
            _catalogue_column(1).gather(product), _QUIRK_PRODUCT
        ),
        "Category": pl.select(
            pl.when(blank).then(pl.lit("")).otherwise(category)
        ).to_series(),
        "Price": _prices(draw, product),
        "CT Source": _maybe(draw, _pick(draw.rng, ("Mobile", "Web"), draw.n), 0.05),
    }


def _added_to_cart(draw: _Draw) -> Properties:
    """Cart additions: product, integer quantity and price."""
    product = draw.rng.integers(0, len(_CATALOGUE), draw.n)
    return {
        "Product Name": _catalogue_column(1).gather(product),
        "Quantity": pl.Series(draw.rng.integers(1, 5, draw.n), dtype=pl.Int64),
        "Price": _prices(draw, product),
    }


def _charged(draw: _Draw) -> Properties:
    """Orders: total, currency, payment mode, a 25-digit id, items and coupon."""
    items, amount = _basket(draw)
    currency = np.where(draw.rng.random(draw.n) < 0.85, "INR", "USD")
    payment_mode = _pick(draw.rng, _PAYMENT_MODES, draw.n)
    props = {
        "Amount": pl.Series(amount),
        "Currency": pl.Series(currency),
        "Payment Mode": draw.quirk(payment_mode, _QUIRK_PAYMENT_MODE),
        "Order Id": _order_ids(draw),
        "Items": items,
    }
    # Coupons launched on the second day: day-1 exports have no Coupon column at all.
    if draw.day_index >= 1:
        coupon = _pick(draw.rng, ("", *_COUPONS), draw.n)
        props["Coupon"] = _maybe(draw, coupon, 0.6)
    return props


def _plan_renewed(draw: _Draw) -> Properties:
    """Subscription renewals, with the next renewal as ISO date text."""
    annual = draw.rng.random(draw.n) < 0.3
    term = np.where(annual, 365, 31).astype("timedelta64[D]")
    renewal = pl.Series(np.datetime64(draw.day.isoformat()) + term)
    return {
        "Plan": pl.Series(np.where(annual, "Annual", "Monthly")),
        "Amount": pl.Series(np.where(annual, 2999.0, 299.0)),
        "Renewal Date": renewal.dt.to_string("%Y-%m-%d"),
    }


def _app_launched(draw: _Draw) -> Properties:
    """A reserved system event: CleverTap refuses it on upload."""
    return {
        "CT App Version": _pick(draw.rng, _APP_VERSIONS, draw.n),
        "CT Source": _pick(draw.rng, ("Mobile", "Web"), draw.n),
    }


_EVENT_PROPERTIES: dict[str, Callable[[_Draw], Properties]] = {
    "Product Viewed": _product_viewed,
    "Added To Cart": _added_to_cart,
    "Charged": _charged,
    "Plan Renewed": _plan_renewed,
    "App Launched": _app_launched,
}


def _prices(draw: _Draw, product: IntArray) -> pl.Series:
    """Catalogue prices, whole in a file's first rows and with paise after them."""
    whole = np.asarray([row[3] for row in _CATALOGUE], dtype=np.float64)[product]
    paise = draw.rng.integers(1, 100, draw.n) / 100
    fractional = np.arange(draw.n) >= _WHOLE_PRICE_ROWS
    return pl.Series(np.round(whole + np.where(fractional, paise, 0.0), 2))


def _basket(draw: _Draw) -> tuple[pl.Series, FloatArray]:
    """One to three items per order as List(Struct), and each order's total."""
    sizes = draw.rng.integers(1, 4, draw.n)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    product = draw.rng.integers(0, len(_CATALOGUE), int(offsets[-1]))
    qty = draw.rng.integers(1, 4, len(product))
    whole = np.asarray([row[3] for row in _CATALOGUE], dtype=np.float64)[product]
    price = np.round(whole + draw.rng.integers(0, 100, len(product)) / 100, 2)

    struct = pl.select(
        sku=_catalogue_column(0).gather(product),
        name=_catalogue_column(1).gather(product),
        qty=pl.Series(qty, dtype=pl.Int64),
        price=pl.Series(price),
    ).to_struct()
    lists = pa.ListArray.from_arrays(offsets.astype(np.int32), struct.to_arrow())
    items = pl.Series(pl.from_arrow(lists))
    amount = np.round(np.add.reduceat(qty * price, offsets[:-1]), 2)
    return items, amount.astype(np.float64)


def _order_ids(draw: _Draw) -> pl.Series:
    """25-digit order ids with no leading zero: too long for any integer type."""
    lead = pl.Series(draw.rng.integers(1, 10, draw.n)).cast(pl.String)
    return lead + _digits(draw.rng, draw.n, 24)


def _catalogue_column(position: int) -> pl.Series:
    """One field of every catalogue product, for gathering by product index."""
    return pl.Series([row[position] for row in _CATALOGUE])


# ----------------------------------------------------------------------------- writers


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Typed Parquet with fixed options, so the bytes depend only on the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.rechunk().write_parquet(
        path,
        compression="zstd",
        compression_level=3,
        statistics=True,
        row_group_size=_PARQUET_ROW_GROUP,
    )


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    """Flattened gzipped CSV; polars streams it and leaves the gzip header time at 0."""
    flat = frame.select(
        _csv_column(name, dtype) for name, dtype in frame.schema.items()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    flat.write_csv(path, compression="gzip", compression_level=_GZIP_LEVEL)


def _write_json(frame: pl.DataFrame, path: Path) -> None:
    """Gzipped JSON lines, nested by the dotted column names, absent keys dropped."""
    lines = frame.select(_json_object(_column_tree(frame.columns)).alias("line"))
    with _gzip_out(path) as stream:
        for line in lines.get_column("line"):
            stream.write(line.encode() + b"\n")


_EVENT_WRITERS: dict[str, Callable[[pl.DataFrame, Path], None]] = {
    "csv": _write_csv,
    "parquet": _write_parquet,
    "json": _write_json,
}


@contextmanager
def _gzip_out(path: Path) -> Iterator[IO[bytes]]:
    """A gzip stream whose header holds no time and no file name, for stable bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_GZIP_LEVEL
        ) as stream,
    ):
        # GzipFile is a binary file in all but its declared type.
        yield cast(IO[bytes], stream)


def _csv_column(name: str, dtype: pl.DataType) -> pl.Expr:
    """How one typed column reads as CSV text: lists as JSON, whole floats bare.

    Empty strings become empty cells, as absent values do: CleverTap's CSV cannot tell
    them apart.
    """
    column = pl.col(name)
    if dtype == pl.String:
        return pl.when(column != "").then(column).alias(name)
    if isinstance(dtype, pl.List):
        return _json_value(column).alias(name)
    if dtype.is_float():
        whole = column == column.floor()
        text = pl.when(whole).then(column.cast(pl.Int64).cast(pl.String))
        return text.otherwise(column.cast(pl.String)).alias(name)
    return column


def _json_value(column: pl.Expr) -> pl.Expr:
    """JSON text of each value, or null when the value is absent."""
    encoded = pl.struct(column.alias("v")).struct.json_encode()
    text = encoded.str.strip_prefix('{"v":').str.strip_suffix("}")
    return pl.when(column.is_not_null()).then(text)


ColumnTree = dict[str, "ColumnTree | str"]


def _column_tree(columns: Sequence[str]) -> ColumnTree:
    """Nest dotted names: ``deviceInfo.dimensions.width`` becomes three levels.

    Property names after ``eventProps.`` are kept whole, since they may hold dots.
    """
    tree: ColumnTree = {}
    for column in columns:
        head, _, prop = column.partition("eventProps.")
        parts = ["eventProps", prop] if head == "" and prop else column.split(".")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[parts[-1]] = column
    return tree


def _json_object(tree: ColumnTree) -> pl.Expr:
    """One JSON object per row; members whose value is absent are left out."""
    members = []
    for key, node in tree.items():
        value = (
            _json_value(pl.col(node)) if isinstance(node, str) else _json_object(node)
        )
        members.append(pl.lit(json.dumps(key) + ":") + value)
    body = pl.concat_str(members, separator=",", ignore_nulls=True)
    return pl.when(body != "").then("{" + body + "}")


# ----------------------------------------------------------------------------- profiles

_UNION_MEMBERS = (
    pa.field("member0", pa.bool_()),
    pa.field("member1", pa.int32()),
    pa.field("member2", pa.int64()),
    pa.field("member3", pa.float32()),
    pa.field("member4", pa.float64()),
    pa.field("member5", pa.string()),
)
_SUBSCRIPTIONS = pa.map_(pa.string(), pa.string())
_COMM_MEMBERS = (*_UNION_MEMBERS, pa.field("member6", _SUBSCRIPTIONS))

# (map key, source column, union member) for the scalar map columns
_PROFILE_PROPS = (
    ("Name", "name", 5),
    ("Email", "email", 5),
    ("Phone", "phone", 5),
    ("Gender", "Gender", 5),
    ("Customer Type", "Customer Type", 5),
    ("City", "City", 5),
    ("DOB", "DOB", 2),
    ("Lifetime Orders", "Lifetime Orders", 1),
    ("Score", "Score", 4),
    ("Verified", "Verified", 0),
    ("Avg Rating", "Avg Rating", 3),
)
_DEVICE_ENTRIES = (("token", "push_token", 5),)
_MESSAGE_PREFERENCES = ("MSG-push", "MSG-email", "MSG-sms", "MSG-whatsapp")


def profile_file_name(start: date = DEFAULT_START, days: int = 7) -> str:
    """Enhanced profile export name: a daily export created the day after ``start``.

    The run timestamp is ``days`` daily runs after the export was created.
    """
    export_id = _midnight_epoch(start) + _DAY_SECONDS
    run_ts = export_id + days * _DAY_SECONDS
    return f"{ACCOUNT_ID}-{export_id}-{run_ts}-{DATABASE_ID}.parquet"


def _write_profiles(folder: Path, people: pl.DataFrame, start: date, days: int) -> Path:
    """One row per user, with MAP<string, union struct> property columns."""
    arrow = people.to_arrow()
    comm = _comm_prefs(arrow)
    table = pa.table(
        {
            "identity": arrow["identity"].cast(pa.string()),
            "all_identities": arrow["all_identities"].cast(pa.list_(pa.string())),
            "clevertapId": arrow["objectId"].cast(pa.string()),
            "profileProps": _union_map(arrow, _PROFILE_PROPS, _UNION_MEMBERS),
            "device": _union_map(arrow, _DEVICE_ENTRIES, _UNION_MEMBERS),
            "commPrefs": comm,
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / profile_file_name(start, days)
    pq.write_table(table, path, compression="zstd", compression_level=3)
    logger.info("wrote %s (%d profiles)", path, table.num_rows)
    return path


def _comm_prefs(arrow: pa.Table) -> pa.MapArray:
    """Messaging preferences as booleans, plus the subscription groups as a map."""
    n = arrow.num_rows
    groups = pa.MapArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32) * 2),
        pa.array(np.tile(["Offers", "Newsletter"], n)),
        _interleave(arrow["Offers"], arrow["Newsletter"]),
        type=_SUBSCRIPTIONS,
    )
    columns = {key: (arrow[key].combine_chunks(), 0) for key in _MESSAGE_PREFERENCES}
    columns["subscriptionGroups"] = (groups, 6)
    return _build_union_map(n, columns, _COMM_MEMBERS)


def _interleave(first: pa.ChunkedArray, second: pa.ChunkedArray) -> pa.Array:
    """first[0], second[0], first[1], second[1], ...: two map values per user."""
    pairs = np.stack([first.to_numpy(), second.to_numpy()], axis=1).ravel()
    return pa.array(pairs, pa.string())


def _union_map(
    arrow: pa.Table,
    entries: Sequence[tuple[str, str, int]],
    members: Sequence[pa.Field],
) -> pa.MapArray:
    """A union map column whose entries come from columns of the users table."""
    columns = {
        key: (arrow[source].combine_chunks().cast(members[member].type), member)
        for key, source, member in entries
    }
    return _build_union_map(arrow.num_rows, columns, members)


def _build_union_map(
    n: int, columns: dict[str, tuple[pa.Array, int]], members: Sequence[pa.Field]
) -> pa.MapArray:
    """Build MAP<string, struct<memberN>> from one array per key.

    Entries are ordered user by user, keys in ``columns`` order; a null value means the
    user lacks that key, so it gets no entry at all.
    """
    keys = list(columns)
    present = np.stack(
        [columns[k][0].is_valid().to_numpy(zero_copy_only=False) for k in keys], axis=1
    )
    # Position of (user, key) in the key-major concatenation of the per-key arrays.
    order = (np.arange(len(keys))[None, :] * n + np.arange(n)[:, None])[present]

    fields = []
    for position, field in enumerate(members):
        per_key = [
            values if member == position else pa.nulls(n, field.type)
            for values, member in columns.values()
        ]
        fields.append(pa.concat_arrays(per_key).take(pa.array(order)))
    values = pa.StructArray.from_arrays(fields, fields=list(members))

    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    key_text = pa.array(np.tile(np.asarray(keys), n)[present.ravel()], pa.string())
    map_type = pa.map_(pa.string(), pa.struct(list(members)))
    return pa.MapArray.from_arrays(pa.array(offsets), key_text, values, type=map_type)


# ----------------------------------------------------------------------------- lookups


def _write_tiers(path: Path, people: pl.DataFrame, seed: int) -> Path:
    """Tier and zero-padded region code for about 70 % of users, the rest left out."""
    rng = np.random.default_rng([seed, _TIERS_STREAM])
    n = people.height
    tiers = people.select(
        "identity",
        tier=_pick(rng, ("Gold", "Silver", "Bronze"), n),
        region_code=pl.Series(rng.integers(0, 1000, n)).cast(pl.String).str.zfill(5),
        listed=pl.Series(rng.random(n) < 0.7),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tiers.filter("listed").drop("listed").write_csv(path)
    logger.info("wrote %s", path)
    return path


# ----------------------------------------------------------------------------- helpers


def _pick(rng: Rng, choices: Sequence[str], n: int) -> pl.Series:
    """``n`` values drawn uniformly from ``choices``."""
    return pl.Series(list(choices), dtype=pl.String).gather(
        rng.integers(0, len(choices), n)
    )


def _maybe(draw: _Draw, series: pl.Series, absent_share: float) -> pl.Series:
    """Null out about ``absent_share`` of the values: the property was not sent."""
    return _only(draw.rng.random(draw.n) >= absent_share, series)


def _only(keep: BoolArray, series: pl.Series) -> pl.Series:
    """The values where ``keep`` holds, null elsewhere."""
    return (
        series.to_frame().select(pl.when(pl.Series(keep)).then(pl.first())).to_series()
    )


def _digits(rng: Rng, n: int, width: int) -> pl.Series:
    """Random digit strings of exactly ``width`` characters, 8 digits at a time."""
    parts = []
    for size in [8] * (width // 8) + ([width % 8] if width % 8 else []):
        numbers = pl.Series(rng.integers(0, 10**size, n))
        parts.append(numbers.cast(pl.String).str.zfill(size))
    return pl.select(pl.concat_str(parts)).to_series()


def _hex(rng: Rng, n: int, width: int) -> pl.Series:
    """Random lowercase hex strings of ``width`` characters."""
    raw = rng.bytes(n * width // 2).hex().encode()
    return pl.Series(np.frombuffer(raw, dtype=f"S{width}").astype(f"U{width}"))


def _midnight_epoch(day: date) -> int:
    """Epoch seconds of the day's UTC midnight."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# ----------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: the sample bundle by default, or ``--rows N`` benchmark events."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        paths = _run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"wrote {len(paths)} files under {args.out}")
    return 0


def _run(args: argparse.Namespace) -> list[Path]:
    """Call the generator the parsed arguments ask for."""
    if args.rows is None:
        return generate_samples(
            args.out,
            seed=args.seed,
            days=args.days,
            users=args.users,
            rows_per_file=args.rows_per_file,
        )
    return generate_events(
        args.rows,
        args.out,
        seed=args.seed,
        fmt=args.format,
        days=args.days,
        users=args.users,
        rows_per_file=args.rows_per_file or _BENCHMARK_ROWS_PER_FILE,
    )


def _parser() -> argparse.ArgumentParser:
    """The argparse parser behind ``python -m ctjobs.samples``."""
    parser = argparse.ArgumentParser(
        prog="python -m ctjobs.samples",
        description="Write seeded CleverTap export files: samples or benchmark events.",
    )
    parser.add_argument("--out", default="data/samples", help="output directory")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument("--rows", type=int, help="write N benchmark events instead")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="parquet",
        help="event file format for --rows",
    )
    parser.add_argument("--days", type=int, default=7, help="days in the window")
    parser.add_argument("--users", type=int, default=300, help="distinct users")
    parser.add_argument("--rows-per-file", type=int, help="split files above N rows")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each file")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
