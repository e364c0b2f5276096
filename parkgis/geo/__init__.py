"""Geodata in and out of files: formats, CRS, GCJ-02, terrain rasters."""
