#!/usr/bin/env python3
"""Lists pairs of modules of one crate that import each other.

Usage: scripts/module-cycles.py [WORKSPACE]   (default: the repository)

A module's imports are the `crate::...` and `super::...` paths in its file
(test modules and comments left out), resolved to the longest module path
that exists; a module's own ancestors and descendants do not count. Exits 1
when any pair is found, so CI keeps the crates free of cycles.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
crates=[d for d in os.listdir(root) if os.path.isfile(os.path.join(root,d,'Cargo.toml')) and os.path.isdir(os.path.join(root,d,'src'))]
found=[]
for c in crates:
    src=os.path.join(root,c,'src')
    # module path of each file
    mods={}
    for dp,dn,fn in os.walk(src):
        for f in fn:
            if not f.endswith('.rs'): continue
            rel=os.path.relpath(os.path.join(dp,f),src)[:-3].split(os.sep)
            if rel[-1] in ('mod','lib','main'): rel=rel[:-1]
            if rel and rel[0]=='bin': continue
            mods[tuple(rel)]=os.path.join(dp,f)
    edges=set()
    for m,path in mods.items():
        text=open(path).read()
        # strip test modules crudely: ignore everything after '#[cfg(test)]\nmod tests'
        i=text.find('#[cfg(test)]\nmod tests')
        if i>=0: text=text[:i]
        text=re.sub(r'//.*','',text)
        parent=m[:-1]
        for mm in re.finditer(r'\b(crate|super)((?:::\w+)+)',text):
            kind,rest=mm.group(1),mm.group(2).strip(':').split('::')
            base=() if kind=='crate' else parent
            # find longest module prefix
            tgt=None
            for k in range(len(rest),0,-1):
                cand=base+tuple(rest[:k])
                if cand in mods: tgt=cand;break
            if tgt is None or tgt==m: continue
            # ignore ancestors/descendants
            if tgt==m[:len(tgt)] or m==tgt[:len(m)]: continue
            edges.add((m,tgt))
        for mm in re.finditer(r'(crate|super)::\{([^;]*?)\}',text,re.S):
            base=() if mm.group(1)=='crate' else parent
            for item in re.split(r',(?![^{]*\})',mm.group(2)):
                item=item.strip()
                if not item: continue
                first=re.split(r'::|\s',item)[0]
                cand=base+(first,)
                if cand in mods and cand!=m and not (cand==m[:len(cand)] or m==cand[:len(m)]):
                    edges.add((m,cand))
    for a,b in edges:
        if (b,a) in edges and a<b:
            found.append((c,'::'.join(a),'::'.join(b)))
for f in found:
    print("%s: %s <-> %s" % f)
print("%d module cycle(s)" % len(found))
sys.exit(1 if found else 0)
