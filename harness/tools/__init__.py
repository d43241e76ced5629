"""PostgreSQL client tools: where the binaries are, the assembled build, dump headers."""
