"""Chain completeness (延链补链强链): each chain's links in order, the resident firms and
pipeline projects on each link, and the missing or weak links as a target list.

An enterprise or project sits on a link when its industry is the chain's and its
``chain_role`` is one of the link's roles (``chain_links.roles``, data). A link with no
resident firm is *missing*; with fewer than its ``min_firms``, *weak*. :func:`fills_gap`,
:func:`fills_by_project` and :func:`fills_for` are what matching and the pipeline call to say
that a project would fill one.
"""

from __future__ import annotations

from typing import Any

import psycopg

from parkgis.errors import NotFound
from parkgis.ledger.common import rows

SQL_LINKS = """
SELECT c.code AS chain_code, c.name_zh AS chain_zh, c.name_en AS chain_en, c.industry,
       l.code, l.position, l.name_zh, l.name_en, l.roles, l.min_firms,
       coalesce((SELECT json_agg(json_build_object(
                   'code', e.code, 'name_zh', e.name_zh, 'name_en', e.name_en,
                   'chain_role', e.chain_role, 'is_anchor', e.is_anchor,
                   'revenue_wan', (SELECT f.revenue_wan FROM perf_figures f
                                    WHERE f.enterprise_code = e.code
                                    ORDER BY f.year DESC LIMIT 1)) ORDER BY e.code)
                   FROM enterprises e
                  WHERE e.industry = c.industry AND e.chain_role = ANY(l.roles)), '[]') AS firms,
       coalesce((SELECT json_agg(json_build_object(
                   'code', p.code, 'name_zh', p.name_zh, 'name_en', p.name_en,
                   'chain_role', p.chain_role, 'stage', p.stage) ORDER BY p.code)
                   FROM projects p
                  WHERE p.industry = c.industry AND p.chain_role = ANY(l.roles)
                    AND p.stage NOT IN ('operational', 'lost')), '[]') AS projects
  FROM chains c JOIN chain_links l ON l.chain_code = c.code
 ORDER BY c.position, c.code, l.position"""

STATUS_NAMES = {
    "present": ("已具备", "present"),
    "weak": ("薄弱", "weak"),
    "missing": ("缺失", "missing"),
}


def _status(n_firms: int, min_firms: int) -> str:
    return "missing" if n_firms == 0 else "weak" if n_firms < min_firms else "present"


def chains(conn: psycopg.Connection) -> dict[str, Any]:
    """Every chain with its links (firms, projects, output, status) and the target list."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows(conn, SQL_LINKS):
        ch = out.setdefault(
            r["chain_code"],
            {
                "code": r["chain_code"],
                "name_zh": r["chain_zh"],
                "name_en": r["chain_en"],
                "industry": r["industry"],
                "links": [],
            },
        )
        firms = r["firms"]
        status = _status(len(firms), r["min_firms"])
        ch["links"].append(
            {
                "code": r["code"],
                "position": r["position"],
                "name_zh": r["name_zh"],
                "name_en": r["name_en"],
                "roles": r["roles"],
                "min_firms": r["min_firms"],
                "firms": firms,
                "projects": r["projects"],
                "n_firms": len(firms),
                "revenue_wan": sum(float(f["revenue_wan"] or 0) for f in firms),
                "status": status,
                "status_zh": STATUS_NAMES[status][0],
            }
        )
    targets = []
    for ch in out.values():
        for lk in ch["links"]:
            if lk["status"] != "present":
                targets.append(
                    {
                        "chain_code": ch["code"],
                        "chain_zh": ch["name_zh"],
                        "chain_en": ch["name_en"],
                        "link_code": lk["code"],
                        "link_zh": lk["name_zh"],
                        "link_en": lk["name_en"],
                        "status": lk["status"],
                        "status_zh": lk["status_zh"],
                        "n_firms": lk["n_firms"],
                        "roles": lk["roles"],
                        "projects": [p["code"] for p in lk["projects"]],
                    }
                )
    return {
        "chains": list(out.values()),
        "targets": targets,
        "definition_zh": (
            "环节无入驻企业为缺失，少于该环节最少企业数为薄弱；"
            "企业、项目按产业与产业链角色归入环节。"
        ),
        "definition_en": "A link with no resident firm is missing, with fewer than its "
        "min_firms weak; firms and projects sit on a link by industry and "
        "chain role.",
        "sql": SQL_LINKS.strip(),
    }


FILL_KEYS = (
    "chain_code",
    "chain_zh",
    "chain_en",
    "link_code",
    "link_zh",
    "link_en",
    "status",
    "status_zh",
)
# Stages where saying "this project would fill a link" still informs a decision.
OPEN_STAGES_SQL = "p.stage NOT IN ('operational', 'lost')"


def fill_text(t: dict[str, Any]) -> tuple[str, str]:
    """The sentence a card or a match result shows for one filled link (zh, en)."""
    en = t["link_en"][:1].lower() + t["link_en"][1:]
    if t["status"] == "missing":
        return f"补链：填补「{t['link_zh']}」环节", f"fills the missing link '{en}'"
    return f"强链：补强「{t['link_zh']}」薄弱环节", f"strengthens the weak link '{en}'"


def _fills(targets: list[dict[str, Any]], industry: str | None, role: str | None) -> list[Any]:
    out = []
    for t in targets:
        if role is None or industry != t["industry"] or role not in t["roles"]:
            continue
        f = {k: t[k] for k in FILL_KEYS}
        f["text_zh"], f["text_en"] = fill_text(t)
        out.append(f)
    return out


def _targets(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """:func:`chains`' target list, each target with its chain's industry."""
    found = chains(conn)
    industry = {c["code"]: c["industry"] for c in found["chains"]}
    return [dict(t, industry=industry[t["chain_code"]]) for t in found["targets"]]


def fills_for(
    conn: psycopg.Connection, industry: str | None, chain_role: str | None
) -> list[dict[str, Any]]:
    """The missing or weak links a project of ``industry`` in ``chain_role`` would fill (an
    ad-hoc requirement as well as a stored project); each with ``text_zh``/``text_en``."""
    return _fills(_targets(conn), industry, chain_role)


def fills_by_project(
    conn: psycopg.Connection, codes: list[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """:func:`fills_gap` for many projects at once (the pipeline board): code -> links, for
    the projects still in the pipeline (not operational, not lost); ``codes`` None: all."""
    targets = _targets(conn)
    found = rows(
        conn,
        f"""SELECT p.code, p.industry, p.chain_role FROM projects p
             WHERE {OPEN_STAGES_SQL} AND (%(codes)s::text[] IS NULL OR p.code = ANY(%(codes)s))""",
        {"codes": codes},
    )
    return {p["code"]: _fills(targets, p["industry"], p["chain_role"]) for p in found}


def fills_gap(conn: psycopg.Connection, project_code: str) -> list[dict[str, Any]]:
    """The missing or weak links ``project_code`` would fill (empty: none). For matching and
    the pipeline: "this project fills a missing link of 食品饮料及包装"."""
    p = rows(
        conn,
        "SELECT code, industry, chain_role FROM projects WHERE code = %(c)s",
        {"c": project_code},
    )
    if not p:
        raise NotFound(f"没有该项目 / no project {project_code!r}")
    return fills_for(conn, p[0]["industry"], p[0]["chain_role"])
