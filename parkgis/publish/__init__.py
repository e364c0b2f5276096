"""Publishing: outputs that leave the app (the static public map as PMTiles)."""
