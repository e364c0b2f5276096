"""What people see: tiles, OGC API, maps, the parcel sheet, briefs, reports, exports, labels,
and the static public map as PMTiles (``publish.pmtiles``)."""
