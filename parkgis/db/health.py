"""The readiness query behind ``/healthz`` (SQL stays in the core)."""

HEALTH_SQL = """
SELECT current_database() AS database,
       postgis_lib_version() AS postgis,
       current_setting('server_version') AS postgres,
       (SELECT count(*) FROM parcels) AS parcels,
       (SELECT max(version) FROM schema_migrations) AS schema
"""
