"""Cadence pages: schedules, freeze periods, gates, and the partials other pages include."""
