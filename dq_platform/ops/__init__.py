"""Operations the command line runs on the persistent instance: ingest a file now, read the audit log,
prune it.
"""
