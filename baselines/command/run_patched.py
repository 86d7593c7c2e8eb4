"""Run a Python script with some of its assignments replaced. Written by a2bench's command adapter.

usage: python a2bench_run_patched.py SCRIPT [NAME=PYTHON_LITERAL ...] [-- SCRIPT_ARGUMENTS ...]

Official inference scripts often hard-code their inputs (a test list, the frame size, the seed) as
plain assignments. Every statement "NAME = value" in SCRIPT (one plain name on the left, at any depth)
whose NAME is given gets the literal instead; a NAME the script never assigns is an error, so a
changed upstream script fails loudly. SCRIPT then runs as __main__, with sys.argv = [SCRIPT, *ARGS]
and its own folder first on sys.path, as "python SCRIPT ARGS" would run it.
"""

# Stdlib only and Python 3.8-compatible: this file runs in the model's own environment, not in a2bench's.
# The command adapter (adapter.py) copies it into the batch folder as a2bench_run_patched.py for {run_patched};
# a2bench never imports it. The %-formatting stays: ruff targets the project's Python, not this file's.
# ruff: noqa: UP031

import ast
import os
import sys


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    script, rest = argv[0], argv[1:]
    if "--" in rest:
        cut = rest.index("--")
        pairs, arguments = rest[:cut], rest[cut + 1 :]
    else:
        pairs, arguments = rest, []
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.isidentifier():
            sys.stderr.write("a2bench_run_patched: %r is not NAME=PYTHON_LITERAL\n" % pair)
            return 2
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            sys.stderr.write("a2bench_run_patched: %s=%r is not a Python literal (%s)\n" % (name, text, exc))
            return 2
        overrides[name] = text
    with open(script, "rb") as handle:
        tree = ast.parse(handle.read(), filename=script)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        else:
            continue
        if isinstance(target, ast.Name) and target.id in overrides:
            node.value = ast.copy_location(ast.parse(overrides[target.id], mode="eval").body, node.value)
            found.add(target.id)
    missing = sorted(set(overrides) - found)
    if missing:
        sys.stderr.write("a2bench_run_patched: %s never assigns %s\n" % (script, ", ".join(missing)))
        return 2
    code = compile(ast.fix_missing_locations(tree), script, "exec")
    sys.argv = [script] + arguments
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    namespace = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__}
    exec(code, namespace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
