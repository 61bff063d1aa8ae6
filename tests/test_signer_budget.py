"""The cycle model of the proposed signer (bench/signer_budget.py) against hand counts."""

import importlib.util
import pathlib
import sys

import pytest

_PATH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "signer_budget.py"
_spec = importlib.util.spec_from_file_location("signer_budget", _PATH)
sb = importlib.util.module_from_spec(_spec)
sys.modules["signer_budget"] = sb  # dataclasses look the module up
_spec.loader.exec_module(sb)

M = sb.Machine(mul_ii=4, mul_lat=14, add_lat=3)


def test_dependent_chain():
    # x^8 by three dependent squarings: each waits for the previous result, 3 x 14 cycles
    d = sb.Dag()
    a = d.mul(None, None)
    b = d.mul(a, a)
    d.mul(b, b)
    finish, issue = sb.schedule(d, M)
    assert issue == [0, 14, 28] and finish == 42


def test_independent_products_and_adds():
    # by hand: a issues at 0 (ready 14), b at 4 (the array is busy 4 cycles; ready 18),
    # c = a + b at 18 (ready 21), e = c * c at 21 (ready 35); f independent of all: at 8
    d = sb.Dag()
    a = d.mul(None, None)
    b = d.mul(None, None)
    c = d.add(a, b)
    d.mul(c, c)
    d.mul(None, None)
    finish, issue = sb.schedule(d, M)
    assert issue[:4] == [0, 4, 18, 21] and issue[4] == 8
    assert finish == 35


def test_priority_prefers_the_long_path():
    # p1 feeds a chain of two more products, p2 is a leaf: p1 must issue first
    d = sb.Dag()
    p2 = d.mul(None, None)  # program order first, but off the critical path
    p1 = d.mul(None, None)
    d.mul(d.mul(p1, None), None)
    _, issue = sb.schedule(d, M)
    assert issue[p1] == 0 and issue[p2] == 4


def test_ed25519_madd_one_window():
    # one mixed addition alone (7 M, 7 add/sub; one adder, one issue per cycle)
    d = sb.Dag()
    sb.ed_madd(d, (None,) * 4)
    assert d.count("mul") == 7 and d.count("add") == 7
    finish, issue = sb.schedule(d, M)
    # by hand (ops in program order: s, df, dz, A, B, C, e, h, f, g, X3, Y3, Z3, T3):
    # C = T qt needs no addition: FM at 0 (ready 14).  Adds one per cycle: s 0, df 1, dz 2.
    # A = df qm and B = s qp both ready at 4 (FM free at 4; equal priority: program order):
    # A at 4, B at 8 (ready 22).  f = dz - C at 14, g at 15,
    # e = B - A at 22, h at 23.  Z3 = f g at 18 (g ready 18), X3 = e f at 25,
    # Y3 = g h and T3 = e h once h is ready (26): FM free at 29, 33.  Last result 33 + 14.
    assert issue == [0, 1, 2, 4, 8, 0, 22, 23, 14, 15, 25, 29, 18, 33]
    assert finish == 47


def test_formula_product_counts():
    for fn, args, muls in ((sb.w_madd, ((None,) * 3, True), 11),
                           (sb.w_madd, ((None,) * 3, False), 13),
                           (sb.w_add, ((None,) * 3, (None,) * 3, True), 12),
                           (sb.w_add, ((None,) * 3, (None,) * 3, False), 14),
                           (sb.ed_add, ((None,) * 4, (None,) * 4), 9)):
        d = sb.Dag()
        fn(d, *args)
        assert d.count("mul") == muls
    # Ed25519, 64 windows, 2 accumulators from the identity: 64 mixed additions (7 M) and one
    # complete addition (9 M); secp256k1, 65 windows, each accumulator starting at its first
    # table point: 63 mixed additions (11 M) and one complete addition (12 M)
    assert sb.basemul_dag("ed25519", 2).count("mul") == 64 * 7 + 9
    assert sb.basemul_dag("secp256k1", 2).count("mul") == 63 * 11 + 12


@pytest.mark.parametrize("n, cycles", [(0, 84), (32, 112), (55, 132), (64, 140), (111, 181),
                                       (112, 265), (128, 279), (200, 343), (256, 475),
                                       (1024, 1651)])
def test_sha512_cycles_match_docs(n, cycles):
    # the table of docs/hash.md, measured on hdl/hash/sha2.py
    assert sb.sha_cycles(n) == cycles


def test_sha_tail_by_hand():
    # 132 bytes = one full block + 4: after the last byte the final block still needs
    # its padding words and 80 rounds: cycles(132) = 196 + 83 + (4 + 1 - 1) = 283, of which
    # 196 (block 1) and 3 (bytes 129..131) were spent before the last byte
    assert sb.sha_cycles(132) == 283 and sb.sha_tail(132) == 84


def test_safegcd_counts():
    # Bernstein-Yang: floor((49 * 256 + 57) / 17) = 741 divsteps; 12 batches of 62
    m = sb.Machine()
    assert (49 * 256 + 57) // 17 == m.divsteps == 741
    inv = sb.safegcd(m, pair=False)
    assert inv["batches"] == 12
    # per batch: 62 divsteps + 4 narrow products (4 cycles each) + 14 latency = 92
    assert inv["period"] == 62 + 16 + 14
    # final: 6 d/e products (24) + 14 + one full product (16 + 26) = 80
    assert inv["cycles"] == 12 * 92 + 80


def test_admission_by_hand():
    # stage lengths A, B, C = 2, 5, 3; both requests arrive at 0.
    # request 0: A 0-2, B 2-7, C 7-10.  request 1: A-resource free at 2, B free at 7 -> A
    # may start at 7 - 2 = 5, C free at 10 -> 10 - 7 = 3: start 5, B 7-12, C 12-15
    prof = {"x": (2, 5, 3, "A")}
    out = sb.admit([(0, "x"), (0, "x")], prof)
    assert out == [(0, 10), (5, 15)]
    # a third request is spaced by the longest stage (5), service always 10
    out = sb.admit([(0, "x")] * 3, prof)
    assert [e - s for s, e in out] == [10, 10, 10] and out[2][0] - out[1][0] == 5


def test_report_meets_targets():
    rep = sb.report(sb.Machine(), 100)
    for curve, r in rep["curves"].items():
        assert r["single"] == r["A"]["latency"] + r["B"]["latency"] + r["C"]["latency"]
        assert r["single"] <= sb.TARGET[curve]
        assert r["speedup"] >= sb.PIPELINE_TARGET
        assert r["B"]["scan_fits"]
