"""Prometheus metrics for the fleet and the reboot engine, computed from the database per scrape."""
