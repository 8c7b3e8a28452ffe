"""SenML unit names (计量单位, S1/S4): the IANA "SenML Units" registry (RFC 8428 §12.1 plus the
primary units RFC 8798 §2 added), the secondary-units registry (RFC 8798 §3), and the OneMap
extension for the quantities neither registry names (documented in docs/mqtt.md, "SenML units").

Every metric of every device kind (``sensors/kinds``) has a unit out of one of these three sets
(``tests/sensors/test_senml.py`` checks it), so a SenML client always has a unit to send.
"""

from __future__ import annotations

PRIMARY: frozenset[str] = frozenset((
    # RFC 8428 §12.1
    "m", "kg", "g", "s", "A", "K", "cd", "mol", "Hz", "rad", "sr", "N", "Pa", "J", "W", "C", "V",
    "F", "Ohm", "S", "Wb", "T", "H", "Cel", "lm", "lx", "Bq", "Gy", "Sv", "kat", "m2", "m3", "l",
    "m/s", "m/s2", "m3/s", "l/s", "W/m2", "cd/m2", "bit", "bit/s", "lat", "lon", "pH", "dB", "dBW",
    "Bspl", "count", "/", "%", "%RH", "%EL", "EL", "1/s", "1/min", "beat/min", "beats", "S/m",
    # RFC 8798 §2 (new primary units)
    "B", "VA", "VAs", "var", "vars", "J/m", "kg/m3", "deg",
))
"""Primary unit names (RFC 8428 §12.1 + RFC 8798 §2)."""

SECONDARY: frozenset[str] = frozenset((
    # RFC 8798 §3: linear transformations of primary units
    "ms", "min", "h", "MHz", "kW", "kVA", "kvar", "Ah", "Wh", "kWh", "varh", "kvarh", "kVAh",
    "Wh/km", "KiB", "GB", "Mbit/s", "B/s", "MB/s", "mV", "mA", "dBm", "ug/m3", "mm/h", "m/h",
    "ppm", "/100", "/1000", "hPa", "mm", "cm", "km", "km/h",
))
"""Secondary unit names (RFC 8798 §3)."""

ONEMAP_EXTENSION: dict[str, str] = {
    "MPa": "兆帕 megapascal (1e6 Pa): fire-main water pressure",
    "mg/L": "毫克每升 milligram per litre (= g/m3): dissolved oxygen, ammonia nitrogen",
    "%LEL": "爆炸下限百分比 percent of the lower explosive limit: combustible gas",
    "%/m": "减光率 obscuration percent per metre: smoke detectors",
    "mm/s": "毫米每秒 millimetre per second (1e-3 m/s): structural vibration velocity",
    "ue": "微应变 microstrain (1e-6, dimensionless): bridge strain gauges",
    "dBA": "A计权声级 A-weighted sound level in dB: environmental noise (GB 3096)",
}
"""OneMap extension units: names used by Chinese monitoring standards that neither SenML
registry carries. Not registered with IANA: a SenML client outside OneMap may not know them."""


def registry_of(unit: str) -> str | None:
    """``"primary"``, ``"secondary"``, ``"onemap"`` or None for a unit name."""
    if unit in PRIMARY:
        return "primary"
    if unit in SECONDARY:
        return "secondary"
    if unit in ONEMAP_EXTENSION:
        return "onemap"
    return None
