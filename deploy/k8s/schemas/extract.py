#!/usr/bin/env python3
"""Regenerate the Kubernetes JSON schemas kubeconform reads offline.

The schemas come from the PyPI package kubernetes-validate (Apache-2.0),
which bundles JSON schemas generated from the Kubernetes OpenAPI document:

    pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv
    unzip -q /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl -d /tmp/kv/x
    python3 deploy/k8s/schemas/extract.py \
        /tmp/kv/x/kubernetes_validate/kubernetes-json-schema/v1.37.0-local-strict

It copies the per-kind files our manifests use and writes _definitions.json
with only the definitions those kinds reach (the full file is 1.8 MB). The
upstream files carry an https $id and refs relative to it
("/api/_definitions.json#/$defs/..."), which a validator would fetch over
the network; the copies drop the $id and refer to the local file instead
("_definitions.json#/$defs/..."). Nothing else changes.
"""
import json
import os
import sys

KINDS = [
    "deployment-apps-v1.json",
    "service-v1.json",
    "configmap-v1.json",
    "serviceaccount-v1.json",
    "poddisruptionbudget-policy-v1.json",
]
# Referenced by scaledobject-keda-v1alpha1.json (written for unpair).
EXTRA = ["io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior"]
UPSTREAM_REF = "/api/_definitions.json#/$defs/"
LOCAL_REF = "_definitions.json#/$defs/"


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str):
            out.add(r[r.index("#/$defs/") + len("#/$defs/"):])
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(src):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(src, "_definitions.json")) as f:
        upstream = json.load(f)
    defs = upstream["$defs"]
    todo = set(EXTRA)
    for k in KINDS:
        with open(os.path.join(src, k)) as f:
            text = f.read()
        schema = json.loads(text.replace(UPSTREAM_REF, LOCAL_REF))
        schema.pop("$id", None)
        with open(os.path.join(here, k), "w") as f:
            json.dump(schema, f, indent=2)
            f.write("\n")
        refs(schema, todo)
    keep = {}
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep[name] = defs[name]
        found = set()
        refs(defs[name], found)
        todo |= found - keep.keys()
    with open(os.path.join(here, "_definitions.json"), "w") as f:
        json.dump({"$schema": upstream["$schema"], "$defs": dict(sorted(keep.items()))}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(KINDS)} kinds, {len(keep)} of {len(defs)} definitions kept")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
