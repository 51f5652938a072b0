#!/usr/bin/env python3
"""The import graph of each crate's modules, from its `use` declarations, and its circles.

Usage: scripts/modgraph.py [CRATE...]   (default: every crate under crates/)

A node is a module file (`unpack/entries.rs` is `unpack::entries`, a `mod.rs` its
directory's module); `use crate::a::b`, `use super::x` and `use self::x` add an edge to the
deepest module the path names. Declaring a child (`mod x;`) is no edge; unit tests
(`tests.rs`, `#[cfg(test)] mod tests`) are left out. Prints each module's imports, then the
circles (strongly connected components of more than one module), or "no circle".
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def modules(src):
    """Module path (tuple) -> file, for every .rs under src."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "tests" or parts[-1] == "recorder":
                continue
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            out[tuple(parts)] = os.path.join(dirpath, f)
    return out


def use_paths(text):
    """The paths of every `use` declaration outside unit-test modules, braces expanded."""
    text = re.split(r"\n#\[cfg\(test\)\]\s*\nmod tests \{", text)[0]
    text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
    for m in re.finditer(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?use\s+([^;]+);", text, re.M):
        yield from expand(squeeze(m.group(1)))


def squeeze(tree):
    """A use tree on one line, without spaces but around `as`."""
    return re.sub(r"\s*([:{},])\s*", r"\1", re.sub(r"\s+", " ", tree)).strip()


def expand(tree):
    """`a::{b,c::{d}}` -> `a::b`, `a::c::d`."""
    i = tree.find("{")
    if i < 0:
        yield tree
        return
    prefix, inner = tree[:i], tree[i + 1 : tree.rindex("}")]
    depth, cur = 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            if cur:
                yield from expand(prefix + cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    return


def reexports(mods):
    """(facade module, name) -> the module a `pub use` in that facade takes `name` from."""
    out = {}
    for m, f in mods.items():
        text = open(f, encoding="utf-8").read()
        for t in re.finditer(r"^\s*pub(?:\([\w:]+\))?\s+use\s+([^;]+);", text, re.M):
            for p in expand(squeeze(t.group(1))):
                last = p.split("::")[-1].split(" as ")[-1]
                target = resolve(p, m, mods, {})
                if target is not None and target != m and last != "*":
                    out[(m, last)] = target
    return out


def resolve(path, here, mods, reexported):
    """The module a use path from module `here` lands in, or None (another crate, std).
    A name a facade only re-exports leads to the module that defines it."""
    path = path.split(" as ")[0]
    target = resolve_module(path, here, mods)
    if target is not None:
        last = path.split("::")[-1]
        target = reexported.get((target, last), target)
    return target


def resolve_module(path, here, mods):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        # A mod.rs (or lib.rs) is its directory's module: `self` is itself, `super` its parent.
        base, rest = here, parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        # A path relative to this module: a child declared here.
        base, rest = here, parts
        if here + (parts[0],) not in mods:
            return None
    best = base
    for k in range(1, len(rest) + 1):
        if base + tuple(rest[:k]) in mods:
            best = base + tuple(rest[:k])
    return best


def circles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "(root)"


def crate_graph(crate):
    src = os.path.join(ROOT, "crates", crate, "src")
    mods = modules(src)
    reexported = reexports(mods)
    graph = {}
    for m, f in mods.items():
        edges = set()
        for p in use_paths(open(f, encoding="utf-8").read()):
            t = resolve(p, m, mods, reexported)
            if t is not None and t != m:
                edges.add(t)
        graph[m] = edges
    return graph


def main():
    crates = sys.argv[1:] or sorted(os.listdir(os.path.join(ROOT, "crates")))
    for crate in crates:
        graph = crate_graph(crate)
        print(f"## {crate}")
        for m in sorted(graph):
            if graph[m]:
                print(f"  {name(m)} -> {', '.join(sorted(name(t) for t in graph[m]))}")
        found = circles(graph)
        for c in found:
            print(f"  CIRCLE: {' <-> '.join(name(m) for m in c)}")
        if not found:
            print("  no circle")


if __name__ == "__main__":
    main()
