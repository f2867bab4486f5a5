"""Validates OCSF records against the OCSF schema (PyPI `ocsf-json-schema`, whose JSON schemas are
built from the schema's own release files, checked with `jsonschema`). Usage: validate.py VERSION
FILE — one JSON record per line; prints each problem and exits 1 if any record fails."""
import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

version, path = sys.argv[1], sys.argv[2]
embedded = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
schemas = {}
bad = 0
n = 0
for line in open(path, encoding="utf-8"):
    if not line.strip():
        continue
    n += 1
    record = json.loads(line)
    uid = record.get("class_uid")
    if uid not in schemas:
        schemas[uid] = embedded.get_class_schema(embedded.lookup_class_name_from_uid(uid))
    validator = jsonschema.Draft202012Validator(schemas[uid])
    for err in validator.iter_errors(record):
        bad += 1
        print(f"record {n}: {'/'.join(map(str, err.path))}: {err.message}")
print(f"{n} records, {bad} problems")
sys.exit(1 if bad or n == 0 else 0)
