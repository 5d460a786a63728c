"""The data API over a warehouse on S3 (a real S3 API server on loopback): the same routes, the
same allow-list, rows read from Delta tables in a bucket."""

from __future__ import annotations

import pandas as pd
from fastapi.testclient import TestClient

from dq_platform.contract import load_contracts
from dq_platform.io.warehouse import Warehouse
from dq_platform.services.api import create_app
from dq_platform.services.sources import Sources


def test_gold_rows_and_row_counts_come_from_an_s3_warehouse(s3_bucket, instance):
    warehouse = Warehouse(root=f"s3://{s3_bucket}/warehouse")
    frame = pd.DataFrame(
        {"account_status": ["active", "inactive", "suspended"], "customers": [5, 3, 1], "mean_income": [1.0, 2.0, 3.0]}
    )
    warehouse.write("customers_by_status", frame, partition=None, run_id="s3-test")
    quarantined = pd.DataFrame({"first_name": ["raw value"], "_failed_rules": ["x"]})
    warehouse.write("quarantine_customers", quarantined, partition=None, run_id="s3-test")
    src = Sources(instance=instance, warehouse=warehouse, contracts={c.name: c for c in load_contracts()})
    client = TestClient(create_app(src, token=""))

    body = client.get("/tables/customers_by_status", params={"filter": "account_status:active,suspended"}).json()
    assert body["total"] == 2 and sorted(r["customers"] for r in body["rows"]) == [1, 5]
    listed = {t["name"]: t for t in client.get("/tables").json()}
    assert listed["customers_by_status"]["exists"] and listed["customers_by_status"]["rows"] == 3
    assert not listed["masked_customers"]["exists"]
    empty = client.get("/tables/masked_customers").json()  # declared, not written yet: an empty page
    assert empty["total"] == 0 and empty["rows"] == []
    refused = client.get("/tables/quarantine_customers")  # it is in the bucket, and still never served
    assert refused.status_code == 404 and "raw value" not in refused.text
