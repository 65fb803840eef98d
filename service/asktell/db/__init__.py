"""Storage: ORM rows, transactions, queries and the job queue."""
