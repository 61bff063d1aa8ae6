#!/usr/bin/env python3
"""Cycle budget of the proposed pipelined signer (docs/ecc.md, part 3): a model, not gateware.

Usage::

    .venv/bin/python bench/signer_budget.py                 # the table of docs/ecc.md part 3
    .venv/bin/python bench/signer_budget.py --json          # the same as JSON
    .venv/bin/python bench/signer_budget.py --mul-lat 16 --mul-ii 4 --msg 1232

Pure Python (no Amaranth, no quantgate import), so the numbers can be recomputed anywhere.
Every signature is split into three stages that run on disjoint hardware:

* **A, front**: Ed25519: the tail of SHA-512(prefix || M) after the request's last byte (the
  H1 core hashes the message while it arrives); ECDSA: the RFC 6979 nonce (NonceGen).
* **B, curve**: the fixed-base scalar multiplication on the field multiplier FM (64
  MULT18X18D, one product every ``mul_ii`` cycles, a dependent product ``mul_lat`` cycles
  later), with ``acc`` independent accumulators so that the multiplier stays busy, then the
  merge of the accumulators.  Ed25519 first reduces h mod L on FM (Montgomery, 3 passes).
* **C, back**: the inversions (safegcd divsteps, matrices applied on the small multiplier SU,
  16 MULT18X18D), affine coordinates, canonical reduction, encoding, and the scalar tail:
  Ed25519 SHA-512(R || A || M) and S = r + k a mod L; ECDSA r, s = k^-1 (z + r d), low-S, v.

B is list-scheduled operation by operation from the point formulas (the same formulas as
hdl/ecc/programs.py: madd-2008-hwcd-3 for Ed25519, Renes-Costello-Batina 2016 algorithms 8
and 5 for a = 0 / a = -3); A and C are sums of unit latencies along their dependency chain.

A request enters stage A only when it can then run A, B and C back to back without waiting
(``admit``): its cycle count from the first cycle of A to the response is a constant of its
curve and message length; the only variable is the wait before A, a function of public data
(arrival times, curves and lengths of the requests ahead).  The steady-state period of a
stream of equal requests is the longest stage (occupancy, including the clearing of the
stage's secrets after its hand-off).
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
from dataclasses import dataclass

CLOCKS_MHZ = (35.714286, 75.0, 100.0)
TARGET = {"ed25519": 8000, "secp256k1": 11000, "p256": 11000}
GOAL = {"ed25519": 7000, "secp256k1": 10000, "p256": 10000}
PIPELINE_TARGET = 1.8  # pipelined rate / one-at-a-time rate


@dataclass(frozen=True)
class Machine:
    """Unit timings (cycles).  Defaults: the design of docs/ecc.md part 3."""

    mul_ii: int = 4  #: FM: cycles the 64-DSP array is busy per field product (16x16 limbs)
    mul_lat: int = 14  #: FM: issue of a product -> issue of a product that uses it
    add_lat: int = 3  #: limb-parallel add/sub + one carry pass, issue -> use
    smul_lat: int = 4  #: multiply by a small constant (secp256k1 3b = 21) in the adder
    adders: int = 1  #: add/sub issues per cycle (one adder in stage B)
    mont_passes: int = 3  #: Montgomery mod L / n: T = a b, m = T n' mod R, (T + m n) / R
    su_ii: int = 16  #: SU (16 DSP): 256x256 product, one 17-bit limb of a per cycle
    su_narrow_ii: int = 4  #: SU: 64x256 product (a safegcd matrix entry times f, g, d, e)
    su_lat: int = 26  #: SU: issue of a full product -> its (normalised) result
    su_narrow_lat: int = 14  #: SU: issue of a 64x256 product -> result
    freeze: int = 40  #: canonical reduction (limb-serial carry, conditional subtract)
    divsteps: int = 741  #: Bernstein-Yang bound for 256-bit inputs: floor((49*256+57)/17)
    batch: int = 62  #: divsteps per batch (the 2x2 matrix has entries < 2^62)
    de_products: int = 6  #: SU narrow products per batch for d, e (4 + 2 corrections)
    fg_products: int = 4  #: SU narrow products per batch for f, g
    nonce: int = 2857 - 234 - 116  #: RFC 6979 (today's NonceGen, K0 midstates constant,
    #: the z-independent first block of the first inner hash hashed while the request arrives)
    sha_handoff: int = 2  #: PRELOAD + taking the digest
    handoff: int = 4  #: per stage boundary (operands into the next stage's registers)
    scan_ports: int = 1  #: table read ports per context (masked scan of all 8 multiples)
    clear_rf: int = 32  #: zeroing a stage's register bank (32 registers, one per cycle)
    acc: int = 2  #: independent accumulators of the fixed-base sum in stage B


# ---------------------------------------------------------------------------------------------
# SHA-2 cycles (docs/hash.md: the formula tests/test_sha2.py asserts for hdl/hash/sha2.py)

SHA512 = (128, 80, 8)  # block bytes, rounds, word bytes
SHA256 = (64, 64, 4)


def sha_cycles(n: int, params=SHA512) -> int:
    """Cycles of the SHA-2 core from the first input beat to the digest, n bytes at one per
    cycle (docs/hash.md, "Cycles")."""
    b, r, nb = params
    if n == 0:
        return r + 4
    q, rem = divmod(n, b)
    c = q * (b + r - 12) + (r + 3)
    if rem:
        c += rem + 1 - math.ceil(rem / nb)
    if rem >= b - 2 * nb:
        c += r + 3
    return c


def sha_tail(n: int, params=SHA512) -> int:
    """Cycles left after the message's last byte when the core has hashed the bytes as they
    arrived (streaming): the whole count minus the blocks compressed before the final block
    and the final block's earlier bytes."""
    b, r, nb = params
    q, rem = divmod(n, b)
    if rem == 0:
        q, rem = q - 1, b
    return sha_cycles(n, params) - q * (b + r - 12) - (rem - 1)


# ---------------------------------------------------------------------------------------------
# Operation DAGs and the list scheduler of stage B

@dataclass
class Op:
    kind: str  # "mul" (FM), "add" (adder), "smul" (adder, small constant)
    srcs: tuple
    name: str = ""


class Dag:
    """Straight-line code on named values; ``ops[i]`` produces value i."""

    def __init__(self):
        self.ops: list[Op] = []

    def _op(self, kind, *srcs, name=""):
        self.ops.append(Op(kind, tuple(s for s in srcs if s is not None), name))
        return len(self.ops) - 1

    def mul(self, a, b, name=""):
        return self._op("mul", a, b, name=name)

    def add(self, a, b, name=""):
        return self._op("add", a, b, name=name)

    sub = add

    def smul(self, a, name=""):
        return self._op("smul", a, name=name)

    def count(self, kind):
        return sum(1 for o in self.ops if o.kind == kind)


def latency(m: Machine, kind: str) -> int:
    return {"mul": m.mul_lat, "add": m.add_lat, "smul": m.smul_lat}[kind]


def schedule(dag: Dag, m: Machine):
    """Greedy list scheduling: FM accepts one product per ``mul_ii`` cycles, the adder
    ``adders`` operations per cycle; an op may issue once all its sources are ready.
    Priority: the longest latency path from the op to the end of the DAG (ties: program
    order).  Returns (finish cycle of the last result, issue cycle of every op)."""
    n = len(dag.ops)
    users = [[] for _ in range(n)]
    for i, o in enumerate(dag.ops):
        for s in o.srcs:
            users[s].append(i)
    height = [0] * n
    for i in range(n - 1, -1, -1):
        lat = latency(m, dag.ops[i].kind)
        height[i] = lat + max((height[u] for u in users[i]), default=0)
    waiting = [len(set(o.srcs)) for o in dag.ops]
    ready_at = [0] * n
    issue = [None] * n
    ready = [(-height[i], i) for i in range(n) if waiting[i] == 0]
    heapq.heapify(ready)
    pending = []  # (cycle at which the op's operands are ready, -height, i)
    mul_free = 0
    t = 0
    done = 0
    finish = 0
    while done < n:
        while pending and pending[0][0] <= t:
            _, h, i = heapq.heappop(pending)
            heapq.heappush(ready, (h, i))
        adds = 0
        deferred = []
        while ready:
            h, i = heapq.heappop(ready)
            kind = dag.ops[i].kind
            if kind == "mul":
                ok = t >= mul_free
                if ok:
                    mul_free = t + m.mul_ii
            else:
                ok = adds < m.adders
                if ok:
                    adds += 1
            if not ok:
                deferred.append((h, i))
                continue
            issue[i] = t
            done += 1
            fin = t + latency(m, kind)
            finish = max(finish, fin)
            for u in set(users[i]):
                ready_at[u] = max(ready_at[u], fin)
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(pending, (ready_at[u], -height[u], u))
        for item in deferred:
            heapq.heappush(ready, item)
        t += 1
        if not ready and pending:
            t = max(t, pending[0][0])
    return finish, issue


# --- point formulas (the same operation sequences as hdl/ecc/programs.py) ----------------------

def ed_madd(d: Dag, P):
    """Extended twisted Edwards (a = -1) + precomputed (y+x, y-x, 2dxy): 7 M."""
    X, Y, Z, T = P
    s, df, dz = d.add(Y, X), d.sub(Y, X), d.add(Z, Z)
    ca, cb, cc = d.mul(df, None), d.mul(s, None), d.mul(T, None)
    e, h = d.sub(cb, ca), d.add(cb, ca)
    f, g = d.sub(dz, cc), d.add(dz, cc)
    return d.mul(e, f), d.mul(g, h), d.mul(f, g), d.mul(e, h)  # X3, Y3, Z3, T3


def ed_add(d: Dag, P, Q):
    """Extended + extended, complete (add-2008-hwcd-3, k = 2d): 9 M (8 M + 1 by k)."""
    X1, Y1, Z1, T1 = P
    X2, Y2, Z2, T2 = Q
    a = d.mul(d.sub(Y1, X1), d.sub(Y2, X2))
    b = d.mul(d.add(Y1, X1), d.add(Y2, X2))
    c = d.mul(d.mul(T1, T2), None)  # T1 T2, then times the constant 2d
    dd = d.mul(Z1, d.add(Z2, Z2))
    e, f, g, h = d.sub(b, a), d.sub(dd, c), d.add(dd, c), d.add(b, a)
    return d.mul(e, f), d.mul(g, h), d.mul(f, g), d.mul(e, h)


def w_madd(d: Dag, P, a_zero: bool):
    """Projective + affine table point, complete (RCB 2016 alg. 8 for a = 0 with 3b by
    additions: 11 M; alg. 5 for a = -3: 13 M)."""
    X, Y, Z = P
    qx = qy = None
    t0, t1 = d.mul(X, qx), d.mul(Y, qy)
    t3 = d.mul(d.add(qx, qy), d.add(X, Y))
    t4 = d.sub(t3, d.add(t0, t1))
    t3 = t4
    t4 = d.add(d.mul(qy, Z), Y)
    y3 = d.add(d.mul(qx, Z), X)
    if a_zero:
        x3 = d.add(t0, t0)
        t0 = d.add(x3, t0)
        t2 = d.smul(Z)
        z3 = d.add(t1, t2)
        t1 = d.sub(t1, t2)
        y3 = d.smul(y3)
        x3 = d.sub(d.mul(t3, t1), d.mul(t4, y3))
        y3 = d.add(d.mul(t1, z3), d.mul(y3, t0))
        z3 = d.add(d.mul(z3, t4), d.mul(t0, t3))
        return x3, y3, z3
    z3 = d.mul(None, Z)  # b Z
    x3 = d.sub(y3, z3)
    z3 = d.add(x3, x3)
    x3 = d.add(x3, z3)
    z3 = d.sub(t1, x3)
    x3 = d.add(t1, x3)
    y3 = d.mul(None, y3)  # b y3
    t1 = d.add(Z, Z)
    t2 = d.add(t1, Z)
    y3 = d.sub(d.sub(y3, t2), t0)
    y3 = d.add(d.add(y3, y3), y3)
    t1 = d.add(t0, t0)
    t0 = d.sub(d.add(t1, t0), t2)
    y3n = d.add(d.mul(x3, z3), d.mul(t0, y3))
    x3n = d.sub(d.mul(t3, x3), d.mul(t4, y3))
    z3n = d.add(d.mul(t4, z3), d.mul(t3, t0))
    return x3n, y3n, z3n


def w_add(d: Dag, P, Q, a_zero: bool):
    """Projective + projective, complete (RCB 2016 alg. 7 / alg. 4): 12 M (+ 2 by b)."""
    X1, Y1, Z1 = P
    X2, Y2, Z2 = Q
    t0, t1, t2 = d.mul(X1, X2), d.mul(Y1, Y2), d.mul(Z1, Z2)
    t3 = d.sub(d.mul(d.add(X1, Y1), d.add(X2, Y2)), d.add(t0, t1))
    t4 = d.sub(d.mul(d.add(Y1, Z1), d.add(Y2, Z2)), d.add(t1, t2))
    y3 = d.sub(d.mul(d.add(X1, Z1), d.add(X2, Z2)), d.add(t0, t2))
    if a_zero:
        t0 = d.add(d.add(t0, t0), t0)
        t2 = d.smul(t2)
        z3, t1 = d.add(t1, t2), d.sub(t1, t2)
        y3 = d.smul(y3)
    else:
        z3 = d.sub(y3, d.mul(t2, None))
        z3 = d.add(d.add(z3, z3), z3)
        y3 = d.sub(d.sub(d.mul(y3, None), t2), t0)
        y3 = d.add(d.add(y3, y3), y3)
        t0 = d.sub(d.add(d.add(t0, t0), t0), t2)
        t1 = d.sub(t1, z3)
        z3 = d.add(t1, z3)
    x3 = d.sub(d.mul(t3, t1), d.mul(t4, y3))
    y3 = d.add(d.mul(t1, z3), d.mul(y3, t0))
    z3 = d.add(d.mul(z3, t4), d.mul(t0, t3))
    return x3, y3, z3


CURVES = {
    # name: (windows, table coordinates per point, a_zero or None for Edwards)
    "ed25519": (64, 3, None),
    "secp256k1": (65, 2, True),  # 64 windows of 4 signed bits + digit 64 (2^256 G or nothing)
    "p256": (65, 2, False),
}


def basemul_dag(curve: str, acc: int) -> Dag:
    """The fixed-base sum of `windows` table points in `acc` interleaved accumulators, then a
    tree of complete additions merging them.  Weierstrass: an accumulator starts at its first
    table point, selected (affine (x, y, 1), or the identity (0 : 1 : 0) for a zero digit), so
    it has one addition less.  Ed25519: the table points are in precomputed form (y+x, y-x,
    2dxy), not extended coordinates, so every accumulator starts at the identity and every
    window is a mixed addition."""
    windows, _, a_zero = CURVES[curve]
    d = Dag()
    ed = a_zero is None
    accs = [(None,) * 4 if ed else None] * acc
    for w in range(windows):
        j = w % acc
        if accs[j] is None:  # Weierstrass: the first table point, by selection
            accs[j] = (None,) * 3
            continue
        accs[j] = ed_madd(d, accs[j]) if ed else w_madd(d, accs[j], a_zero)
    while len(accs) > 1:
        nxt = []
        for i in range(0, len(accs) - 1, 2):
            p, q = accs[i], accs[i + 1]
            nxt.append(ed_add(d, p, q) if ed else w_add(d, p, q, a_zero))
        if len(accs) % 2:
            nxt.append(accs[-1])
        accs = nxt
    return d


# ---------------------------------------------------------------------------------------------
# Stage A, C: dependency chains of unit latencies

def mont_lat(m: Machine, su: bool) -> int:
    """Montgomery product mod L / n: three dependent passes on FM or SU."""
    return m.mont_passes * (m.su_lat if su else m.mul_lat)


def safegcd(m: Machine, pair: bool) -> dict:
    """Constant-time inversion by divsteps (Bernstein-Yang), batches of `batch` divsteps on
    the low 64 bits of f, g (one divstep per cycle), each batch's 2x2 matrix applied to the
    256-bit f, g, d, e on SU.  The next batch waits only for f and g; d, e are updated during
    it.  ``pair``: two independent inversions (ECDSA's Z^-1 mod p and k^-1 mod n) share SU,
    each with its own divstep core."""
    batches = math.ceil(m.divsteps / m.batch)
    fg = m.fg_products * m.su_narrow_ii + m.su_narrow_lat  # f, g of the next batch exact
    period = m.batch + fg
    su_busy = (m.fg_products + m.de_products) * m.su_narrow_ii  # SU cycles per batch
    if pair:
        period = max(period, 2 * su_busy)
    final = m.su_narrow_ii * m.de_products + m.su_narrow_lat + m.su_ii + m.su_lat
    # last d, e update, then one full product: sign and the conversion into the form the
    # next product wants (times R^2 mod m, or R mod m)
    total = batches * period + final
    return {"batches": batches, "period": period, "su_busy_per_batch": su_busy,
            "cycles": total, "su_cycles": batches * su_busy * (2 if pair else 1)}


def fermat_fm(m: Machine, products: int) -> int:
    """Fermat x^(m-2) as one dependent chain on FM: products x mul_lat."""
    return products * m.mul_lat


#: products of the Fermat chains x^(m-2) in today's engine (docs/ecc.md parts 1 and 2)
FERMAT = {"p25519": 254 + 11, "p256k1": 274, "p256": 268, "n256k1": 321, "n256": 315}


def stage_a(curve: str, m: Machine, msg: int) -> dict:
    if curve == "ed25519":
        parts = {"SHA-512(prefix || M), after the last byte": sha_tail(32 + msg) + m.sha_handoff}
    else:
        parts = {"RFC 6979 nonce (NonceGen)": m.nonce}
    parts["hand-off to B"] = m.handoff
    return {"parts": parts, "latency": sum(parts.values()), "occupancy": sum(parts.values())}


def stage_b(curve: str, m: Machine) -> dict:
    windows, coords, a_zero = CURVES[curve]
    dag = basemul_dag(curve, m.acc)
    sm, _ = schedule(dag, m)
    parts = {}
    if curve == "ed25519":  # r = h mod L on FM: hi * (2^256 R^2), + lo, canonical
        parts["r = h mod L (Montgomery on FM, add, freeze)"] = (
            mont_lat(m, su=False) + m.add_lat + m.freeze)
    parts["recode, first table scans"] = 2 + math.ceil(2 * 8 * coords / m.scan_ports)
    parts[f"{windows} windows, {m.acc} accumulators + merge (scheduled)"] = sm
    parts["hand-off to C"] = m.handoff
    lat = sum(parts.values())
    # after the hand-off: flush FM (a product of zeros) and zero the register bank
    clear = max(m.clear_rf, m.mul_ii + m.mul_lat)
    products = dag.count("mul")
    additions = windows if a_zero is None else windows - m.acc
    per_window = sm / additions
    scan = math.ceil(8 * coords / m.scan_ports)
    return {"parts": parts, "latency": lat, "occupancy": lat + clear, "clear": clear,
            "fm_products": products, "fm_busy": products * m.mul_ii,
            "fm_use": products * m.mul_ii / sm, "adds": dag.count("add") + dag.count("smul"),
            "cycles_per_window": per_window, "scan_per_window": scan,
            "scan_fits": scan <= per_window * m.acc}


def stage_c(curve: str, m: Machine, msg: int) -> dict:
    parts = {}
    su_full = m.su_ii + m.su_lat
    # the divsteps start from 0 <= g < 2^256: Z (redundant limbs from stage B) is frozen first
    parts["freeze Z"] = m.freeze
    if curve == "ed25519":
        inv = safegcd(m, pair=False)
        parts["Z^-1 mod p (safegcd)"] = inv["cycles"]
        parts["x = X/Z, y = Y/Z (2 products on SU)"] = m.su_ii + su_full
        parts["freeze x, y; encode R"] = 2 * m.freeze + 2
        parts["SHA-512(R || A || M) from the message buffer"] = sha_cycles(64 + msg) + m.sha_handoff
        parts["k = h mod L; S = r + k a mod L (Montgomery on SU)"] = (
            m.mont_passes * m.su_ii + mont_lat(m, su=True) + m.add_lat
            + mont_lat(m, su=True) + m.add_lat)
        parts["freeze S"] = m.freeze
    else:
        inv = safegcd(m, pair=True)
        parts["Z^-1 mod p and k^-1 mod n (two safegcd, interleaved)"] = inv["cycles"]
        parts["x = X/Z, y = Y/Z (2 products on SU)"] = m.su_ii + su_full
        parts["freeze x, y; r = x mod n (freeze against n), v"] = 2 * m.freeze + m.freeze
        parts["s = k^-1 (z + r d) mod n (Montgomery on SU)"] = (
            mont_lat(m, su=True) + m.add_lat + mont_lat(m, su=True))
        parts["freeze s"] = m.freeze
        if curve == "secp256k1":
            parts["low-S: n - s, compare with (n-1)/2, select; v ^= 1"] = m.add_lat + m.freeze // 2
    parts["signature into the responder"] = 2
    lat = sum(parts.values())
    clear = m.clear_rf + 8  # register bank; divstep cores and SU flushed meanwhile
    return {"parts": parts, "latency": lat, "occupancy": lat + clear, "clear": clear,
            "inversion": inv}


def signature(curve: str, m: Machine, msg: int = 100) -> dict:
    a, b, c = stage_a(curve, m, msg), stage_b(curve, m), stage_c(curve, m, msg)
    single = a["latency"] + b["latency"] + c["latency"]
    period = max(a["occupancy"], b["occupancy"], c["occupancy"])
    return {"curve": curve, "msg": msg if curve == "ed25519" else 32, "A": a, "B": b, "C": c,
            "single": single, "period": period, "speedup": single / period}


# ---------------------------------------------------------------------------------------------
# Admission (the data-independent queueing rule)

def admit(requests, profile):
    """FIFO admission: `requests` = [(arrival cycle, kind)], `profile[kind]` = (A, B, C,
    A-resource).  A request starts its stage A at the first cycle s >= arrival with: its
    A-resource free, stage B free at s + A, stage C free at s + A + B; the stages then run
    back to back.  Returns [(start, response cycle)]; response - start = A + B + C always."""
    free = {"B": 0, "C": 0}
    out = []
    for arrival, kind in requests:
        a, b, c, ares = profile[kind]
        s = max(arrival, free.get(ares, 0), free["B"] - a, free["C"] - a - b)
        free[ares] = s + a
        free["B"] = s + a + b
        free["C"] = s + a + b + c
        out.append((s, s + a + b + c))
    return out


# ---------------------------------------------------------------------------------------------

def report(m: Machine, msg: int) -> dict:
    rows = {c: signature(c, m, msg) for c in CURVES}
    alt = fermat_variant(m, msg)
    return {"machine": dataclasses.asdict(m), "msg": msg, "curves": rows, "fermat_on_fm": alt}


def fermat_variant(m: Machine, msg: int) -> dict:
    """Build-order step 1: one request at a time, Fermat chains on FM instead of safegcd
    (no SU, no divstep cores): the C-stage inversions replaced by dependent FM chains."""
    out = {}
    for curve in CURVES:
        s = signature(curve, m, msg)
        inv = s["C"]["inversion"]["cycles"]
        if curve == "ed25519":
            f = fermat_fm(m, FERMAT["p25519"])
        else:
            # Z^-1 mod p and k^-1 mod n (Montgomery: 3 passes each) interleaved: the mod-n
            # chain sets the time (its steps are 3 passes long), the mod-p steps fill gaps
            k1 = curve == "secp256k1"
            f = max(fermat_fm(m, FERMAT["p256k1" if k1 else "p256"]),
                    mont_lat(m, su=False) * FERMAT["n256k1" if k1 else "n256"])
        out[curve] = s["single"] - inv + f
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Machine):
        if f.type in ("int", int):
            ap.add_argument("--" + f.name.replace("_", "-"), type=int, default=None)
    ap.add_argument("--msg", type=int, default=100, help="Ed25519 message bytes (default 100)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    over = {f.name: getattr(args, f.name) for f in dataclasses.fields(Machine)
            if getattr(args, f.name, None) is not None}
    m = Machine(**over)
    rep = report(m, args.msg)
    if args.json:
        print(json.dumps(rep, indent=1, default=str))
        return
    print(f"machine: FM II {m.mul_ii}, dependent latency {m.mul_lat}; add {m.add_lat}; "
          f"SU II {m.su_ii} / {m.su_narrow_ii}, latency {m.su_lat} / {m.su_narrow_lat}; "
          f"{m.acc} accumulators; Ed25519 message {args.msg} bytes")
    for curve, r in rep["curves"].items():
        print(f"\n{curve}")
        for st in "ABC":
            s = r[st]
            print(f"  stage {st}: latency {s['latency']:6d}, occupancy {s['occupancy']:6d}")
            for k, v in s["parts"].items():
                print(f"      {v:6d}  {k}")
        b = r["B"]
        print(f"  B: {b['fm_products']} FM products, FM busy {b['fm_use']:.0%}, "
              f"{b['cycles_per_window']:.1f} cycles per window, table scan "
              f"{b['scan_per_window']} cycles per window (fits: {b['scan_fits']})")
        print(f"  single {r['single']} cycles, pipelined period {r['period']} cycles, "
              f"x{r['speedup']:.2f} (target x{PIPELINE_TARGET})")
    print("\ncycles and time per signature (single = request's last byte -> first response "
          "byte; pipelined = steady state of equal requests)")
    hdr = f"{'curve':10s} {'single':>7s} {'target':>7s} {'period':>7s} {'speedup':>7s}"
    for mhz in CLOCKS_MHZ:
        hdr += f" | {mhz:6.2f} MHz: us    sig/s"
    print(hdr)
    for curve, r in rep["curves"].items():
        line = (f"{curve:10s} {r['single']:7d} {TARGET[curve]:7d} {r['period']:7d} "
                f"{r['speedup']:7.2f}")
        for mhz in CLOCKS_MHZ:
            line += f" | {r['single'] / mhz:12.1f} {mhz * 1e6 / r['period']:8.0f}"
        print(line)
    print("\nbuild step 1 (Fermat chains on FM, one request at a time): "
          + ", ".join(f"{c} {v}" for c, v in rep["fermat_on_fm"].items()))


if __name__ == "__main__":
    main()
