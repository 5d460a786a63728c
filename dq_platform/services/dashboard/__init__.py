"""The stakeholder dashboard (Streamlit): a pipeline-health page and business pages from the gold
and semantic tables. `app.py` is the script `dq-platform dashboard` runs; `views` renders each
page; `data` reads (cached) through `services.records`, the same answers the data API gives.
"""
