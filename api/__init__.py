"""The cnncalc HTTP service (FastAPI)."""
