"""FastAPI: the JSON API, the server-rendered pages and the one error-to-HTTP mapping."""
