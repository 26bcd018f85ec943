"""Stream processing: the KPI core (`kpi`) and the Faust app and agents that drive it."""
