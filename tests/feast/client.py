"""The Feast SDK, unchanged, against this server: a `feast.FeatureStore` whose online store is
`type: remote` at the server's URL, with a local registry mirroring `GET /api/registry`.

Reads several feature lists for entity rows (some missing) through `get_online_features` and
compares the values and statuses with what `/api/read` answers for the same entities; then
pushes rows through `POST /push` and reads them back through the SDK; then reads a view the
server does not define and expects the SDK to raise FeatureViewNotFoundException, as against
`feast serve`. Exits non-zero on the first difference.

Usage: python client.py http://127.0.0.1:PORT
"""

import json
import sys
import tempfile
import urllib.request
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.errors import FeatureViewNotFoundException
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.types import Bool, Float64, Int64, String

TYPES = {"string": String, "int": Int64, "float": Float64, "bool": Bool, "timestamp": Int64}


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def feature_store(base, registry, repo):
    (repo / "feature_store.yaml").write_text(
        "project: feature_store_client\n"
        f"registry: {repo / 'registry.db'}\n"
        "provider: local\n"
        "online_store:\n"
        "  type: remote\n"
        f"  path: {base}\n"
        "entity_key_serialization_version: 3\n"
    )
    store = FeatureStore(repo_path=str(repo))
    entity = Entity(
        name=registry["entity"]["name"],
        join_keys=[registry["entity"]["join_key"]],
        value_type=ValueType.STRING,
    )
    # Never read: the online store is the server; a source is only what a view must name.
    source = FileSource(path=str(repo / "unused.parquet"), timestamp_field="event_timestamp")
    views = [
        FeatureView(
            name=view["name"],
            entities=[entity],
            ttl=timedelta(seconds=view["ttl_seconds"]),
            schema=[Field(name=f["name"], dtype=TYPES[f["type"]]) for f in view["features"]],
            source=source,
            online=True,
        )
        for view in registry["views"]
    ]
    # Known to this client only, as after the server's registry dropped it.
    retired = FeatureView(
        name="retired_view",
        entities=[entity],
        ttl=timedelta(seconds=60),
        schema=[Field(name="gone", dtype=Int64)],
        source=source,
        online=True,
    )
    store.apply([entity, *views, retired])
    return store


def expect(what, got, wanted):
    if got != wanted:
        sys.exit(f"FAIL {what}: the SDK got {got!r}, /api/read says {wanted!r}")
    print(f"ok   {what}")


def compare(base, store, join_key, refs, ids):
    response = store.get_online_features(
        features=refs, entity_rows=[{join_key: entity} for entity in ids]
    )
    got = response.to_dict()
    statuses = {
        name: [FieldStatus.Name(s) for s in result.statuses]
        for name, result in zip(response.proto.metadata.feature_names.val, response.proto.results)
    }
    names = [ref.split(":")[1] for ref in refs]
    print(f"     get_online_features({refs}, {ids}) -> {json.dumps(got)}")
    expect(f"{join_key} column", got[join_key], ids)
    for at, entity in enumerate(ids):
        read = call(base, "POST", "/api/read", {"user": entity, "fields": names})
        for field in read["fields"]:
            name = field["name"]
            expect(f"{entity} {name}", got[name][at], field["typed"])
            wanted = "PRESENT" if field["typed"] is not None else "NOT_FOUND"
            expect(f"{entity} {name} status", statuses[name][at], wanted)


def main():
    base = sys.argv[1].rstrip("/")
    registry = call(base, "GET", "/api/registry")
    join_key = registry["entity"]["join_key"]
    with tempfile.TemporaryDirectory() as repo:
        store = feature_store(base, registry, Path(repo))
        compare(base, store, join_key, ["user_batch:risk_segment", "user_batch:tx_count_7d"], ["u0001", "u0002"])
        compare(
            base,
            store,
            join_key,
            ["user_batch:avg_amount_30d", "user_stream:tx_count_5m", "user_batch:country_iso"],
            ["u0003", "ghost", "u0004"],
        )

        pushed = call(
            base,
            "POST",
            "/push",
            {
                "push_source_name": "user_stream_push",
                "df": {
                    join_key: ["u0005", "u0006"],
                    "last_login_ts": [1764115200000, 1764115201000],
                    "last_device_id": ["ios-1a4c", "web-ff-2"],
                    "tx_count_5m": [7, 0],
                    "failed_logins_15m": [1, 5],
                    "session_country": ["NL", "BR"],
                },
                "to": "online",
            },
        )
        print(f"     POST /push -> {json.dumps(pushed)}")
        expect("rows pushed", pushed["written"], 2)
        refs = ["user_stream:tx_count_5m", "user_stream:session_country", "user_stream:last_login_ts"]
        got = store.get_online_features(
            features=refs, entity_rows=[{join_key: "u0005"}, {join_key: "u0006"}]
        ).to_dict()
        print(f"     get_online_features({refs}) -> {json.dumps(got)}")
        expect("pushed tx_count_5m", got["tx_count_5m"], [7, 0])
        expect("pushed session_country", got["session_country"], ["NL", "BR"])
        expect("pushed last_login_ts", got["last_login_ts"], [1764115200000, 1764115201000])
        compare(base, store, join_key, refs, ["u0005", "u0006"])
        try:
            store.get_online_features(features=["retired_view:gone"], entity_rows=[{join_key: "u0001"}])
            sys.exit("FAIL a view the server does not define was read")
        except FeatureViewNotFoundException as error:
            print(f"ok   a view the server does not define raises FeatureViewNotFoundException: {error}")
    print("the Feast SDK agrees with /api/read")


if __name__ == "__main__":
    main()
