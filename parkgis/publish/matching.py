"""Match results that say which chain gaps a project fills (issue 14 point 3).

Siting ranks the sites; the ledger knows the chains' missing and weak links. Siting must not
import the ledger (same rank, and promotion already imports siting), so the two are composed
here, one layer up: ``GET /api/projects/{code}/matches``, ``POST /api/match`` and
``parkgis match`` all answer this body, with ``fills`` beside ``matches``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from parkgis.ledger import chains
from parkgis.siting import fit


def project_match(conn: psycopg.Connection, code: str, **kw: Any) -> dict[str, Any]:
    """:func:`parkgis.siting.fit.match_project`'s body plus ``fills``: the missing or weak
    chain links the project would fill (:func:`parkgis.ledger.chains.fills_gap`), each with
    its sentence (``text_zh``, ``text_en``)."""
    body = fit.match_project(conn, code, **kw).body()
    body["fills"] = chains.fills_gap(conn, code)
    return body


def requirement_match(conn: psycopg.Connection, req: fit.Requirement, **kw: Any) -> dict[str, Any]:
    """:func:`parkgis.siting.fit.match`'s body for an ad-hoc requirement plus ``fills`` (by
    its industry and chain role; none when it names neither)."""
    body = fit.match(conn, req, **kw).body()
    body["fills"] = chains.fills_for(conn, req.industry, req.chain_role)
    return body
