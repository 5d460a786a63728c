"""The chunked data path: a file as a sequence of chunks, planned, processed in parallel, merged (no Dagster)."""
