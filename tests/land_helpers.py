"""Shared set-up for the land-supply tests: a parcel under contract, on a chosen date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from parkgis.land import contracts
from parkgis.land.lifecycle import PARK_TZ, ActionParams, apply_action


def at(d: date, hour: int = 10) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=PARK_TZ)


def conn_to(url: str) -> psycopg.Connection:
    return psycopg.connect(url, row_factory=dict_row)


def under_contract(
    url: str,
    code: str,
    signed: date,
    agreed_start: date,
    price_wan: str = "1234.50",
    investment_wan: str = "20000",
) -> str:
    """List ``code`` (an admin's backfilled notice of 30 days before ``signed``) and sign its
    contract on ``signed``; returns the contract number."""
    no = f"HT-{code}"
    with conn_to(url) as conn:
        apply_action(
            conn,
            code,
            "list",
            ActionParams(
                project="PRJ-A",
                notice_start=signed - timedelta(days=30),
                notice_days=20,
                backfill=True,
            ),
            "boss",
            None,
            now=at(signed),
        )
        contracts.sign(
            conn,
            code,
            contracts.ContractParams(
                contract_no=no,
                price_wan=Decimal(price_wan),
                lease_years=50,
                agreed_start=agreed_start,
                agreed_completion=agreed_start + timedelta(days=730),
                promised_investment_wan=Decimal(investment_wan),
                project="PRJ-A",
            ),
            "plan",
            None,
            now=at(signed),
        )
    return no
