"""Phone numbers in CleverTap's form, ``+<country code><number>`` (E.164).

Parsing is done by `phonenumbers` (Google's libphonenumber rules), one Python call
per distinct value: a column of a million phones usually holds far fewer distinct
numbers, and the result is mapped back onto the column by Polars.
"""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers


def to_e164(text: str, default_country: str) -> str | None:
    """`text` as an E.164 number, or None when it is not a valid phone number.

    Numbers without a leading ``+`` are read as numbers of `default_country`
    (an ISO 3166 code such as ``"IN"``).

    Example:
        >>> to_e164("098765 43210", "IN")
        '+919876543210'
    """
    try:
        number = phonenumbers.parse(text, default_country.upper())
    except phonenumbers.NumberParseException:
        return None
    # Validity, not mere possibility: CleverTap refuses numbers that cannot exist
    # (code 516), so a number libphonenumber calls invalid would fail there too.
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def e164_mapping(values: Iterable[str], default_country: str) -> dict[str, str | None]:
    """Each distinct value mapped to its E.164 form (None where unparseable)."""
    return {value: to_e164(value, default_country) for value in set(values)}
