"""The live wallboard: a Starlette app serving the page, its Server-Sent Events stream and a
JSON API, fed by one Redis subscription (docs/wallboard.md)."""
