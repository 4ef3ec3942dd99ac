"""Live sources over HTTP (filled in by the live-sources issue)."""
