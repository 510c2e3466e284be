#!/usr/bin/env python3
"""Rewrites CUDA launches `kernel<<<grid, block>>>(args)` into calls of the host emulation,
`emu::launch(dim3(grid), dim3(block), [](auto... a_) { kernel(a_...); }, args)`.
Usage: transform.py in.cu out.cpp (out is left untouched when unchanged)."""
import re, sys
src = open(sys.argv[1]).read()
pat = re.compile(r'([A-Za-z_][\w:]*(?:<[^<>;]*?>)?)\s*<<<(.*?)>>>\s*\(', re.S)
def split_top(s):
    """The launch configuration's top-level arguments (grid, block[, shared bytes, stream])."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in '(<': depth += 1
        elif c in ')>': depth -= 1
        elif c == ',' and depth == 0:
            parts.append(s[start:i]); start = i + 1
    parts.append(s[start:])
    if len(parts) < 2: raise SystemExit('bad launch configuration: ' + s)
    return parts
def rep(m):
    g, b = split_top(m.group(2))[:2]
    return 'emu::launch(dim3(%s), dim3(%s), [](auto... a_) { %s(a_...); }, ' % (g.strip(), b.strip(), m.group(1))
out = pat.sub(rep, src)
try:
    same = open(sys.argv[2]).read() == out
except OSError:
    same = False
if not same:
    open(sys.argv[2], 'w').write(out)
