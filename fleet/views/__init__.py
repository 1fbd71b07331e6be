"""Dashboard views, one module per page: fleet, host, drift, inventory upload."""
