"""The Feast SDK, unchanged, against this server: a `feast.FeatureStore` whose online store is
`type: remote` at the server's URL, with a local registry mirroring `GET /api/registry`.

Reads several feature lists for entity rows (some missing) through `get_online_features` and
compares the values and statuses with what `/api/read` answers for the same entities; reads the
feature service `fraud_model`, across the user and merchant entities, with
`get_feature_service` (the SDK asks view by view) and compares it with the server's own answer
for the service by name; then pushes rows through `POST /push` and reads them back through the SDK; then runs the `feast
materialize` CLI over a window (which Feast 0.67 sends to the server's `/materialize`: the
server reads its own registry's source, the Parquet file this script wrote first) and checks
that exactly the latest row per entity inside the window is served, ties broken by `created`;
then writes through `store.write_to_online_store`; then materializes the next window in the
background (`run_async=True`) and waits for its end in `/api/state`; then reads a view the server does not define and
expects the SDK to raise FeatureViewNotFoundException, as against `feast serve`. Exits non-zero
on the first difference.

Usage: python client.py --write-source DIR   (before the server starts: the batch view's rows
                                            as DIR/user_batch.parquet, and DIR/features.toml,
                                            the repository's registry naming it as the source)
       python client.py http://127.0.0.1:PORT DIR
"""

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.errors import FeatureViewNotFoundException
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.types import Bool, Float64, Int64, String

TYPES = {"string": String, "int": Int64, "float": Float64, "bool": Bool, "timestamp": Int64}
# A value of each type, for the columns a row of the batch view must carry.
SAMPLES = {"string": "x", "int": 1, "float": 1.5, "bool": True, "timestamp": 1764115200000}


# The rows of the batch view's Parquet file: (entity, event time, created, risk_segment), hours
# before `now`, the time the file was written. Inside the window [now - 4 h, now - 1 h] the
# latest event wins and the later `created` breaks a tie; u9003's newest row and all of u9004's
# lie after the window's end.
def rows(now):
    return [
        ("u9001", now - timedelta(hours=3), now, "low"),
        ("u9001", now - timedelta(hours=2), now, "high"),
        ("u9002", now - timedelta(hours=2), now, "low"),
        ("u9002", now - timedelta(hours=2), now - timedelta(minutes=5), "medium"),
        ("u9003", now - timedelta(hours=2), now, "high"),
        ("u9003", now - timedelta(minutes=10), now, "low"),
        ("u9004", now - timedelta(minutes=10), now, "medium"),
    ]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def feature_store(base, registry, repo, source_dir):
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
    entities = {
        e["name"]: Entity(name=e["name"], join_keys=[e["join_key"]], value_type=ValueType.STRING)
        for e in registry["entities"]
    }
    entity = entities[registry["entities"][0]["name"]]
    # The batch view's offline source, which `feast materialize` reads; the others are never
    # read (the online store is the server): a source is only what a view must name.
    source = FileSource(path=str(repo / "unused.parquet"), timestamp_field="event_timestamp")
    batch_source = FileSource(
        path=str(source_dir / "user_batch.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    views = [
        FeatureView(
            name=view["name"],
            entities=[entities[view["entity"]]],
            ttl=timedelta(seconds=view["ttl_seconds"]),
            schema=[Field(name=f["name"], dtype=TYPES[f["type"]]) for f in view["features"]],
            source=batch_source if view["name"] == "user_batch" else source,
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
    # The server's feature services, each a FeatureService of view projections.
    by_name = {view.name: view for view in views}
    services = []
    for service in registry["services"]:
        projections = {}
        for reference in service["features"]:
            view, feature = reference.split(":")
            projections.setdefault(view, []).append(feature)
        features = [by_name[view][names] for view, names in projections.items()]
        services.append(FeatureService(name=service["name"], features=features))
    store.apply([*entities.values(), *views, retired, *services])
    return store


def batch_rows(registry, join_key, rows):
    """Rows of the batch view, (entity, event time, created, risk_segment) each, as a DataFrame
    with every feature of the view (the others set to a sample of their type)."""
    (view,) = [v for v in registry["views"] if v["name"] == "user_batch"]
    columns = {join_key: [row[0] for row in rows]}
    for feature in view["features"]:
        columns[feature["name"]] = [SAMPLES[feature["type"]]] * len(rows)
    columns["risk_segment"] = [row[3] for row in rows]
    columns["event_timestamp"] = pd.to_datetime([row[1] for row in rows], utc=True)
    columns["created"] = pd.to_datetime([row[2] for row in rows], utc=True)
    return pd.DataFrame(columns)


def write_source(directory):
    """The batch view's rows as Parquet, and a registry naming the file as the view's source."""
    directory = Path(directory)
    root = Path(__file__).resolve().parents[2]
    registry = root / "features.toml"
    text = registry.read_text()
    view = 'name = "user_batch"\n'
    source = 'source = { path = "user_batch.parquet", created_column = "created" }\n'
    (directory / "features.toml").write_text(text.replace(view, view + source, 1))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    registry = {"views": [{"name": "user_batch", "features": batch_features_of(text)}]}
    batch_rows(registry, "user_id", rows(now)).to_parquet(directory / "user_batch.parquet")


def batch_features_of(text):
    """The batch view's features as the registry file lists them (name and type)."""
    import tomllib

    (view,) = [v for v in tomllib.loads(text)["views"] if v["name"] == "user_batch"]
    return [{"name": f["name"], "type": f["type"]} for f in view["features"]]


def materialize(base, registry, store, repo, join_key, source_dir):
    """`feast materialize` (the CLI) over the window, then what the SDK and /api/read serve;
    then a row written with `write_to_online_store`."""
    now = pd.read_parquet(source_dir / "user_batch.parquet")["created"].max().to_pydatetime()
    start, end = now - timedelta(hours=4), now - timedelta(hours=1)
    feast = Path(sys.executable).parent / "feast"
    window = [start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")]
    command = [str(feast), "-c", str(repo), "materialize", *window, "--views", "user_batch"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"FAIL feast materialize: {done.stdout}{done.stderr}")
    print(f"ok   {' '.join(command[1:])}")
    latest = {"u9001": "high", "u9002": "low", "u9003": "high", "u9004": None}
    ids = list(latest)
    got = store.get_online_features(
        features=["user_batch:risk_segment"], entity_rows=[{join_key: e} for e in ids]
    ).to_dict()
    print(f"     get_online_features(['user_batch:risk_segment'], {ids}) -> {json.dumps(got)}")
    expect("the latest row per entity in the window", got["risk_segment"], list(latest.values()))
    compare(base, store, join_key, ["user_batch:risk_segment", "user_batch:tx_count_7d"], ids)

    written = batch_rows(registry, join_key, [("u9005", now, now, "medium")])
    store.write_to_online_store("user_batch", written)
    got = store.get_online_features(
        features=["user_batch:risk_segment"], entity_rows=[{join_key: "u9005"}]
    ).to_dict()
    expect("a row written with write_to_online_store", got["risk_segment"], ["medium"])

    # The window after it, in the background (`run_async=True`, which sends `?async=true`): the
    # SDK returns once the server accepts, the run's end shows in `/api/state`.
    store.materialize(end, now, feature_views=["user_batch"], run_async=True)
    print("ok   materialize(..., run_async=True) accepted")
    deadline = time.monotonic() + 60
    while not (run := call(base, "GET", "/api/state")["materializations"][0])["finished_unix_ms"]:
        if time.monotonic() > deadline:
            sys.exit(f"FAIL the background materialization did not end: {run}")
        time.sleep(0.05)
    expect("the background run, ended without error", (run["background"], run["error"]), (True, None))
    latest = {"u9003": "low", "u9004": "medium"}
    got = store.get_online_features(
        features=["user_batch:risk_segment"], entity_rows=[{join_key: e} for e in latest]
    ).to_dict()
    expect("the latest rows of the background window", got["risk_segment"], list(latest.values()))


def service(base, store, registry):
    """A feature service across both entities, read by the SDK (which asks the server view by
    view, each with its own entity's ids) and by name in one request to the server: the same
    values and statuses, row by row, with NOT_FOUND only where an entity is absent."""
    (fraud,) = [s for s in registry["services"] if s["name"] == "fraud_model"]
    rows = [
        {"user_id": "u0001", "merchant_id": "m0001"},
        {"user_id": "ghost", "merchant_id": "m0002"},
        {"user_id": "u0003", "merchant_id": "ghost"},
    ]
    response = store.get_online_features(
        features=store.get_feature_service("fraud_model"), entity_rows=rows
    )
    got = response.to_dict()
    statuses = {
        name: [FieldStatus.Name(s) for s in result.statuses]
        for name, result in zip(response.proto.metadata.feature_names.val, response.proto.results)
    }
    print(f"     get_online_features(fraud_model, {rows}) -> {json.dumps(got)}")
    columns = {key: [row[key] for row in rows] for key in ("user_id", "merchant_id")}
    ours = call(base, "POST", "/get-online-features", {"features": "fraud_model", "entities": columns})
    names = ours["metadata"]["feature_names"]
    expect("the join keys first, then the service's features", names, ["user_id", "merchant_id"] + [r.split(":")[1] for r in fraud["features"]])
    for name, result in zip(names, ours["results"]):
        expect(f"fraud_model {name}", got[name], result["values"])
        if name not in columns:
            expect(f"fraud_model {name} statuses", statuses[name], result["statuses"])
    merchant = [r.split(":")[1] for r in fraud["features"] if r.startswith("merchant")]
    user = [r.split(":")[1] for r in fraud["features"] if r.startswith("user")]
    expect("a ghost merchant's features", [got[n][2] for n in merchant], [None] * len(merchant))
    expect("a ghost user's features", [got[n][1] for n in user], [None] * len(user))
    expect("a stored merchant's batch features", all(got[n][0] is not None for n in merchant if n != "declines_5m"), True)


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
    if sys.argv[1] == "--write-source":
        write_source(sys.argv[2])
        return
    base = sys.argv[1].rstrip("/")
    source_dir = Path(sys.argv[2])
    registry = call(base, "GET", "/api/registry")
    join_key = registry["entities"][0]["join_key"]
    with tempfile.TemporaryDirectory() as repo:
        store = feature_store(base, registry, Path(repo), source_dir)
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
        service(base, store, registry)
        materialize(base, registry, store, Path(repo), join_key, source_dir)
        try:
            store.get_online_features(features=["retired_view:gone"], entity_rows=[{join_key: "u0001"}])
            sys.exit("FAIL a view the server does not define was read")
        except FeatureViewNotFoundException as error:
            print(f"ok   a view the server does not define raises FeatureViewNotFoundException: {error}")
    print("the Feast SDK agrees with /api/read")


if __name__ == "__main__":
    main()
