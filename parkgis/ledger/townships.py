"""The townships' investment leaderboard (乡镇招商督导考核).

Per township (reference data in ``townships``, with sources): leads sourced (pipeline projects
naming it as source), projects signed (stage signed or later, not lost), investment signed
(万元), land supplied to its projects (mu: their live parcels allocated, under construction or
operational), and for fostered projects (项目寄养) its tax share in 万元 per year = the
project's expected annual tax × the agreed share.
"""

from __future__ import annotations

from typing import Any

import psycopg

from parkgis.ledger.common import SUPPLIED, mu, rows

DEFINITION_ZH = (
    "线索数：来源乡镇为该乡镇的项目数；签约：已签约及以后阶段（不含流失）；"
    "签约投资：其投资额之和（万元）；供地：其项目已出让、在建、投产地块面积（亩）；"
    "寄养税收分成：寄养项目预计年税收 × 约定分成比例（万元/年）。"
)
DEFINITION_EN = (
    "Leads: projects naming the township as source; signed: stage signed or later "
    "(not lost); investment signed (10k CNY); land supplied to its projects (mu); "
    "fostered tax share = a fostered project's expected annual tax × the agreed "
    "share (10k CNY/yr)."
)

SIGNED = ("signed", "land_supplied", "under_construction", "operational")

SQL_LEADERBOARD = """
WITH t AS (
  SELECT name_zh, name_en, kind, stats_code, source, geom IS NOT NULL AS has_geom, true AS listed
    FROM townships
  UNION ALL
  SELECT DISTINCT p.source_township, p.source_township, 'unlisted', NULL, NULL, false, false
    FROM projects p
   WHERE p.source_township IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM townships w WHERE w.name_zh = p.source_township))
SELECT t.*,
       (SELECT count(*) FROM projects p WHERE p.source_township = t.name_zh) AS leads,
       (SELECT count(*) FROM projects p WHERE p.source_township = t.name_zh
           AND p.stage = ANY(%(signed)s)) AS signed,
       (SELECT coalesce(sum(p.investment_wan), 0) FROM projects p
         WHERE p.source_township = t.name_zh AND p.stage = ANY(%(signed)s)) AS investment_wan,
       (SELECT coalesce(sum(l.area_m2), 0) FROM parcels l JOIN projects p ON p.code = l.project_code
         WHERE p.source_township = t.name_zh AND l.status = ANY(%(supplied)s)) AS land_m2,
       (SELECT coalesce(sum(p.expected_tax_wan * p.township_tax_share), 0) FROM projects p
         WHERE p.source_township = t.name_zh AND p.fostered
           AND p.stage <> 'lost') AS fostered_tax_wan,
       (SELECT count(*) FROM projects p WHERE p.source_township = t.name_zh AND p.fostered
           AND p.stage <> 'lost') AS fostered
  FROM t"""


def leaderboard(conn: psycopg.Connection) -> dict[str, Any]:
    found = rows(conn, SQL_LEADERBOARD, {"signed": list(SIGNED), "supplied": list(SUPPLIED)})
    table = [
        {
            "name_zh": r["name_zh"],
            "name_en": r["name_en"],
            "kind": r["kind"],
            "stats_code": r["stats_code"],
            "source": r["source"],
            "listed": r["listed"],
            "has_geometry": r["has_geom"],
            "leads": r["leads"],
            "signed": r["signed"],
            "investment_wan": float(r["investment_wan"]),
            "land_mu": mu(r["land_m2"]),
            "fostered": r["fostered"],
            "fostered_tax_wan": float(r["fostered_tax_wan"]),
        }
        for r in found
    ]
    table.sort(key=lambda t: (-t["investment_wan"], -t["signed"], -t["leads"], t["name_zh"]))
    for i, t in enumerate(table, start=1):
        t["rank"] = i
    return {
        "townships": table,
        "definition_zh": DEFINITION_ZH,
        "definition_en": DEFINITION_EN,
        "sql": SQL_LEADERBOARD.strip(),
    }
