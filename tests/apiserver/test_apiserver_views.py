"""Response shapes: ages in any local timezone, and the Tables of built-in kinds."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
AGE_OF_THREE_HOURS = """
from datetime import UTC, datetime, timedelta
from kes_emulators.apiserver.views import human_age
created = datetime.now(UTC) - timedelta(hours=3, minutes=30)
print(human_age(created.strftime("%Y-%m-%dT%H:%M:%SZ")))
"""


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_ages_read_timestamps_as_utc_whatever_the_local_timezone(zone: str) -> None:
    result = subprocess.run([sys.executable, "-c", AGE_OF_THREE_HOURS], capture_output=True,
                            text=True, timeout=60, check=True, env=dict(os.environ, TZ=zone))
    assert result.stdout.strip() == "3h"


async def test_event_lease_and_crd_tables_have_the_real_columns(
        http: Any, widget_crd: Any) -> None:
    await http.post("/api/v1/namespaces/default/events", {
        "metadata": {"name": "e1"}, "involvedObject": {"kind": "Secret", "name": "s"},
        "reason": "Synced", "message": " done ", "type": "Normal", "count": 1,
        "source": {"component": "kes"}})
    status, table = await http.get("/api/v1/namespaces/default/events",
                                   headers={"Accept": TABLE})
    assert status == 200
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1),
        ("Source", 1), ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]
    assert table["rows"][0]["cells"][1:] == ["Normal", "Synced", "secret/s", "", "kes", "done",
                                             "<unknown>", 1, "e1"]
    await http.post("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                    {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})
    _, table = await http.get("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                              headers={"Accept": TABLE})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Holder", "Age"]
    assert table["rows"][0]["cells"][:2] == ["l", "me"]
    _, crd = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                             widget_crd)
    _, table = await http.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                              "widgets.example.com", headers={"Accept": TABLE})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["widgets.example.com",
                                         crd["metadata"]["creationTimestamp"]]
