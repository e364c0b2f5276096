"""Import and export of vector files: formats, CRS and GCJ-02 handling, the loader."""
