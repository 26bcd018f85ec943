"""Helpers shared by the tests: the plumbing several test modules need (calendars and delivery
orders of the property tests, queue_log lines, simulator runs, the `ccpulse` command). They
build inputs and read outputs; the figures a test expects stay written in the test."""
