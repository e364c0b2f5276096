"""Database access: connections, the embedded cluster and migrations."""

from parkgis.db.connection import connect, database_url
from parkgis.db.migrate import migrate

__all__ = ["connect", "database_url", "migrate"]
