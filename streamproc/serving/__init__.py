"""Model serving: the pure scoring core, the thin Ray Serve deployment, the app builder."""
