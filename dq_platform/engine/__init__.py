"""Pure data work on pandas/Arrow, no Dagster: typing and cleaning, row rules, masking, PII detection,
profiling, statistics, history and anomaly judgements, aggregates, models and the semantic layer,
the pandera and Great Expectations gates.
"""
