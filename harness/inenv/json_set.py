"""Set one value in a JSON file: `python json_set.py FILE DOTTED.KEY VALUE`.

A set-up step for services declared in matrix.toml (for example, the
command in a work pool's job template). Missing objects on the way are
created. Stdlib only, Python 3.7 syntax: it runs in every env.
"""
import json
import sys


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: python json_set.py FILE DOTTED.KEY VALUE\n")
        return 2
    path, dotted, value = argv
    with open(path) as handle:
        document = json.load(handle)
    node = document
    keys = dotted.split(".")
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            sys.stderr.write("%s: %s is not an object, cannot set %s\n" % (path, key, dotted))
            return 1
        node = child
    node[keys[-1]] = value
    with open(path, "w") as handle:
        json.dump(document, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
