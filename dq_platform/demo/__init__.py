"""The demo and its data: sample-data generation from contracts (also used by tests and the benchmark),
`dq-platform demo`, the pull-source stand-ins (a replay server, an ERP database) and the event producer.
"""
