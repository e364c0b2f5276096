"""Where a project fits: availability search, fit, footprint, assembly."""
