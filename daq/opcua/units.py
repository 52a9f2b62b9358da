"""The OPC UA ``EUInformation`` of the station's units (``degC``, ``MPa``, ``N`` …).

Units are identified as OPC UA Part 8 says: by their UNECE Recommendation 20 common code
(``CEL`` for degree Celsius), packed into ``UnitId`` one byte per character, under the
namespace ``http://www.opcfoundation.org/UA/units/un/cefact``. A unit the table does not
know still gets its text as display name (``UnitId`` -1: "not a UNECE unit"); a channel
that is a flag (``bool``) has no engineering unit at all.
"""

from __future__ import annotations

from asyncua import ua

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"

#: station unit → (UNECE common code, display name, description)
UNITS: dict[str, tuple[str, str, str]] = {
    "degC": ("CEL", "°C", "degree Celsius"),
    "MPa": ("MPA", "MPa", "megapascal"),
    "kPa": ("KPA", "kPa", "kilopascal"),
    "N": ("NEW", "N", "newton"),
    "kN": ("B47", "kN", "kilonewton"),
    "mm": ("MMT", "mm", "millimetre"),
    "W": ("WTT", "W", "watt"),
    "mW": ("C31", "mW", "milliwatt"),
    "s": ("SEC", "s", "second"),
    "min": ("MIN", "min", "minute"),
    "h": ("HUR", "h", "hour"),
    "%": ("P1", "%", "percent"),
}

#: Units of channels that are flags or counts, not measured quantities.
NO_UNIT = frozenset({"bool", ""})


def unit_id(code: str) -> int:
    """The ``UnitId`` of a UNECE common code: its characters packed big-endian
    (``CEL`` → 0x43454C = 4408652)."""
    value = 0
    for char in code:
        value = (value << 8) | ord(char)
    return value


def eu_information(unit: str) -> ua.EUInformation | None:
    """The ``EUInformation`` of a station unit; ``None`` for a flag (``bool``)."""
    if unit in NO_UNIT:
        return None
    code, shown, description = UNITS.get(unit, ("", unit, unit))
    return ua.EUInformation(
        NamespaceUri=UNECE_NAMESPACE,
        UnitId=unit_id(code) if code else -1,
        DisplayName=ua.LocalizedText(shown),
        Description=ua.LocalizedText(description),
    )
