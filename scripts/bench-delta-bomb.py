#!/usr/bin/env python3
# Memory and time of refusing a delta bomb: a git:// server on 127.0.0.1 answers any fetch with a
# two-object pack (a one-byte blob, and a delta of it whose header claims CLAIM bytes), and
# `atom fetch` runs against it; its peak RSS is read through RUSAGE_CHILDREN.
# Usage: scripts/bench-delta-bomb.py CLAIM_BYTES [atom options...]
#   ATOM=path/to/atom (default target/debug/atom)
import socket, threading, struct, hashlib, subprocess, resource, time, sys, os, tempfile
def pkt(b): return b'%04x' % (len(b)+4) + b
def stored(d):
    out=bytes([0x78,0x01,0x01])+struct.pack('<H',len(d))+struct.pack('<H',(~len(d))&0xffff)+d
    a,b=1,0
    for x in d: a=(a+x)%65521; b=(b+a)%65521
    return out+struct.pack('>I',(b<<16)|a)
def bomb(claim):
    p=b'PACK'+struct.pack('>II',2,2); bo=len(p); p+=bytes([0x31])+stored(b'a'); do=len(p)
    d=bytearray([1]); s=claim
    while s>=0x80: d.append((s&0x7f)|0x80); s>>=7
    d.append(s); d+=bytes([0x90,0x01])
    p+=bytes([0x60|len(d), do-bo])+stored(bytes(d)); return p+hashlib.sha1(p).digest()
C=b'1'*40
def readreq(f):
    while True:
        n=int(f.read(4),16)
        if n==0: return
        if n<4: continue
        f.read(n-4)
def serve(conn, claim):
    f=conn.makefile('rb')
    n=int(f.read(4),16); f.read(n-4)
    conn.sendall(b''.join(pkt(x) for x in [b'version 2\n',b'agent=x\n',b'ls-refs\n',b'fetch\n',b'object-format=sha1\n'])+b'0000')
    readreq(f)
    conn.sendall(pkt(C+b' refs/ekala/init\n')+pkt(C+b' refs/eka/atoms/bomb/1.0.0\n')+b'0000')
    readreq(f)
    conn.sendall(pkt(b'packfile\n')+pkt(b'\x01'+bomb(claim))+b'0000')
    time.sleep(1); conn.close()
claim=int(sys.argv[1])
s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); port=s.getsockname()[1]
threading.Thread(target=lambda:[serve(s.accept()[0],claim) for _ in range(1)],daemon=True).start()
t=time.time()
atom=os.environ.get('ATOM', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'target', 'debug', 'atom'))
store=tempfile.mkdtemp()
r=subprocess.run([atom]+sys.argv[2:]+['fetch',f'git://127.0.0.1:{port}/x','--store',store],capture_output=True,text=True)
print('claim %d MiB args %s: exit %d in %.2f s, peak RSS %d MiB: %s' % (claim>>20, sys.argv[2:], r.returncode, time.time()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss>>10, r.stderr.strip()))
