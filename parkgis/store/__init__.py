"""Queries and writes against the PostGIS store, one module per aggregate."""
