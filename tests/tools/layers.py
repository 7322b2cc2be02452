#!/usr/bin/env python3
"""The layering test: from the built objects, which source file uses which
file's symbols (nm), checked against agent/LAYERS.

  - a folder uses only the folders on the lines below its own in
    agent/LAYERS (never one above, never one beside it);
  - no two files depend on each other, directly or around a loop, even
    inside one folder;
  - the generated gSOAP stubs are used only by the folders given with
    --only stubs=...

Each finding names the file, the symbol and the file that defines it.
--self-test shows that the check catches what it is for: it recompiles a
real file of the engine and one of base/ with one deliberate back-call
each, and fails unless both are reported, with the symbol.

Exit status: 0 clean, 1 findings, 2 usage or build trouble."""
import argparse
import collections
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

GENERATED = {"config_xsd.o": "base", "soapC.o": "stubs", "soapClient.o": "stubs"}


def read_layers(path):
    """{folder: rank}; rank 0 is the top line."""
    ranks = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                for folder in line:
                    ranks[folder] = len(set(ranks.values()))
    return ranks


def objects(objdir):
    """[(object path, source name, folder)] for every object under objdir."""
    out = []
    for root, _, files in os.walk(objdir):
        for f in sorted(files):
            if not f.endswith(".o"):
                continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, objdir)
            if os.sep in rel:
                folder = rel.split(os.sep)[0]
                src = "agent/" + rel[:-2] + ".c"
            else:
                folder = GENERATED.get(f)
                if folder is None:
                    continue
                src = "(generated) " + f[:-2] + ".c"
            out.append((p, src, folder))
    return out


def symbols(path):
    """(defined, undefined) global symbols of one object."""
    r = subprocess.run(["nm", path], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"layers: nm {path}: {r.stderr.strip()}")
    defined, undefined = set(), set()
    for line in r.stdout.splitlines():
        p = line.split()
        if len(p) == 2 and p[0] == "U":
            undefined.add(p[1])
        elif len(p) == 3 and p[1] in "TDBRCVWGS":
            defined.add(p[2])
    return defined, undefined


def graph(objs):
    """{src: {dst: [symbols]}} between files."""
    owner, uses = {}, {}
    for p, src, _ in objs:
        d, u = symbols(p)
        for s in d:
            owner.setdefault(s, src)
        uses[src] = u
    g = collections.defaultdict(lambda: collections.defaultdict(list))
    for src, u in uses.items():
        for s in sorted(u):
            dst = owner.get(s)
            if dst is not None and dst != src:
                g[src][dst].append(s)
    return g


def loops(g):
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    nodes = set(g) | {d for v in g.values() for d in v}

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, {}):
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

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def shortest_cycle(g, comp):
    """[a, ..., a]: the shortest loop through comp's first file (BFS)."""
    inside = set(comp)
    start = comp[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(g.get(v, {})):
                if w not in inside:
                    continue
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start, start]


def check(objdir, layers, only):
    ranks = read_layers(layers)
    objs = objects(objdir)
    if not objs:
        sys.exit(f"layers: no objects under {objdir}; build first")
    folder_of = {src: folder for _, src, folder in objs}
    for _, src, folder in objs:
        if folder not in ranks and folder not in only:
            sys.exit(f"layers: {src} is in folder {folder}/, which {layers} does not list")
    g = graph(objs)
    findings = []
    for src in sorted(g):
        for dst, syms in sorted(g[src].items()):
            a, b = folder_of[src], folder_of[dst]
            if a == b:
                continue
            names = ", ".join(syms[:4]) + (" ..." if len(syms) > 4 else "")
            if b in only:
                if a not in only[b]:
                    findings.append(f"{src} uses {names} of {dst}: only "
                                    f"{', '.join(sorted(only[b]))} may use {b}")
                continue
            if a in only:
                findings.append(f"{src} ({a}) uses {names} of {dst}")
            elif ranks[b] < ranks[a]:
                findings.append(f"{src} uses {names} of {dst}: {b}/ is above {a}/ "
                                f"in {layers}")
            elif ranks[b] == ranks[a]:
                findings.append(f"{src} uses {names} of {dst}: {b}/ is beside {a}/ "
                                f"in {layers}, not below it")
    for comp in loops(g):
        cycle = shortest_cycle(g, comp)
        hops = [f"{a} -> {b} ({', '.join(g[a][b][:3])})" for a, b in zip(cycle, cycle[1:])]
        more = f" (and {len(comp) - len(cycle) + 1} more files in the loop)" \
            if len(comp) > len(cycle) - 1 else ""
        findings.append("files that use each other: " + "; ".join(hops) + more)
    nfiles = len(objs)
    nedges = sum(len(v) for v in g.values())
    return findings, nfiles, nedges


def self_test(objdir, layers, only, cflags, cc):
    """Deliberate back-calls, each compiled into its own copy of the
    objects: each must be found, named by its symbol."""
    cases = [
        # engine/vmtable.c is used by sched.c: a call back makes a loop.
        ("engine", "vmtable", "uint64_t sched_run(void *);\n"
         "unsigned long long layers_probe(void) { return sched_run(0); }\n",
         "sched_run", "files that use each other"),
        # base/ is the bottom: a call up into the engine is refused.
        ("base", "log", "int vm_busy(const void *);\n"
         "int layers_probe(void) { return vm_busy(0); }\n",
         "vm_busy", "is above base/"),
    ]
    ok = True
    for folder, name, extra, sym, words in cases:
        tmp = tempfile.mkdtemp(prefix="layers-")
        try:
            copy = os.path.join(tmp, "obj")
            shutil.copytree(objdir, copy)
            src = os.path.abspath(f"agent/{folder}/{name}.c")
            wrap = os.path.join(tmp, f"{name}-backcall.c")
            with open(wrap, "w") as f:
                f.write(f'#include "{src}"\n#include <stdint.h>\n{extra}')
            out = os.path.join(copy, folder, f"{name}.o")
            cmd = shlex.split(cc) + ["-c", "-o", out, wrap] + shlex.split(cflags) + \
                ["-iquote", f"agent/{folder}"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"layers --self-test: cannot compile the back-call in "
                         f"agent/{folder}/{name}.c:\n{r.stderr}")
            findings, _, _ = check(copy, layers, only)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        hit = [f for f in findings if sym in f and words in f and
               f"agent/{folder}/{name}.c" in f]
        if hit:
            print(f"layers --self-test: a back-call to {sym} added to agent/{folder}/{name}.c "
                  f"is caught:\n  {hit[0]}")
        else:
            print(f"layers --self-test: a back-call to {sym} added to agent/{folder}/{name}.c "
                  f"was NOT caught; findings: {findings}")
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", required=True, help="the build's obj/ folder")
    ap.add_argument("--layers", default="agent/LAYERS")
    ap.add_argument("--only", action="append", default=[],
                    help="FOLDER=USER,USER: FOLDER may be used by these only")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--cflags", default="", help="for --self-test's compiles")
    ap.add_argument("--cc", default="cc")
    a = ap.parse_args()
    only = {}
    for o in a.only:
        k, _, v = o.partition("=")
        only[k] = set(v.split(","))
    findings, nfiles, nedges = check(a.objects, a.layers, only)
    for f in findings:
        print("layers: " + f)
    if findings:
        print(f"layers: {len(findings)} finding(s) in {nfiles} files")
        return 1
    print(f"layers: {nfiles} files, {nedges} uses between them: one way, no loop, "
          f"no folder used from below ({a.layers})")
    if a.self_test and not self_test(a.objects, a.layers, only, a.cflags, a.cc):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
