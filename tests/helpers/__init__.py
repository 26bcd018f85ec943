"""Helpers shared by the tests: the plumbing several test modules need (the property tests'
calendar and delivery orders, queue_log lines, simulator runs, the published docs and schemas
and `ccpulse report`). They build inputs and read outputs; the figures a test expects stay
written in the test."""
