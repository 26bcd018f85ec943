"""ccpulse's monitoring, generated from one source: Prometheus recording and alert rules and
Grafana dashboards (`python -m ccpulse.monitoring` writes them under deploy/; `--check` fails
when the checked-in files differ from what this code generates)."""
