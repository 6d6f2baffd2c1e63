"""Build a googleapiclient service from a keepfed discovery document and
report the HTTP requests the Arvados Python SDK's calls would make.

Usage: python3 googleapiclient_check.py DOCUMENT.json

Prints one JSON object: {"requests": {name: {...}}, "errors": {name: msg}}.
Nothing is sent anywhere: request objects are built, never executed.
The Python SDK's own patch (arrays and objects go on the wire as JSON) is
applied here too, as arvados/api.py applies it.
"""
import json
import sys
import urllib.parse

import httplib2
from googleapiclient import discovery

_orig_cast = discovery._cast


def _cast_like_arvados(value, schema_type):
    if not isinstance(value, (str, bytes)) and schema_type in ("object", "array"):
        return json.dumps(value)
    return _orig_cast(value, schema_type)


discovery._cast = _cast_like_arvados

PDH = "d41d8cd98f00b204e9800998ecf8427e+0"
UUID = "zzzzz-4zz18-0123456789abcde"
PROJECT = "zzzzz-j7d0g-0123456789abcde"

# (name, resource, method, kwargs): calls shaped like the SDK's own.
CALLS = [
    ("collections.list", "collections", "list", dict(
        filters=[["name", "=", "x"]], limit=10, offset=0, order=["uuid asc"],
        select=["uuid", "name"], count="none", include_trash=True,
        include_old_versions=False, cluster_id="zzzzz", bypass_federation=True,
        distinct=False, where={"name": "x"})),
    ("collections.get.pdh", "collections", "get", dict(uuid=PDH)),
    ("collections.get", "collections", "get", dict(uuid=UUID, select=["manifest_text"], include_trash=True)),
    ("collections.create", "collections", "create", dict(
        body={"collection": {"name": "x", "manifest_text": ""}}, ensure_unique_name=True,
        replace_files={"/a": PDH + "/a"})),
    ("collections.update", "collections", "update", dict(uuid=UUID, body={"collection": {"name": "y"}})),
    ("collections.delete", "collections", "delete", dict(uuid=UUID)),
    ("groups.contents", "groups", "contents", dict(
        uuid=PROJECT, recursive=True, include=["owner_uuid"], exclude_home_project=True,
        filters=[["uuid", "is_a", "arvados#collection"]], limit=1000, count="none", order="uuid")),
    ("groups.create", "groups", "create", dict(body={"group": {"name": "p", "group_class": "project"}})),
    ("users.current", "users", "current", {}),
    ("api_client_authorizations.current", "api_client_authorizations", "current", {}),
    ("keep_services.accessible", "keep_services", "accessible", {}),
    ("links.list", "links", "list", dict(filters=[], limit=1, select=["uuid"], distinct=True)),
    ("workflows.update", "workflows", "update", dict(uuid="zzzzz-7fd4e-0123456789abcde", body={"workflow": {}})),
    ("configs.get", "configs", "get", {}),
    ("vocabularies.get", "vocabularies", "get", {}),
]

# Calls googleapiclient must refuse before sending anything.
REFUSED = [
    ("collections.get.no_uuid", "collections", "get", {}),
    ("collections.create.no_body", "collections", "create", {}),
    ("collections.list.unknown", "collections", "list", dict(bogus=1)),
]


def main():
    with open(sys.argv[1], "rb") as f:
        doc = f.read()
    svc = discovery.build_from_document(doc, http=httplib2.Http())
    out = {"requests": {}, "errors": {}, "refused": {}, "methods": []}

    # Instantiating a resource builds every method's docstring, which
    # resolves each $ref: a broken schema shows up here.
    for rname, rdesc in sorted(json.loads(doc)["resources"].items()):
        try:
            res = getattr(svc, rname)()
            for mname in sorted(rdesc["methods"]):
                getattr(res, mname)
                out["methods"].append(rname + "." + mname)
        except Exception as e:  # noqa: BLE001 - report anything
            out["errors"][rname] = "%s: %s" % (type(e).__name__, e)

    for name, rname, mname, kwargs in CALLS:
        try:
            req = getattr(getattr(svc, rname)(), mname)(**kwargs)
        except Exception as e:  # noqa: BLE001
            out["errors"][name] = "%s: %s" % (type(e).__name__, e)
            continue
        u = urllib.parse.urlsplit(req.uri)
        body = req.body
        if isinstance(body, bytes):
            body = body.decode()
        out["requests"][name] = {
            "method": req.method,
            "path": u.path,
            "query": dict(urllib.parse.parse_qsl(u.query)),
            "body": json.loads(body) if body else None,
            "raw_response": type(getattr(req.postproc, "__self__", None)).__name__ == "RawModel",
        }

    for name, rname, mname, kwargs in REFUSED:
        try:
            getattr(getattr(svc, rname)(), mname)(**kwargs)
            out["refused"][name] = ""
        except TypeError as e:
            out["refused"][name] = str(e)

    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
