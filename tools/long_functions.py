#!/usr/bin/env python3
"""Lists the functions of host/ longer than N lines (default 80), tables (initialisers) aside.

usage: tools/long_functions.py [N] [DIR]     exit 1 if any is listed (ctest: style_function_length)

docs/design.md: small functions with one job each. Comments and string literals are blanked
before braces are counted; a function runs from its signature's first line to its closing
brace."""
import glob, os, re, signal, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under | head
limit = int(sys.argv[1]) if len(sys.argv) > 1 else 80
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'host')
found = 0
for f in sorted(glob.glob(root + '/**/*.c', recursive=True)):
    text = open(f).read()
    text = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\])'", "''", text)
    lines = text.split('\n'); depth = 0; start = None; sig = ''
    for i, l in enumerate(lines):
        before = depth
        depth += l.count('{') - l.count('}')
        if before == 0 and depth > 0:
            j = i
            while j > 0 and lines[j].strip() and not re.match(r'^[A-Za-z_]', lines[j]): j -= 1
            head = ' '.join(x.strip() for x in lines[j:i + 1])
            start = (j, head) if ('(' in head and '=' not in head.split('(')[0]) else None
        if before > 0 and depth == 0 and start:
            n = i - start[0] + 1
            if n > limit:
                found += 1
                print(f"{n:4d} {os.path.relpath(f)}:{start[0] + 1} {start[1][:80]}")
            start = None
if found:
    print(f"long_functions: {found} function(s) over {limit} lines", file=sys.stderr)
sys.exit(1 if found else 0)
