"""Sums tbcount.c's block counts per method (the .NET perf map) or library (/proc/PID/maps) in two rig output
folders and prints the largest differences: tbsym.py FAST_OUT SLOW_OUT. Each folder holds tb.txt, perf-*.map
(DOTNET_PerfMapEnabled=1 DOTNET_PerfMapJitDumpPath=$RIG_OUT) and maps.txt (the process's /proc/PID/maps)."""
import sys,bisect,collections
def load_syms(d):
    import glob
    syms=[]
    for p in glob.glob(d+'/perf-*.map'):
        for l in open(p):
            parts=l.rstrip('\n').split(' ',2)
            if len(parts)<3: continue
            a=int(parts[0],16); sz=int(parts[1],16); syms.append((a,a+sz,parts[2]))
    maps=[]
    for l in open(d+'/maps.txt'):
        f=l.split()
        lo,hi=[int(x,16) for x in f[0].split('-')]
        name=f[5] if len(f)>5 else '[anon]'
        maps.append((lo,hi,name.split('/')[-1],int(f[2],16)))
    syms.sort(); starts=[s[0] for s in syms]
    def sym(pc):
        if pc>=0x800000000000: return 'KERNEL'
        i=bisect.bisect_right(starts,pc)-1
        if i>=0 and syms[i][0]<=pc<syms[i][1]: return syms[i][2]
        for lo,hi,name,off in maps:
            if lo<=pc<hi: return name
        return '?'
    return sym
def agg(d):
    sym=load_syms(d); tot=collections.Counter(); ex=collections.Counter()
    for l in open(d+'/tb.txt'):
        pc,n,c=l.split(); pc=int(pc,16); n=int(n); c=int(c)
        s=sym(pc); tot[s]+=n*c; ex[s]+=c
    return tot
a=agg(sys.argv[1]); b=agg(sys.argv[2])
keys=set(a)|set(b)
rows=sorted(keys,key=lambda k:-abs(a.get(k,0)-b.get(k,0)))
for k in rows[:40]:
    print(f"{a.get(k,0):>14} {b.get(k,0):>14} {b.get(k,0)-a.get(k,0):>12}  {k[:150]}")
