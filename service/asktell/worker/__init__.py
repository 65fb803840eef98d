"""Strategy workers: lease suggestion jobs and write their trials."""
