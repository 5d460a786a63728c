"""Alerts: what an alert is and who hears it (policy.py), how it is delivered (channels.py: console,
Slack, email, PagerDuty, webhook), and the sensors that read Dagster's event log to raise, remind
and resolve incidents (sensors.py).
"""
