"""Getting data in and out: source files (identity, archive, parsing), landing zones (local or S3), the
Delta warehouse, HTTP and SQL pull sources, PostgreSQL publishing, S3 plumbing.
"""
