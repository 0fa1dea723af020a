"""Reading source values as text without crashing or guessing: identities, bytes.

Shared by the record builder and the pre-flight check (for hand-built frames), so
both read an identity column the same way. Every function is a Polars expression:
a value that cannot be read becomes null with a reason, never an error for the
whole frame.
"""

from __future__ import annotations

import polars as pl
from polars.datatypes import DataTypeClass

DType = pl.DataType | DataTypeClass

#: Unicode white space and the zero-width characters that look like nothing:
#: an identity made only of these is blank, and they are stripped from its ends.
INVISIBLE = (
    "\t\n\v\f\r \x85\xa0\u1680\u180e"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)
# Floats above 2**53 no longer hold every whole number: such an identity has
# already lost digits, so it is refused rather than sent as a different ID.
_EXACT_FLOAT = 2**53
# Well-formed UTF-8, matched on the lower-case hex of the bytes (RFC 3629 table).
_UTF8_HEX = (
    r"^(?:[0-7][0-9a-f]"
    r"|c[2-9a-f][89ab][0-9a-f]|d[0-9a-f][89ab][0-9a-f]"
    r"|e0[ab][0-9a-f][89ab][0-9a-f]"
    r"|e[1-9a-cef][89ab][0-9a-f][89ab][0-9a-f]"
    r"|ed[89][0-9a-f][89ab][0-9a-f]"
    r"|f0[9ab][0-9a-f](?:[89ab][0-9a-f]){2}"
    r"|f[1-3][89ab][0-9a-f](?:[89ab][0-9a-f]){2}"
    r"|f48[0-9a-f](?:[89ab][0-9a-f]){2}"
    r")*$"
)


def is_utf8(value: pl.Expr) -> pl.Expr:
    """True where a Binary value is well-formed UTF-8 (null stays null)."""
    return value.bin.encode("hex").str.contains(_UTF8_HEX)


def binary_text(value: pl.Expr) -> pl.Expr:
    """A Binary value as text; null where its bytes are not UTF-8 (never an error)."""
    valid = is_utf8(value)
    # The cast checks every value in the buffer, masked or not: the bytes that are
    # not UTF-8 are swapped for empty ones before it, then nulled after it.
    safe = pl.when(valid).then(value).otherwise(pl.lit(b"", dtype=pl.Binary))
    return pl.when(valid).then(safe.cast(pl.String))


def strip_invisible(text: pl.Expr) -> pl.Expr:
    """Text without white space or zero-width characters at either end."""
    return text.str.strip_chars(INVISIBLE)


def identity_text(expr: pl.Expr, dtype: DType) -> tuple[pl.Expr, pl.Expr | None]:
    """An identity column read as text, and why a value was refused (or None).

    Text and whole numbers are identities. A float is one only when it is a whole
    number below 2**53 (``7421.0`` is sent as ``"7421"``); NaN is "no value". A
    fraction, an infinity, a boolean, bytes that are not UTF-8 and anything else
    (dates, lists, objects) are refused with a reason, so ``True`` never becomes
    ``"true"`` and NaN never becomes ``"NaN"``.
    """
    text: pl.Expr
    issue: pl.Expr
    if dtype == pl.String:
        return expr, None
    if dtype.is_integer() or isinstance(dtype, pl.Categorical | pl.Enum):
        return expr.cast(pl.String), None
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.String), None
    if dtype.is_float():
        whole = expr.is_finite() & (expr == expr.floor()) & (expr.abs() < _EXACT_FLOAT)
        text = pl.when(whole).then(expr.cast(pl.Int64, strict=False).cast(pl.String))
        refused = expr.is_not_null() & ~expr.is_nan() & ~whole
        issue = pl.when(refused).then(
            pl.format(
                "identity {} is a float that is not a whole number below 2**53; "
                "identities must be text or whole numbers",
                expr,
            )
        )
        return text, issue
    if isinstance(dtype, pl.Decimal):
        raw = expr.cast(pl.String)
        whole = raw.str.contains(r"^-?\d+(\.0*)?$")
        text = pl.when(whole).then(raw.str.replace(r"\.0*$", ""))
        issue = pl.when(expr.is_not_null() & ~whole).then(
            pl.format(
                "identity {} is not a whole number; identities must be text "
                "or whole numbers",
                raw,
            )
        )
        return text, issue
    if dtype == pl.Binary:
        text = binary_text(expr)
        issue = pl.when(expr.is_not_null() & text.is_null()).then(
            pl.lit("identity is bytes that are not UTF-8 text")
        )
        return text, issue
    if dtype == pl.Boolean:
        issue = pl.when(expr.is_not_null()).then(
            pl.format(
                "identity {} is a boolean; identities must be text or whole numbers",
                expr.cast(pl.String),
            )
        )
        return pl.lit(None, dtype=pl.String), issue
    kind = str(dtype).split("(", 1)[0]
    issue = pl.when(expr.is_not_null()).then(
        pl.lit(f"identity is a {kind} value; identities must be text or whole numbers")
    )
    return pl.lit(None, dtype=pl.String), issue
