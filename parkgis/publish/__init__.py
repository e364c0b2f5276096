"""What people see: tiles, OGC API, maps, the parcel sheet, briefs, exports, labels."""
