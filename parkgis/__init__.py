"""ParkGIS: land availability, infrastructure and project fit for industrial parks.

The domain core. Everything here works from a Python shell or the ``parkgis`` CLI
without the web server; ``api/`` and ``web/`` depend on this package, never the reverse.
"""

__version__ = "0.1.0"
