"""The chunked data path: a file's layers computed chunk by chunk on every core or a Dask cluster."""
