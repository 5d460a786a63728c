"""Operations on the persistent instance: read the audit log, prune it, and the run launcher the
daemon uses. (Running a file now is defs/file_runs.py: a batch run needs it too.)
"""
