"""End-to-end tests: real `asktell serve` and `asktell worker` processes."""
