# Validates every Kubernetes manifest under deploy/k8s against the strict
# Kubernetes v1.32 JSON schemas (draft 7), one schema file per kind:
#   /usr/bin/python3 deploy/check-manifests.py SCHEMA_DIR FILE...
# Needs Debian's python3-yaml and python3-jsonschema.  Prints one line per
# document and exits 1 when one does not validate.  A Kustomization is not a
# Kubernetes object and has no schema there: it is parsed and skipped.
import json
import os
import sys

import jsonschema
import yaml


def schema_file(schema_dir, doc):
    kind = doc["kind"].lower()
    api = doc["apiVersion"]
    group, _, version = api.rpartition("/")
    name = "%s-%s-%s.json" % (kind, group.split(".")[0], version) if group else "%s-%s.json" % (kind, version)
    return os.path.join(schema_dir, name)


def main():
    schema_dir, files = sys.argv[1], sys.argv[2:]
    bad = 0
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for doc in docs:
            what = "%s %s/%s" % (path, doc.get("kind"), doc.get("metadata", {}).get("name", "-"))
            if doc.get("kind") == "Kustomization":
                print("skip  %s (kustomize's own file, no Kubernetes schema)" % what)
                continue
            sf = schema_file(schema_dir, doc)
            if not os.path.exists(sf):
                print("FAIL  %s: no schema %s" % (what, os.path.basename(sf)))
                bad += 1
                continue
            with open(sf) as f:
                schema = json.load(f)
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
            if errors:
                bad += 1
                for e in errors:
                    loc = "/".join(str(p) for p in e.absolute_path)
                    print("FAIL  %s at %s: %s" % (what, loc or "(top)", e.message))
            else:
                print("ok    %s (%s)" % (what, os.path.basename(sf)))
    sys.exit(1 if bad else 0)


main()
