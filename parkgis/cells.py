"""Values bound for a spreadsheet cell (CSV, XLSX): one rule against formula injection.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (tab and
CR too: some programs strip them first). OWASP's remedy is a leading apostrophe, which makes the
cell text; numbers are never touched, so a negative figure stays a number.

>>> formula_safe("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> formula_safe(-12.5), formula_safe("卫辉食品")
(-12.5, '卫辉食品')
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: object) -> object:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula; such text
    gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
