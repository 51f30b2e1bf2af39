#!/usr/bin/python3
"""Read an agent's stats file.

stats.py FILE get a.b.c          print one value (a path of keys)
stats.py FILE sum a.b [c.d ...]  print the sum of every number under the paths
                                 (missing paths count 0)
Exits 1 if the file cannot be read or parsed.
"""
import json, sys


def walk(d, path):
    for k in path.split(".") if path else []:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def total(v):
    if isinstance(v, bool):
        return 0
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, dict):
        return sum(total(x) for x in v.values())
    return 0


try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.stderr.write("stats: %s\n" % e)
    sys.exit(1)
if sys.argv[2] == "get":
    v = walk(d, sys.argv[3])
    print(json.dumps(v) if not isinstance(v, str) else v)
else:
    print(sum(total(walk(d, p)) for p in sys.argv[3:]))
