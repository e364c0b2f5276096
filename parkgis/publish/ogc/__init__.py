"""OGC API – Features for the public collections: CQL2 filtering, CRS handling, item queries.

``cql2`` turns CQL2 text into parameterised SQL over the public-collection registry;
``crs`` knows the coordinate reference systems we serve; ``features`` runs item queries.
"""
