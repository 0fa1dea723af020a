"""Pre-flight validation of a record frame: CleverTap's rules, checked before sending.

`validate` splits a record frame (see `ctjobs.records.frame`) into the records to
send and the records to set aside. It works in two vectorised passes:

1. **normalise**: values CleverTap would refuse but that have one obvious meaning
   are put in CleverTap's form: identities stripped of surrounding spaces, ``ts``
   in milliseconds divided down to seconds, phones as E.164, ``Gender`` as M/F,
   ``Employed``/``Married`` as Y/N, ``MSG-*`` preferences as booleans, ``Age`` as
   an integer, dates inside properties as ``$D_`` strings, NaN and infinities
   dropped, and nested property values flattened or JSON-encoded per policy;
2. **check**: every rule is a Polars expression saying where a record fails;
   the first rule a record breaks gives its reason and CleverTap's code, and
   reasons are put into words only for the records that fail.

Codes are CleverTap's upload codes where CleverTap defines one for that case
(`CODES` lists them). Where CleverTap documents a limit but no code (key length,
value length, banned characters, Charged's item count, ``MSG-*`` values, the
profile property count) the code is null and the reason alone explains.

Known limits: values nested *inside* a kept value (a `Charged` event's ``Items``,
a profile value under ``nested_profiles = "keep"``) are sent as Polars encodes
them, so a field missing from one item is sent as ``null`` in that item. Naive
datetimes found inside properties of a hand-built frame are read as UTC.

Example:
    >>> result = validate(records, job.validation)
    >>> result.rejected.select("reason").to_series().value_counts()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from polars.datatypes import DataTypeClass

from ctjobs.errors import UsageError
from ctjobs.job.spec import ValidationSpec
from ctjobs.records.encode import record_json
from ctjobs.records.frame import (
    DATE_PREFIX,
    EVENT,
    EVENT_DATA,
    IDENTITY_FIELDS,
    IDENTITY_ISSUE,
    PROFILE,
    PROFILE_DATA,
    RECORD_KEY,
    REJECTION_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    TS_SOURCE,
    TS_UNIT,
)
from ctjobs.records.phones import e164_mapping
from ctjobs.records.values import binary_text, identity_text, is_utf8, strip_invisible
from ctjobs.timestamps import MILLIS_FROM, to_epoch_seconds

RESERVED_EVENTS = (
    "Notification Sent",
    "Notification Viewed",
    "Notification Clicked",
    "Notification Delivered",
    "Notification Replied",
    "UTM Visited",
    "App Launched",
    "App Uninstalled",
    "App Version Changed",
    "Stayed",
    "Reply Sent",
    "Experiment Rendered",
    "Reachable By",
    "Identity Reset",
    "Identity Set",
    "Identity Error",
)
#: CleverTap's per-record error codes that validation reproduces.
CODES = {
    "identity": 523,
    "ts": 525,
    "event name missing": 509,
    "nested event property": 512,
    "reserved event": 513,
    "Gender": 514,
    "Email": 515,
    "Phone": 516,
    "Employed": 517,
    "Education": 518,
    "Married": 519,
    "Age": 520,
    "too many event properties": 522,
    "record type": 524,
    "objectId": 526,
    "discarded event": 528,
}
BANNED_NAME_CHARACTERS = "%><!|&.:;$'\"\\"
BANNED_PROFILE_KEY_CHARACTERS = BANNED_NAME_CHARACTERS + "#"
#: Joins a nested field to its parent under ``flatten``. CleverTap bans ``.`` in
#: property names, so ``address.city`` is sent as ``address_city``.
FLATTEN_SEPARATOR = "_"
MAX_CHARGED_ITEMS = 256
#: Multi-value profile properties: unique strings, at most 100 of them.
MAX_MULTI_VALUES = 100
#: Profile update commands the docs describe for /1/upload and SFTP imports;
#: ``$incr``/``$decr`` are SDK commands, unconfirmed for upload (a setting).
PROFILE_COMMANDS = ("$add", "$remove", "$set", "$delete")
INCR_DECR = ("$incr", "$decr")
NON_FINITE = "non-finite number"
CHARGED = "Charged"
ITEMS = "Items"
EDUCATION_VALUES = ("School", "College", "Graduate")

_ORIGINAL = "__original__"
_RULE = "__rule__"
_REASON = "__reason__"
_DROPS = "__drops__"
# Struct fields whose names start with this are placeholders that encode.py skips.
_PLACEHOLDER = "__"
_YEAR_9999 = 253_370_764_800  # 9999-01-01T00:00:00Z: a "no end" placeholder year
_YEAR_10000 = 253_402_300_800
_EPOCH_DATE = r"^\$D_-?\d+$"
# yyyyMMddHH or yyyyMMddHHmm of 1900-2099: packed times cut short.
_PACKED_PREFIX = (
    r"^(19|20)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])([0-5]\d)?$"
)
_EMAIL = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"
_TRUE_WORDS = ("y", "yes", "true", "t", "1", "1.0")
_FALSE_WORDS = ("n", "no", "false", "f", "0", "0.0")
_GENDERS = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
_NESTED = (pl.Struct, pl.List, pl.Array)
# Struct fields report their type as an instance or, for simple types, the class.
DType = pl.DataType | DataTypeClass


# Built from an empty table so that type checkers see the documented defaults.
_DEFAULT_SPEC = ValidationSpec.model_validate({})


@dataclass
class Validated:
    """The outcome of `validate`: every input row is in exactly one of the frames."""

    accepted: pl.DataFrame
    rejected: pl.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Check:
    """Where a record fails (`failed`) and the words that say why (`reason`).

    The two are kept apart so the reasons, which format values into text, are
    worked out only for the few records that fail, not for every record.
    """

    failed: pl.Expr
    reason: pl.Expr


@dataclass
class _Rule:
    """One check and CleverTap's code for a record that fails it."""

    check: _Check
    code: int | None


@dataclass(frozen=True)
class _Context:
    """What the expressions need beyond the spec: bounds and data-driven choices."""

    spec: ValidationSpec
    ts_min: int
    ts_max: int
    ts_max_label: str
    keep_items: bool
    phones: dict[str, str | None]


# ---------------------------------------------------------------- entry point


def validate(
    records: pl.DataFrame | pl.LazyFrame,
    rules: ValidationSpec | None = None,
    *,
    now: datetime | None = None,
) -> Validated:
    """Split a record frame into accepted (normalised) and rejected records.

    `rules` defaults to `ValidationSpec()`; `now` (default: the current time)
    bounds how far in the future a ``ts`` may be. Rejected records carry the
    JSON they would have been sent as, before normalisation.

    Example:
        >>> result = validate(build_events(df, identity="user_id"))
        >>> result.accepted.height, result.rejected.height, result.dropped
    """
    frame = _collect(records)
    context = _context(frame, rules or _DEFAULT_SPEC, now or datetime.now(UTC))
    fixed = frame.with_columns(_normalised(frame.schema, context))

    originals = frame.select(pl.all().name.prefix(_ORIGINAL))
    staged = pl.concat([fixed, originals], how="horizontal")
    checks = _rules(staged.schema, context)
    outcome = staged.select(
        _first_failure(checks), _drop_counts(staged.schema, context).alias(_DROPS)
    )

    passed = outcome.get_column(_RULE).is_null()
    dropped = outcome.filter(passed).get_column(_DROPS).sum()
    # One chunk per column: Polars 2.1 panics ("i < self.len()") wording text from
    # columns split into different numbers of chunks, as the concatenation leaves them.
    failing = pl.concat([staged, outcome], how="horizontal").filter(~passed).rechunk()
    reasons = failing.select(_RULE, _reason(checks).alias(_REASON))
    rejected = _rejections(frame.filter(~passed), reasons, checks)
    return Validated(
        accepted=fixed.filter(passed),
        rejected=rejected,
        dropped={NON_FINITE: int(dropped)} if dropped else {},
    )


def _collect(records: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The record frame as a DataFrame, with the one column every rule needs."""
    frame = records.lazy().collect().rechunk()  # see the note in `validate`
    if "type" not in frame.columns:
        message = (
            "validate: the record frame has no `type` column; build it with "
            f"build_events / build_profiles (columns: {', '.join(frame.columns)})"
        )
        raise UsageError(message)
    return frame


def _context(frame: pl.DataFrame, spec: ValidationSpec, now: datetime) -> _Context:
    """Bounds from the spec and the choices that depend on the data itself."""
    ts_min = datetime.combine(date.fromisoformat(spec.ts_min), time(), UTC)
    ts_max = now.astimezone(UTC) + timedelta(days=spec.ts_max_future_days)
    return _Context(
        spec=spec,
        ts_min=int(ts_min.timestamp()),
        ts_max=int(ts_max.timestamp()),
        ts_max_label=ts_max.strftime("%Y-%m-%d %H:%M UTC"),
        keep_items=_charged_items_present(frame),
        phones=_phone_mapping(frame, spec.default_country),
    )


def _first_failure(checks: list[_Rule]) -> pl.Expr:
    """The index of the first rule each row breaks (null if none)."""
    firsts: list[pl.Expr] = [
        pl.when(r.check.failed).then(pl.lit(i, dtype=pl.Int32))
        for i, r in enumerate(checks)
    ]
    return pl.coalesce(firsts or [pl.lit(None, dtype=pl.Int32)]).alias(_RULE)


def _reason(checks: list[_Rule]) -> pl.Expr:
    """The words for the rule in the ``_RULE`` column (for failing rows only)."""
    rule = pl.col(_RULE)
    texts = [pl.when(rule == i).then(r.check.reason) for i, r in enumerate(checks)]
    # A reason built from a null value would be null; a rejection always says why.
    fallback = pl.format("breaks pre-flight rule {}", rule)
    return pl.coalesce([*texts, fallback])


def _rejections(
    records: pl.DataFrame, outcome: pl.DataFrame, checks: list[_Rule]
) -> pl.DataFrame:
    """The rejection frame: provenance, code, reason and the record's JSON."""
    codes = {i: rule.code for i, rule in enumerate(checks)}
    encodable = records.with_columns(_encodable(records.schema))
    text = encodable.select(record_json(encodable.schema).alias("record"))
    provenance = [
        pl.col(c) if c in records.columns else pl.lit(None).alias(c)
        for c in (SOURCE_FILE, SOURCE_ROW, RECORD_KEY, "type")
    ]
    return (
        pl.concat([records.select(provenance), outcome, text], how="horizontal")
        .with_columns(
            pl.col(_RULE).replace_strict(codes, return_dtype=pl.Int64).alias("code"),
            pl.col(_REASON).alias("reason"),
        )
        .select(list(REJECTION_SCHEMA))
        .cast(REJECTION_SCHEMA)  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- helpers


def _original(column: str) -> pl.Expr:
    """A column as it came in, before normalisation."""
    return pl.col(_ORIGINAL + column)


def _is(kind: str) -> pl.Expr:
    return pl.col("type") == kind


def _name_key(expr: pl.Expr) -> pl.Expr:
    """An event name as CleverTap compares names: case-insensitive, spaces ignored."""
    return expr.cast(pl.String).str.to_lowercase().str.replace_all(r"\s+", "")


def _fold(name: str) -> str:
    return "".join(name.lower().split())


def _show(name: str, limit: int = 24) -> str:
    """A field name short enough for a reason."""
    return name if len(name) <= limit else name[: limit - 4] + "…"


def _text(expr: pl.Expr, limit: int = 40) -> pl.Expr:
    """A value shortened for a reason."""
    text = expr.cast(pl.String)
    return (
        pl.when(text.str.len_chars() > limit)
        .then(pl.concat_str(text.str.slice(0, limit - 1), pl.lit("…")))
        .otherwise(text)
    )


def _fields(schema: pl.Schema, column: str) -> list[pl.Field]:
    """The property fields of a struct column (placeholders left out)."""
    dtype = schema.get(column)
    if not isinstance(dtype, pl.Struct):
        return []
    return [f for f in dtype.fields if not f.name.startswith(_PLACEHOLDER)]


def _value(column: str, name: str) -> pl.Expr:
    return pl.col(column).struct.field(name)


def _has_float(dtype: DType) -> bool:
    if dtype.is_float():
        return True
    if isinstance(dtype, pl.Struct):
        return any(_has_float(f.dtype) for f in dtype.fields)
    if isinstance(dtype, pl.List | pl.Array):
        return _has_float(dtype.inner)
    return False


# ---------------------------------------------------------------- normalise


def _normalised(schema: pl.Schema, context: _Context) -> list[pl.Expr]:
    """Replacement columns holding the values in CleverTap's form."""
    columns = [
        _identity(pl.col(c), schema[c]).alias(c) for c in IDENTITY_FIELDS if c in schema
    ]
    if "ts" in schema:
        columns.append(_ts_seconds(schema["ts"], context).alias("ts"))
    for column, kind in ((EVENT_DATA, EVENT), (PROFILE_DATA, PROFILE)):
        if isinstance(schema.get(column), pl.Struct):
            columns.append(_data(schema, column, kind, context).alias(column))
    return columns


def _identity(expr: pl.Expr, dtype: DType) -> pl.Expr:
    """An identifier as text without white space or zero-width characters at its
    ends; blank (nothing else left) means absent, as does a value that is not
    text or a whole number (a rule gives the reason)."""
    text = strip_invisible(identity_text(expr, dtype)[0])
    return pl.when(text != "").then(text)


def _data(schema: pl.Schema, column: str, kind: str, context: _Context) -> pl.Expr:
    """A property struct with every value in the form CleverTap takes."""
    taken = {f.name for f in _fields(schema, column)}
    drop = context.spec.non_finite == "drop"
    members: list[pl.Expr] = []
    for prop in _fields(schema, column):
        value = _jsonable(_value(column, prop.name), prop.dtype, drop)
        if kind == PROFILE and _builtin_for(prop.name) is not None:
            value = _present(value, prop.dtype)
            members.append(_builtin_value(prop.name, value, prop.dtype, context))
        else:
            members.extend(_nested(prop, value, kind, context, taken))
    if not members:
        return pl.col(column)
    return pl.when(pl.col(column).is_not_null()).then(pl.struct(members))


def _jsonable(value: pl.Expr, dtype: DType, drop: bool) -> pl.Expr:
    """`value` with ``$D_`` dates and without non-finite numbers, at any depth.

    With `drop` false (``non_finite = "reject"``) NaN and infinities stay in
    place: a rule rejects those records, so they never reach an accepted one.
    """
    if dtype.is_float():
        return pl.when(value.is_finite()).then(value) if drop else value
    if isinstance(dtype, pl.Date | pl.Datetime):
        seconds = to_epoch_seconds(value, dtype).cast(pl.String)
        return pl.concat_str(pl.lit(DATE_PREFIX), seconds)
    if isinstance(dtype, pl.Decimal):
        return value.cast(pl.Float64)
    if dtype == pl.Binary:
        # Polars cannot write Binary as JSON; text is what it almost always holds.
        # Bytes that are not UTF-8 become null here and a rule rejects the record.
        return binary_text(value)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return value.cast(pl.String, strict=False)
    if isinstance(dtype, pl.Struct):
        inner = [
            _jsonable(pl.field(f.name), f.dtype, drop).alias(f.name)
            for f in dtype.fields
        ]
        return value.struct.with_fields(inner) if inner else value
    if isinstance(dtype, pl.List | pl.Array):
        return value.cast(pl.List(dtype.inner)).list.eval(
            _jsonable(pl.element(), dtype.inner, drop)
        )
    return value


def _encodable(schema: pl.Schema) -> list[pl.Expr]:
    """Property structs that Polars can write as JSON, values otherwise as given."""
    # NaN has no JSON form; left out, as it would be from an accepted record.
    return [
        pl.col(c).struct.with_fields(
            [
                _jsonable(_value(c, f.name), f.dtype, True).alias(f.name)
                for f in _fields(schema, c)
            ]
        )
        for c in (EVENT_DATA, PROFILE_DATA)
        if _fields(schema, c)
    ]


# ------------------------------------------------ nested property values


def _nested(
    prop: pl.Field, value: pl.Expr, kind: str, context: _Context, taken: set[str]
) -> list[pl.Expr]:
    """The struct member(s) for one property, per the nested-values policy."""
    if kind == EVENT and _allowed_nested(prop, kind, context):
        # A Charged event keeps an empty `Items` for its rule to refuse; on other
        # events an empty one is absent like any other empty list.
        charged = _name_key(pl.col("evtName")) == _fold(CHARGED)
        kept = pl.when(charged).then(value).otherwise(_present(value, prop.dtype))
        return [kept.alias(prop.name)]
    # Before the policy, so that no policy turns "nothing" into ``[]`` or "[]";
    # this also leaves out a command whose every operation is null (``{}``).
    value = _present(value, prop.dtype)
    if not isinstance(prop.dtype, _NESTED) or _allowed_nested(prop, kind, context):
        return [value.alias(prop.name)]
    if kind == PROFILE and _is_multi_value(prop.dtype):
        return [value.list.drop_nulls().alias(prop.name)]
    spec = context.spec
    policy = spec.nested_events if kind == EVENT else spec.nested_profiles
    if policy == "json":
        return [_json_text(value).alias(prop.name)]
    if policy == "flatten":
        return _flattened(prop.name, value, prop.dtype, taken)
    return [value.alias(prop.name)]  # "reject" (a rule catches it) or "keep"


def _present(value: pl.Expr, dtype: DType) -> pl.Expr:
    """`value` with "nothing" made null at any depth: lists without a non-null
    element and objects without a non-null field.

    CleverTap records never carry empty lists: such a value adds nothing to a
    record, exactly as null does, whatever the nested-values policy.
    """
    if isinstance(dtype, pl.List | pl.Array):
        # `_jsonable` has already turned arrays into lists.
        if isinstance(dtype.inner, _NESTED):
            value = value.list.eval(_present(pl.element(), dtype.inner))
        return pl.when(value.list.drop_nulls().list.len() > 0).then(value)
    if isinstance(dtype, pl.Struct) and dtype.fields:
        nested = [f for f in dtype.fields if isinstance(f.dtype, _NESTED)]
        if nested:
            value = value.struct.with_fields(
                [_present(pl.field(f.name), f.dtype).alias(f.name) for f in nested]
            )
        used = [value.struct.field(f.name).is_not_null() for f in dtype.fields]
        return pl.when(pl.any_horizontal(used)).then(value)
    return value


def _allowed_nested(prop: pl.Field, kind: str, context: _Context) -> bool:
    """Nested values CleverTap takes as they are, whatever the policy."""
    if kind == EVENT:
        return prop.name == ITEMS and context.keep_items and _is_item_list(prop.dtype)
    return _is_command(prop.dtype)


def _is_item_list(dtype: DType) -> bool:
    return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)


def _is_multi_value(dtype: DType) -> bool:
    """A list of strings: a multi-value profile property."""
    return isinstance(dtype, pl.List) and dtype.inner == pl.String


def _is_command(dtype: DType) -> bool:
    """A profile update command such as ``{"$add": [...]}``: sent as it is."""
    return (
        isinstance(dtype, pl.Struct)
        and bool(dtype.fields)
        and all(f.name.startswith("$") for f in dtype.fields)
    )


def _charged_items_present(frame: pl.DataFrame) -> bool:
    """Whether any Charged event carries `Items`: then `Items` stays a list.

    A struct field has one type for all rows, so `Items` is either kept as a
    list (and refused on events other than Charged) or handled by the policy.
    """
    if EVENT_DATA not in frame.columns or "evtName" not in frame.columns:
        return False
    if ITEMS not in {f.name for f in _fields(frame.schema, EVENT_DATA)}:
        return False
    charged = _name_key(pl.col("evtName")) == _fold(CHARGED)
    carried = charged & _value(EVENT_DATA, ITEMS).is_not_null() & _is(EVENT)
    return bool(frame.select(carried.any()).item())


def _json_text(value: pl.Expr) -> pl.Expr:
    """A nested value as its JSON text (Polars' writer escapes every string)."""
    wrapped = pl.struct(value.alias("v")).struct.json_encode()
    text = wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")
    return pl.when(value.is_not_null()).then(text)


def _flattened(
    name: str, value: pl.Expr, dtype: DType, taken: set[str]
) -> list[pl.Expr]:
    """A struct spread into ``parent_child`` members; lists become JSON text.

    When a spread name would collide with another property, the whole value is
    JSON-encoded instead, so no property is silently overwritten.
    """
    if not isinstance(dtype, pl.Struct):
        return [_json_text(value).alias(name)]
    leaves = list(_leaves(name, value, dtype))
    names = [leaf_name for leaf_name, _ in leaves]
    if len(set(names)) < len(names) or (set(names) & (taken - {name})):
        return [_json_text(value).alias(name)]
    taken.update(names)
    return [expr.alias(leaf_name) for leaf_name, expr in leaves]


def _leaves(name: str, value: pl.Expr, dtype: pl.Struct) -> list[tuple[str, pl.Expr]]:
    """(flattened name, value) for every scalar under a struct."""
    leaves: list[tuple[str, pl.Expr]] = []
    for inner in dtype.fields:
        path = f"{name}{FLATTEN_SEPARATOR}{inner.name}"
        child = value.struct.field(inner.name)
        if isinstance(inner.dtype, pl.Struct):
            leaves.extend(_leaves(path, child, inner.dtype))
        elif isinstance(inner.dtype, pl.List | pl.Array):
            leaves.append((path, _json_text(child)))
        else:
            leaves.append((path, child))
    return leaves


# ------------------------------------------------ profile built-in fields


@dataclass(frozen=True)
class _Builtin:
    """A CleverTap built-in profile field: how to normalise it and its code."""

    normalise: Callable[[pl.Expr, DType, _Context], pl.Expr]
    code: int | None
    expected: str


def _words(expr: pl.Expr) -> pl.Expr:
    """Any scalar as trimmed lower-case text, for mapping spellings."""
    return expr.cast(pl.String).str.strip_chars().str.to_lowercase()


def _yes_no(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    mapping = dict.fromkeys(_TRUE_WORDS, "Y") | dict.fromkeys(_FALSE_WORDS, "N")
    return _words(expr).replace_strict(mapping, default=None, return_dtype=pl.String)


def _boolean(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    mapping = dict.fromkeys(_TRUE_WORDS, True) | dict.fromkeys(_FALSE_WORDS, False)
    return _words(expr).replace_strict(mapping, default=None, return_dtype=pl.Boolean)


def _gender(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    return _words(expr).replace_strict(_GENDERS, default=None, return_dtype=pl.String)


def _education(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    mapping = {v.lower(): v for v in EDUCATION_VALUES}
    return _words(expr).replace_strict(mapping, default=None, return_dtype=pl.String)


def _email(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    text = expr.cast(pl.String).str.strip_chars()
    return pl.when(text.str.contains(_EMAIL)).then(text)


def _age(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    """A whole, non-negative number of years (``"34"`` and ``34.0`` both give 34)."""
    number = expr.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    whole = number.is_finite() & (number == number.floor()) & (number >= 0)
    return pl.when(whole).then(number.cast(pl.Int64, strict=False))


def _phone(expr: pl.Expr, dtype: DType, context: _Context) -> pl.Expr:
    """E.164 text from the mapping worked out once per distinct value."""
    return _phone_text(expr, dtype).replace_strict(
        context.phones, default=None, return_dtype=pl.String
    )


def _phone_text(expr: pl.Expr, dtype: DType) -> pl.Expr:
    """A phone as text; a float read from a CSV loses its ``.0``."""
    if dtype.is_float():
        # NaN, infinities and floats beyond Int64 have no digits: no phone (516).
        whole = expr.is_finite() & (expr == expr.floor())
        return pl.when(whole).then(expr.cast(pl.Int64, strict=False)).cast(pl.String)
    return expr.cast(pl.String, strict=False).str.strip_chars()


_BUILTINS = {
    "Phone": _Builtin(_phone, CODES["Phone"], "a valid phone number"),
    "Email": _Builtin(_email, CODES["Email"], "a valid email address"),
    "Gender": _Builtin(_gender, CODES["Gender"], "M or F"),
    "Employed": _Builtin(_yes_no, CODES["Employed"], "Y or N"),
    "Married": _Builtin(_yes_no, CODES["Married"], "Y or N"),
    "Education": _Builtin(
        _education, CODES["Education"], "School, College or Graduate"
    ),
    "Age": _Builtin(_age, CODES["Age"], "a whole number"),
}
_MESSAGING = _Builtin(_boolean, None, "true or false")


def _builtin_for(name: str) -> _Builtin | None:
    """The built-in rule for a profile key, if it is one (``MSG-*`` included)."""
    if name.startswith("MSG-"):
        return _MESSAGING
    return _BUILTINS.get(name)


def _builtin_value(
    name: str, value: pl.Expr, dtype: DType, context: _Context
) -> pl.Expr:
    """A built-in field normalised; nested values are left for a rule to refuse."""
    builtin = _builtin_for(name)
    if builtin is None or isinstance(dtype, _NESTED):
        return value.alias(name)
    return builtin.normalise(value, dtype, context).alias(name)


def _phone_mapping(frame: pl.DataFrame, country: str) -> dict[str, str | None]:
    """E.164 forms of the distinct phones in the frame's profiles."""
    phone = next(
        (f for f in _fields(frame.schema, PROFILE_DATA) if f.name == "Phone"), None
    )
    if phone is None or isinstance(phone.dtype, _NESTED):
        return {}
    # The same form normalisation sees: Binary as text, non-finite floats as null.
    value = _jsonable(_value(PROFILE_DATA, "Phone"), phone.dtype, True)
    texts = _phone_text(value, phone.dtype)
    values = frame.select(texts.drop_nulls().unique()).to_series().to_list()
    return e164_mapping(values, country)


# ---------------------------------------------------------------- ts


def _ts_seconds(dtype: pl.DataType, context: _Context) -> pl.Expr:
    """``ts`` as Int64 epoch seconds, milliseconds divided down when allowed."""
    seconds = _ts_number(dtype)
    if context.spec.millis == "convert":
        return (
            pl.when(_in_millis(seconds, context))
            .then(seconds // 1000)
            .otherwise(seconds)
        )
    return seconds


def _ts_number(dtype: pl.DataType) -> pl.Expr:
    """The incoming ``ts`` as an integer; other types (hand-built frames) are read."""
    if dtype.is_integer():
        return pl.col("ts").cast(pl.Int64)
    return to_epoch_seconds(pl.col("ts"), dtype)


def _in_millis(number: pl.Expr, context: _Context) -> pl.Expr:
    """Values that are plausible times only when read as milliseconds."""
    low = max(context.ts_min * 1000, MILLIS_FROM)
    high = context.ts_max * 1000 + 999
    return number.is_between(low, high) & ~_placeholder(number)


def _placeholder(number: pl.Expr) -> pl.Expr:
    """Year-9999 "no date" values, in seconds or milliseconds."""
    return number.is_between(_YEAR_9999, _YEAR_10000 - 1) | number.is_between(
        _YEAR_9999 * 1000, _YEAR_10000 * 1000 - 1
    )


# ---------------------------------------------------------------- rules


def _rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """Every check, in the order that decides which reason a record gets."""
    return [
        _Rule(_type_reason(), CODES["record type"]),
        *_identity_rules(schema, context),
        *_ts_rules(schema, context),
        *_event_name_rules(schema, context),
        *_structure_rules(schema, context),
        *_property_rules(schema, EVENT, context),
        *_property_rules(schema, PROFILE, context),
        *_builtin_rules(schema),
    ]


def _when(failed: pl.Expr, reason: pl.Expr | str | _Check) -> _Check:
    """A check failing where `failed` holds (and, for a check, where it fails)."""
    where = failed.fill_null(False)
    if isinstance(reason, _Check):
        return _Check(where & reason.failed, reason.reason)
    text = pl.lit(reason) if isinstance(reason, str) else reason
    return _Check(where, text)


def _type_reason() -> _Check:
    kind = pl.col("type")
    known = kind.is_in([EVENT, PROFILE]).fill_null(False)
    shown = kind.cast(pl.String).fill_null("")
    return _when(~known, pl.format("type '{}' is neither event nor profile", shown))


def _identity_rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """One identifier must be present and readable; none may be over-long."""
    fields = [c for c in IDENTITY_FIELDS if c in schema]
    rules = [
        _Rule(_when(issue.is_not_null(), issue), CODES["identity"])
        for issue in _identity_issues(schema, fields)
    ]
    present = pl.any_horizontal([pl.col(c).is_not_null() for c in fields] or [False])
    rules.append(_Rule(_when(~present, "identity is missing"), CODES["identity"]))
    spec = context.spec
    for name in fields:
        length = pl.col(name).str.len_chars()
        limit = spec.object_id_max_length if name == "objectId" else None
        limit = min(limit or spec.identity_max_length, spec.identity_max_length)
        reason = pl.format(f"{name} is {{}} characters (max {limit})", length)
        code = CODES["objectId"] if name == "objectId" else CODES["identity"]
        rules.append(_Rule(_when(length > limit, reason), code))
    if "objectId" in schema:
        object_id = pl.col("objectId")
        spaced = object_id.str.contains(r"\s")
        rules.append(
            _Rule(_when(spaced, "objectId contains spaces"), CODES["objectId"])
        )
        allowed = spec.object_id_characters
        odd = ~object_id.str.contains(f"^[{allowed}]+$")
        text = pl.format(
            f"objectId '{{}}' has a character outside [{allowed}]", _text(object_id)
        )
        rules.append(_Rule(_when(odd, text), CODES["objectId"]))
    return rules


def _identity_issues(schema: pl.Schema, fields: list[str]) -> list[pl.Expr]:
    """Why identity values could not be taken: from the builder, or, in a
    hand-built frame, from an identifier column that is not text."""
    issues = [pl.col(IDENTITY_ISSUE)] if IDENTITY_ISSUE in schema else []
    for name in fields:
        issue = identity_text(_original(name), schema[_ORIGINAL + name])[1]
        if issue is not None:
            issues.append(issue.str.replace("^identity", name, literal=False))
    return issues


def _ts_rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """``ts``: readable, in seconds, present on events, and a plausible time.

    Built records carry the source's ts text where it was not plain seconds
    (``TS_SOURCE``) and whether it was milli- or microseconds (``TS_UNIT``), so
    reasons show the value as given and ``millis = "reject"`` applies to values
    the builder has already turned into seconds.
    """
    code = CODES["ts"]
    ts = pl.col("ts") if "ts" in schema else pl.lit(None, dtype=pl.Int64)
    original = _original("ts") if "ts" in schema else ts
    given = original.cast(pl.String)
    present = original.is_not_null()
    if TS_SOURCE in schema:
        # Only reasons format `given`; the checks stay on the integers.
        given = pl.coalesce(pl.col(TS_SOURCE), given)
        present = present | pl.col(TS_SOURCE).is_not_null()
    unreadable = present & ts.is_null()
    missing = ~present & _is(EVENT) & (not context.spec.allow_missing_ts)
    reject = context.spec.millis == "reject"
    millis = _in_millis(ts, context) & reject
    unit = pl.lit("milliseconds")
    if TS_UNIT in schema and reject:
        scaled = pl.col(TS_UNIT).is_not_null()
        millis = millis | scaled
        unit = (
            pl.when(pl.col(TS_UNIT) == "us")
            .then(pl.lit("microseconds"))
            .otherwise(unit)
        )
    shown = _ts_shown(ts, given)
    ts_min = context.spec.ts_min
    return [
        _Rule(
            _when(unreadable, pl.format("ts '{}' is not a time", _text(given))), code
        ),
        _Rule(_when(missing, "ts is missing"), code),
        _Rule(
            _when(
                millis,
                pl.format("ts {} is in {} (millis = reject)", _text(given), unit),
            ),
            code,
        ),
        _Rule(
            _when(
                _placeholder(ts),
                pl.format("ts {} is a year-9999 placeholder", _text(given)),
            ),
            code,
        ),
        _Rule(
            _when(ts < context.ts_min, pl.format(f"ts {{}} is before {ts_min}", shown)),
            code,
        ),
        _Rule(
            _when(
                ts > context.ts_max,
                pl.format(f"ts {{}} is after {context.ts_max_label}", shown),
            ),
            code,
        ),
    ]


def _ts_shown(ts: pl.Expr, given: pl.Expr) -> pl.Expr:
    """``ts`` for a reason: the seconds, the value as given where it differs, the
    instant it was read as, and a hint where digits look like a cut-short packed
    ``yyyyMMddHHmmss`` (``2024030109`` read as seconds is in 2034)."""
    seconds = ts.cast(pl.String)
    text = given.str.strip_chars()
    differs = text.is_not_null() & (text != seconds)
    value = (
        pl.when(differs)
        .then(pl.format("'{}' read as {}", _text(given), seconds))
        .otherwise(seconds)
    )
    readable = ts.is_between(-62_135_596_800, _YEAR_10000 - 1)
    instant = pl.when(readable).then(
        pl.from_epoch(pl.when(readable).then(ts), time_unit="s").dt.strftime(
            "%Y-%m-%d %H:%M UTC"
        )
    )
    digits = pl.coalesce(text, seconds)
    packed = digits.str.contains(_PACKED_PREFIX) & (digits.str.len_chars() != 14)
    hint = pl.when(packed).then(
        pl.lit(", digits that look like a shortened yyyyMMddHHmmss")
    )
    detail = pl.concat_str(instant, hint.fill_null(""))
    return pl.concat_str(
        value,
        pl.when(instant.is_not_null())
        .then(pl.format(" ({})", detail))
        .otherwise(pl.lit("")),
    )


def _event_name_rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """Event names: present, not a system event, clean, not discarded."""
    is_event = _is(EVENT)
    if "evtName" not in schema:
        return [
            _Rule(_when(is_event, "evtName is missing"), CODES["event name missing"])
        ]
    name = pl.col("evtName").cast(pl.String)
    key = _name_key(name)
    blank = name.is_null() | (name.str.strip_chars() == "")
    reserved = key.is_in([_fold(n) for n in RESERVED_EVENTS])
    discarded = key.is_in([_fold(n) for n in context.spec.discarded_events])
    banned = name.str.contains(_banned_pattern(BANNED_NAME_CHARACTERS))
    shown = _text(name)
    return [
        _Rule(
            _when(is_event & blank, "evtName is missing"), CODES["event name missing"]
        ),
        _Rule(
            _when(
                is_event & reserved,
                pl.format("event '{}' is a CleverTap system event", shown),
            ),
            CODES["reserved event"],
        ),
        _Rule(
            _when(
                is_event & banned,
                pl.format("event name '{}' has a banned character", shown),
            ),
            None,
        ),
        _Rule(
            _when(is_event & discarded, pl.format("event '{}' is discarded", shown)),
            CODES["discarded event"],
        ),
    ]


def _banned_pattern(characters: str) -> str:
    escaped = "".join("\\" + c if c in "\\]^-[" else c for c in characters)
    return f"[{escaped}]"


def _structure_rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """Nested values the policy refuses, Charged's `Items`, profile commands and
    multi-value lists."""
    rules = _items_rules(schema, context)
    for column, kind in ((EVENT_DATA, EVENT), (PROFILE_DATA, PROFILE)):
        code = CODES["nested event property"] if kind == EVENT else None
        for prop in _fields(schema, column):
            reason = _nested_reason(column, prop, kind, context)
            if reason is not None:
                rules.append(_Rule(_when(_is(kind), reason), code))
    rules.extend(_command_rules(schema, context))
    rules.extend(_multi_value_rules(schema))
    return rules


def _charged() -> pl.Expr:
    return _is(EVENT) & (_name_key(pl.col("evtName")) == _fold(CHARGED))


def _items_rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """Charged's `Items`: a non-empty list of at most 256 flat objects whose keys
    follow the property-key rules; never text or anything else."""
    text: pl.Expr | str  # reasons are fixed words or formatted per row
    original = {f.name: f.dtype for f in _fields(schema, _ORIGINAL + EVENT_DATA)}
    if ITEMS not in original or "evtName" not in schema or not context.keep_items:
        return []  # without keep_items no Charged event carries Items
    code = CODES["nested event property"]
    given = _value(_ORIGINAL + EVENT_DATA, ITEMS).is_not_null() & _charged()
    dtype = original[ITEMS]
    if not _is_item_list(dtype):
        if isinstance(dtype, pl.List | pl.Array):
            entries = _value(_ORIGINAL + EVENT_DATA, ITEMS).cast(pl.List(dtype.inner))
            empty = entries.list.drop_nulls().list.len() == 0
            text = pl.when(empty).then(pl.lit(f"'{ITEMS}' is an empty list"))
        else:
            empty = pl.lit(False)
            text = pl.lit(None, dtype=pl.String)
        refused = pl.coalesce(
            text, pl.lit(f"'{ITEMS}' of a Charged event must be a list of objects")
        )
        return [_Rule(_when(given, refused), code)]
    items = _value(EVENT_DATA, ITEMS)
    count = items.list.len()
    entries = items.list.drop_nulls().list.len()
    limit_text = pl.format(
        f"'{ITEMS}' has {{}} entries (max {MAX_CHARGED_ITEMS})", count
    )
    rules = [
        _Rule(_when(given & (entries == 0), f"'{ITEMS}' is an empty list"), code),
        _Rule(_when(given & (count > MAX_CHARGED_ITEMS), limit_text), None),
    ]
    assert isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)
    fields = [f for f in dtype.inner.fields if not f.name.startswith(_PLACEHOLDER)]
    for item in fields:
        used = items.list.eval(pl.element().struct.field(item.name).is_not_null())
        present = given & used.list.any()
        for check, key_code in _key_checks(item.name, EVENT, context, f"'{ITEMS}' key"):
            rules.append(_Rule(_when(present, check), key_code))
        if isinstance(item.dtype, _NESTED):
            text = f"'{ITEMS}' key '{_show(item.name)}' holds a nested value"
            rules.append(_Rule(_when(present, text), code))
    limit = context.spec.max_item_properties
    if len(fields) > limit:
        keys = items.list.eval(
            pl.sum_horizontal(
                [pl.element().struct.field(f.name).is_not_null() for f in fields]
            )
        ).list.max()
        text = pl.format(f"an '{ITEMS}' entry has {{}} keys (max {limit})", keys)
        rules.append(_Rule(_when(given & (keys > limit), text), None))
    return rules


def _commands(context: _Context) -> tuple[str, ...]:
    extra = INCR_DECR if context.spec.allow_incr_decr else ()
    return PROFILE_COMMANDS + extra


def _command_rules(schema: pl.Schema, context: _Context) -> list[_Rule]:
    """Profile commands: documented ones only, one per key, with flat operands."""
    text: pl.Expr | str  # reasons are fixed words or formatted per row
    code = CODES["nested event property"]
    allowed = _commands(context)
    rules: list[_Rule] = []
    for prop in _fields(schema, PROFILE_DATA):
        if _builtin_for(prop.name) is not None or not _is_command(prop.dtype):
            continue
        assert isinstance(prop.dtype, pl.Struct)
        value = _value(PROFILE_DATA, prop.name)
        label = _show(prop.name)
        is_profile = _is(PROFILE)
        for op in prop.dtype.fields:
            used = is_profile & value.struct.field(op.name).is_not_null()
            if op.name not in allowed:
                setting = (
                    " (allow_incr_decr = false: unconfirmed for uploads)"
                    if op.name in INCR_DECR
                    else f" (not one of {', '.join(allowed)})"
                )
                text = f"'{label}' has command '{_show(op.name)}'{setting}"
                rules.append(_Rule(_when(used, text), code))
            elif isinstance(op.dtype, _NESTED) and not _is_multi_value(op.dtype):
                text = f"'{label}' {op.name} must be a value or a list of text"
                rules.append(_Rule(_when(used, text), code))
        if len(prop.dtype.fields) > 1:
            count = pl.sum_horizontal(
                [value.struct.field(f.name).is_not_null() for f in prop.dtype.fields]
            )
            text = pl.format(f"'{label}' has {{}} commands (one per key)", count)
            rules.append(_Rule(_when(is_profile & (count > 1), text), code))
    return rules


def _multi_value_rules(schema: pl.Schema) -> list[_Rule]:
    """Multi-value lists (and command operands): unique, at most 100 values."""
    lists: list[tuple[str, pl.Expr]] = []
    for prop in _fields(schema, PROFILE_DATA):
        value = _value(PROFILE_DATA, prop.name)
        if _builtin_for(prop.name) is not None:
            continue
        if _is_multi_value(prop.dtype):
            lists.append((f"'{_show(prop.name)}'", value))
        elif _is_command(prop.dtype):
            assert isinstance(prop.dtype, pl.Struct)
            lists.extend(
                (f"'{_show(prop.name)}' {op.name}", value.struct.field(op.name))
                for op in prop.dtype.fields
                if _is_multi_value(op.dtype)
            )
    rules = []
    for label, value in lists:
        values = value.list.drop_nulls()
        count = values.list.len()
        many = pl.format(f"{label} has {{}} values (max {MAX_MULTI_VALUES})", count)
        rules.append(
            _Rule(_when(_is(PROFILE) & (count > MAX_MULTI_VALUES), many), None)
        )
        repeated = values.list.n_unique() < count
        text = f"{label} has duplicate values (multi-value lists hold unique values)"
        rules.append(_Rule(_when(_is(PROFILE) & repeated, text), None))
    return rules


def _nested_reason(
    column: str, prop: pl.Field, kind: str, context: _Context
) -> _Check | None:
    """Why a (still) nested property is refused, per row; None if it never is."""
    if not isinstance(prop.dtype, _NESTED):
        return None
    value = _value(column, prop.name)
    label = _show(prop.name)
    if kind == EVENT and _allowed_nested(prop, kind, context):
        charged = _name_key(pl.col("evtName")) == _fold(CHARGED)
        return _when(
            value.is_not_null() & ~charged,
            f"'{ITEMS}' is allowed only on Charged events",
        )
    if kind == PROFILE and _builtin_for(prop.name) is not None:
        return _when(value.is_not_null(), f"'{label}' must be a single value")
    if kind == PROFILE and (_is_command(prop.dtype) or _is_multi_value(prop.dtype)):
        return None
    policy = (
        context.spec.nested_events if kind == EVENT else context.spec.nested_profiles
    )
    if policy != "reject":
        return None
    setting = "nested_events" if kind == EVENT else "nested_profiles"
    return _when(value.is_not_null(), f"'{label}' is nested ({setting} = reject)")


def _property_rules(schema: pl.Schema, kind: str, context: _Context) -> list[_Rule]:
    """Keys, values and the property count of one kind of record."""
    column = EVENT_DATA if kind == EVENT else PROFILE_DATA
    props = _fields(schema, column)
    if not props:
        return []
    is_kind = _is(kind)
    rules = []
    for prop in props:
        present = is_kind & _value(column, prop.name).is_not_null()
        for check, code in _key_checks(prop.name, kind, context, "property key"):
            rules.append(_Rule(_when(present, check), code))
    rules.extend(
        _Rule(_when(is_kind, r), None) for r in _value_reasons(column, props, context)
    )
    rules.extend(
        _Rule(_when(is_kind, r), None)
        for r in _undecodable_reasons(_ORIGINAL + column, schema)
    )
    if context.spec.non_finite == "reject":
        reasons = _non_finite_reasons(_ORIGINAL + column, schema)
        rules.extend(_Rule(_when(is_kind, r), None) for r in reasons)
    rules.append(_count_rule(column, props, kind, context))
    return rules


def _key_checks(
    name: str, kind: str, context: _Context, what: str
) -> list[tuple[str, int | None]]:
    """What is wrong with a key name (worked out once per name, not per row):
    blank (CleverTap's 512), over-long, or holding a banned character."""
    banned = BANNED_NAME_CHARACTERS if kind == EVENT else BANNED_PROFILE_KEY_CHARACTERS
    limit = context.spec.max_key_length
    key = f"{what} '{_show(name)}'"
    checks: list[tuple[str, int | None]] = []
    if not name.strip():
        checks.append((f"{key} is empty", CODES["nested event property"]))
    if len(name) > limit:
        checks.append((f"{key} is {len(name)} characters (max {limit})", None))
    bad = sorted({c for c in name if c in banned})
    if bad:
        checks.append((f"{key} has banned character {' '.join(bad)}", None))
    return checks


def _undecodable_reasons(column: str, schema: pl.Schema) -> list[_Check]:
    """Binary values whose bytes are not UTF-8 text, at any depth."""
    reasons = []
    for prop in _fields(schema, column):
        bad = _undecodable(_value(column, prop.name), prop.dtype)
        if bad is not None:
            text = f"value of '{_show(prop.name)}' holds bytes that are not UTF-8 text"
            reasons.append(_when(bad, text))
    return reasons


def _nested_fold(
    value: pl.Expr,
    dtype: DType,
    leaf: Callable[[pl.Expr, DType], pl.Expr | None],
    across: Callable[[list[pl.Expr]], pl.Expr],
    within: Callable[[pl.Expr], pl.Expr],
) -> pl.Expr | None:
    """`leaf` of every value inside `value`, however deep, folded into one.

    `leaf` gives an expression for a value that is not nested (None where it has
    nothing to say); a struct's fields are combined with `across` and a list's
    items with `within`. None when nothing inside `value` has a `leaf`.
    """
    if isinstance(dtype, pl.Struct):
        parts = [
            _nested_fold(value.struct.field(f.name), f.dtype, leaf, across, within)
            for f in dtype.fields
        ]
        found = [p for p in parts if p is not None]
        return across(found) if found else None
    if isinstance(dtype, pl.List | pl.Array):
        inner = _nested_fold(pl.element(), dtype.inner, leaf, across, within)
        if inner is None:
            return None
        return within(value.cast(pl.List(dtype.inner)).list.eval(inner))
    return leaf(value, dtype)


def _undecodable(value: pl.Expr, dtype: DType) -> pl.Expr | None:
    """True where `value` holds non-UTF-8 bytes (None: it holds no Binary)."""

    def leaf(item: pl.Expr, kind: DType) -> pl.Expr | None:
        return ~is_utf8(item).fill_null(True) if kind == pl.Binary else None

    return _nested_fold(value, dtype, leaf, pl.any_horizontal, _list_any)


def _list_any(items: pl.Expr) -> pl.Expr:
    return items.list.any()


def _list_max(items: pl.Expr) -> pl.Expr:
    return items.list.max()


def _value_reasons(
    column: str, props: list[pl.Field], context: _Context
) -> list[_Check]:
    """Over-long strings anywhere in a value, and malformed ``$D_`` dates."""
    text: pl.Expr | str  # reasons are fixed words or formatted per row
    limit = context.spec.max_value_bytes
    reasons = []
    for prop in props:
        value = _value(column, prop.name)
        label = _show(prop.name)
        longest = _longest_string(value, prop.dtype)
        if longest is not None:
            where = (
                f"value of '{label}'"
                if prop.dtype == pl.String
                else f"a string in '{label}'"
            )
            text = pl.format(f"{where} is {{}} bytes (max {limit})", longest)
            reasons.append(_when(longest > limit, text))
        if prop.dtype == pl.String:
            dated = value.str.starts_with(DATE_PREFIX)
            bad_date = dated & ~value.str.contains(_EPOCH_DATE)
            date_text = f"value of '{label}' is not a {DATE_PREFIX}<epoch seconds> date"
            reasons.append(_when(bad_date, date_text))
        else:
            bad = _bad_date(value, prop.dtype)
            if bad is not None:
                text = (
                    f"a string in '{label}' is not a {DATE_PREFIX}<epoch seconds> date"
                )
                reasons.append(_when(bad, text))
    return reasons


def _bad_date(value: pl.Expr, dtype: DType) -> pl.Expr | None:
    """True where a string anywhere in `value` starts ``$D_`` but is no date."""

    def leaf(item: pl.Expr, kind: DType) -> pl.Expr | None:
        if kind != pl.String:
            return None
        return item.str.starts_with(DATE_PREFIX) & ~item.str.contains(_EPOCH_DATE)

    return _nested_fold(value, dtype, leaf, pl.any_horizontal, _list_any)


def _longest_string(value: pl.Expr, dtype: DType) -> pl.Expr | None:
    """The byte length of the longest string anywhere in `value` (None: no strings)."""

    def leaf(item: pl.Expr, kind: DType) -> pl.Expr | None:
        return item.str.len_bytes() if kind == pl.String else None

    return _nested_fold(value, dtype, leaf, pl.max_horizontal, _list_max)


def _count_rule(
    column: str, props: list[pl.Field], kind: str, context: _Context
) -> _Rule:
    """No more properties with a value than CleverTap keeps."""
    spec = context.spec
    limit = spec.max_event_properties if kind == EVENT else spec.max_profile_properties
    count = pl.sum_horizontal([_value(column, p.name).is_not_null() for p in props])
    reason = _when(
        _is(kind) & (count > limit), pl.format(f"{{}} properties (max {limit})", count)
    )
    return _Rule(reason, CODES["too many event properties"] if kind == EVENT else None)


def _non_finite_reasons(column: str, schema: pl.Schema) -> list[_Check]:
    """Under ``non_finite = reject``: properties holding NaN or an infinity."""
    return [
        _when(
            _non_finite_count(_value(column, p.name), p.dtype) > 0,
            f"value of '{_show(p.name)}' is not a finite number",
        )
        for p in _fields(schema, column)
        if _has_float(p.dtype)
    ]


def _non_finite_count(value: pl.Expr, dtype: DType) -> pl.Expr:
    """How many NaN or infinite numbers `value` holds, at any depth."""
    if dtype.is_float():
        return (~value.is_finite()).fill_null(False).cast(pl.Int64)
    if isinstance(dtype, pl.Struct):
        parts = [
            _non_finite_count(value.struct.field(f.name), f.dtype)
            for f in dtype.fields
            if _has_float(f.dtype)
        ]
        return pl.sum_horizontal(parts) if parts else pl.lit(0, pl.Int64)
    if isinstance(dtype, pl.List | pl.Array):
        inner = _non_finite_count(pl.element(), dtype.inner)
        counts = value.cast(pl.List(dtype.inner)).list.eval(inner).list.sum()
        return counts.fill_null(0).cast(pl.Int64)
    return pl.lit(0, pl.Int64)


def _drop_counts(schema: pl.Schema, context: _Context) -> pl.Expr:
    """Per record, how many non-finite numbers normalisation dropped."""
    if context.spec.non_finite != "drop":
        return pl.lit(0, pl.Int64)
    counts = [
        _non_finite_count(_value(_ORIGINAL + column, p.name), p.dtype)
        for column in (EVENT_DATA, PROFILE_DATA)
        for p in _fields(schema, _ORIGINAL + column)
        if _has_float(p.dtype)
    ]
    return pl.sum_horizontal(counts) if counts else pl.lit(0, pl.Int64)


def _builtin_rules(schema: pl.Schema) -> list[_Rule]:
    """Built-in profile fields whose value has no CleverTap form."""
    rules = []
    for prop in _fields(schema, _ORIGINAL + PROFILE_DATA):
        builtin = _builtin_for(prop.name)
        if builtin is None or isinstance(prop.dtype, _NESTED):
            continue
        original = _value(_ORIGINAL + PROFILE_DATA, prop.name)
        given = original.cast(pl.String).str.strip_chars().fill_null("") != ""
        lost = given & _value(PROFILE_DATA, prop.name).is_null() & _is(PROFILE)
        text = pl.format(
            f"{prop.name} '{{}}' is not {builtin.expected}", _text(original)
        )
        rules.append(_Rule(_when(lost, text), builtin.code))
    return rules
