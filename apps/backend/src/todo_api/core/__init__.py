"""Cross-cutting foundations every other layer may import: settings, the database engine,
password hashing and tokens, logging. Nothing in here imports the API, the services or the
assistant."""
