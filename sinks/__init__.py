"""Publishers of figures: Redis for wallboards, Prometheus for charts and alerts."""
