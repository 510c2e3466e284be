#!/usr/bin/env python3
"""Rewrites CUDA launches `kernel<<<grid, block[, shared, stream]>>>(args)` into calls of the host
emulation (tools/cuda_emulation/cuda_runtime.h):
  emu::launch("kernel", "RWN", dim3(grid), dim3(block), stream,
              [](auto... a_) { kernel(a_...); }, args)
stream is nullptr when the launch names none. "RWN" gives, per parameter of the kernel's
definition, whether it is a pointer to const (R, read), a pointer to non-const (W, written) or
anything else (N); it is "" when the definition is not found or ambiguous, and the emulation then
judges a pointer by the argument's own type. Definitions are looked up in the input file, then in
the extra files (the headers it includes).
Usage: transform.py in.cu out.cpp [extra.cuh ...] (out is left untouched when unchanged)."""
import re, sys

def split_top(s, opening='(<', closing=')>'):
    """s split at its top-level commas."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in opening: depth += 1
        elif c in closing: depth -= 1
        elif c == ',' and depth == 0:
            parts.append(s[start:i]); start = i + 1
    parts.append(s[start:])
    return parts

definition = re.compile(
    r'__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(([^)]*)\)', re.S)

def kinds(params):
    out = ''
    for p in split_top(params):
        p = p.strip()
        if not p: continue
        if '*' in p:
            out += 'R' if re.search(r'\bconst\b', p[:p.index('*')]) else 'W'
        else:
            out += 'N'
    return out

def definitions(text):
    found = {}
    for m in definition.finditer(text):
        found.setdefault(m.group(1), set()).add(kinds(m.group(2)))
    return found

src = open(sys.argv[1]).read()
local = definitions(src)
extra = {}
for path in sys.argv[3:]:
    for name, ks in definitions(open(path).read()).items():
        extra.setdefault(name, set()).update(ks)

def mask_of(name):
    base = re.sub(r'<.*', '', name, flags=re.S).split('::')[-1].strip()
    ks = local.get(base) or extra.get(base) or set()
    return next(iter(ks)) if len(ks) == 1 else ''

pat = re.compile(r'([A-Za-z_][\w:]*(?:<[^<>;]*?>)?)\s*<<<(.*?)>>>\s*\(', re.S)
def rep(m):
    parts = split_top(m.group(2))
    if len(parts) < 2: raise SystemExit('bad launch configuration: ' + m.group(2))
    g, b = parts[0].strip(), parts[1].strip()
    stream = parts[3].strip() if len(parts) > 3 else 'nullptr'
    name = re.sub(r'\s+', ' ', m.group(1))
    return 'emu::launch("%s", "%s", dim3(%s), dim3(%s), %s, [](auto... a_) { %s(a_...); }, ' % (
        name, mask_of(m.group(1)), g, b, stream, m.group(1))
out = pat.sub(rep, src)
try:
    same = open(sys.argv[2]).read() == out
except OSError:
    same = False
if not same:
    open(sys.argv[2], 'w').write(out)
