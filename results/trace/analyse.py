import csv,statistics as st,random,re,sys
import os
# The data folder: this script's own, or the one given (e.g. final/).
d=sys.argv[1] if len(sys.argv)>1 else os.path.dirname(os.path.abspath(__file__))
log=open(f'{d}/load.log').read().splitlines()
clean={}
i=0
while i < len(log):
    m=re.match(r'\S+ rep (\d+) (\w+) .* gate: (.*)',log[i])
    if m:
        after=log[i+1].split('after:')[1].strip() if i+1<len(log) and 'after:' in log[i+1] else '?'
        clean[(int(m[1]),m[2])]= (m[3]=='quiet' and after=='')
        i+=2
    else: i+=1
random.seed(1)
def boot(b,n):
    bs=sorted(st.median(random.choices(n,k=len(n)))-st.median(random.choices(b,k=len(b))) for _ in range(10000))
    return bs[250],bs[9750]
for sc in ['et100','lt4']:
    v={}
    for tag in ['base','new']:
        rows=list(csv.DictReader(open(f'{d}/runs-{sc}-{tag}.csv')))
        v[tag]=[float(r['server_cpu_us_per_req']) for r in rows]
    for sel in ['all','clean']:
        idx=[k for k in range(len(v['base'])) if sel=='all' or clean.get((k+1,sc))]
        b=[v['base'][k] for k in idx]; n=[v['new'][k] for k in idx]
        mb,mn=st.median(b),st.median(n); lo,hi=boot(b,n)
        pd=[n[k]-b[k] for k in range(len(idx))]
        print(f'{sc} {sel} pairs={len(idx)} base med {mb:.3f} [{min(b):.2f}-{max(b):.2f}] new med {mn:.3f} [{min(n):.2f}-{max(n):.2f}] diff {mn-mb:+.3f} ({100*(mn-mb)/mb:+.1f}%) CI95 [{lo:+.3f},{hi:+.3f}] ({100*lo/mb:+.1f}%..{100*hi/mb:+.1f}%) median paired diff {st.median(pd):+.3f}')
        if sel=='all':
            print('   base',' '.join(f'{x:.2f}' for x in v['base'])); print('   new ',' '.join(f'{x:.2f}' for x in v['new']))
            print('   clean',[k+1 for k in range(len(v['base'])) if clean.get((k+1,sc))])
print('--- paired (back-to-back runs, order alternated)')
for sc in ['et100','lt4']:
    v={t:[float(r['server_cpu_us_per_req']) for r in csv.DictReader(open(f'{d}/runs-{sc}-{t}.csv'))] for t in ['base','new']}
    pd=[n-b for b,n in zip(v['base'],v['new'])]
    rel=[100*(n-b)/b for b,n in zip(v['base'],v['new'])]
    bs=sorted(st.median(random.choices(pd,k=len(pd))) for _ in range(10000))
    br=sorted(st.median(random.choices(rel,k=len(rel))) for _ in range(10000))
    print(f'{sc}: paired diffs', ' '.join(f'{x:+.2f}' for x in pd))
    print(f'   median {st.median(pd):+.3f} us/req, CI95 [{bs[250]:+.3f},{bs[9750]:+.3f}]; relative median {st.median(rel):+.2f}% CI95 [{br[250]:+.2f}%,{br[9750]:+.2f}%]')
    fast=[(b,n) for b,n in zip(v['base'],v['new'])]
