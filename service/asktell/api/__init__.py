"""The HTTP API: FastAPI app, routers and error mapping."""
