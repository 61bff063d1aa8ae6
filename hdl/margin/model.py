"""Bit-exact model of the margin unit (docs/margin.md sections 2-5 and 8).

Python integers and NumPy int64, no Amaranth. The device side, :func:`device_margin`, takes
exactly what the gateware has: the book as 36-byte BRAM records, the MARGIN_SCENARIOS payload
and the MARGIN request payload; it returns the MARGIN result payload. The option values come
from the pricing pipeline's bit-exact model (``quantgate.hdl.pricing.model.pipeline`` with
``wide=True``), one call per position-scenario, as the gateware feeds the shared pipeline.
The host side (:func:`encode_book`, :func:`encode_scenarios`, :func:`encode_margin`,
:func:`decode_result`) is what the driver will do; :func:`fixed_margin` chains them into a
``MarginReport`` for comparison with ``quantgate.margin.reference_margin``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from quantgate import margin as spec
from quantgate.hdl.pricing import model as pricing
from quantgate.hdl.pricing import tables as tb

# --------------------------------------------------------------------------- device constants

CAPACITY = 4096  # records in block RAM (docs/margin.md section 4)
MAX_BUCKETS = 16
SLOTS = spec.N_SCENARIOS + 1  # 35 scenarios, then the base slot
BASE = spec.N_SCENARIOS  # slot index of the base evaluation
ACC_BITS = 136  # scenario and Greeks accumulators, two's complement
OPERAND_BITS = 72  # rounded sums entering the combination multiplier
OVERHEAD = 1024  # fixed post-loop clocks (drain + combination), padded by the sequencer
GREEKS_SLOT_PERIOD = 64  # every 64th clock of a revaluation is reserved for GREEKS
P_BITS = 53  # |price/F'| < 2**53 at Q48 (s5.48) in the book domain: the MAC's operand
# ... which holds for moves >= -0.8: K/F' e^-rT <= 5 / 0.2 * e^0.15 = 29 < 32, and then
# ln(F'/K) >= -ln 5 + ln 0.2 = -3.22 stays inside the wide pipeline's |x| <= 4
MOVE_MIN = -0.8
# magnitude bits of the base-slot Greeks at Q48, from the wide pipeline's formats
GAMMA_BITS, VEGA_BITS, THETA_BITS = (sum(pricing.WIDE_SIGNALS[k][1:3]) for k in
                                     ("gamma", "vega", "theta"))

RECORD_BYTES = 36
# (name, first bit, width, signed): the 288-bit record, little-endian
RECORD_FIELDS = (
    ("Q", 0, 56, True),
    ("lnK", 56, 48, True),  # s5.42
    ("T", 104, 50, False),  # u2.48: the pipeline's own T, exact at one minute too
    ("sig", 154, 42, False),  # u3.39
    ("sig_up", 196, 42, False),
    ("sig_down", 238, 42, False),
    ("kind", 280, 2, False),
    ("bucket", 282, 4, False),
    ("clamp_up", 286, 1, False),
    ("clamp_down", 287, 1, False),
)
F_LNK, F_T, F_SIG = 42, 48, 39  # fractional bits of the record's lnK, T and vols
Q_LOAD_BITS = 52  # |Q| < 2**52 at load (fills may grow it to the field's 2**55)

# Base-moneyness check: |ln F - ln K| <= ln 5, with 2**-40 of slack for the host's roundings
X_BOOK_LIM = tb.q_in(math.log(spec.MONEYNESS_MAX)) + (1 << 8)

STATUS_OK, STATUS_MONEYNESS, STATUS_DOMAIN = 0, 1, 2

# MARGIN_SCENARIOS: mm_factor Q53, first u8, count u8, then entries of ln(1+m) Q48, 1+m Q48,
# m/(1+m) Q48, weight Q53, vol code. Weights at Q53 because weight x pnl must stay exact to
# 1e-9 of G even at +500 % (|pnl| up to 6 G): Q31 would cost 2**-32 x 6 G = 1.4e-9 G.
F_WEIGHT = 53  # weights and mm_factor (<= 1): a 54-bit operand of the combination MAC
SCENARIOS_HEAD = struct.Struct("<QBB")
SCENARIO_STRUCT = struct.Struct("<qQqQB")  # 33 bytes
SCENARIOS_PER_FRAME = 30  # 10 + 30 x 33 = 1,000 bytes <= MAX_PAYLOAD
SHIFT_NAMES = ("Rs", "Ru", "Rp", "Rd", "Rg1", "Rg2", "Rv1", "Rv2", "Rt1", "Rt2")
MARGIN_HEAD = struct.Struct("<BBq10B")  # flags, n_buckets, rate Q48, shifts
BUCKET_STRUCT = struct.Struct("<qQQ")  # ln F Q48, F~ = F 2**Ef, R~ = 2**Eg / F
RESULT_HEAD = struct.Struct("<BHBHIqq")  # status, index, worst, clamped, cycles, IM, MM
RESULT_BYTES = RESULT_HEAD.size + 8 * (spec.N_SCENARIOS + 4)  # 338
FLAG_COIN = 0x01


def cycles(n_positions: int) -> int:
    """Clocks of one revaluation (docs/margin.md 3.2): 36 slots per position, every 64th
    clock reserved for GREEKS, then the fixed post-loop overhead."""
    m = SLOTS * n_positions
    return m + (m - 1) // (GREEKS_SLOT_PERIOD - 1) + OVERHEAD if m else OVERHEAD


def _round_shift(a: int, s: int) -> int:
    """round half up (a / 2**s): the pipeline's rounding (add 2**(s-1), arithmetic shift)."""
    return (a + (1 << (s - 1))) >> s if s > 0 else a


def _fit(name: str, v: int, bits: int) -> int:
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise OverflowError(f"{name} = {v} does not fit s{bits}")
    return v


# --------------------------------------------------------------------------- records


def pack_record(fields: dict) -> bytes:
    word = 0
    for name, lo, width, signed in RECORD_FIELDS:
        v = int(fields[name])
        lim = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        if not lim[0] <= v <= lim[1]:
            raise ValueError(f"record field {name} = {v} does not fit "
                             f"{'s' if signed else 'u'}{width}")
        word |= (v & ((1 << width) - 1)) << lo
    return word.to_bytes(RECORD_BYTES, "little")


def unpack_record(raw: bytes) -> dict:
    word = int.from_bytes(raw, "little")
    out = {}
    for name, lo, width, signed in RECORD_FIELDS:
        v = (word >> lo) & ((1 << width) - 1)
        if signed and v >> (width - 1):
            v -= 1 << width
        out[name] = v
    return out


@dataclass(frozen=True)
class BookImage:
    """What the host keeps of a loaded book: the records and the book scale."""

    records: bytes  # n x 36 bytes, as LOAD_BOOK sends and the BRAM holds them
    eq: int  # quantity = Q * 2**-eq
    abs_q: tuple[int, ...]  # sum |Q| per bucket (exact), for the shift bounds

    @property
    def n(self) -> int:
        return len(self.records) // RECORD_BYTES


def _rint_fixed(v, frac: int) -> np.ndarray:
    return np.rint(np.ldexp(np.asarray(v, dtype=np.float64), frac)).astype(np.int64)


def encode_book(book, params: spec.MarginParams | None = None) -> BookImage:
    """Host side of LOAD_BOOK: validate, choose the book scale Eq, compute the shocked vols and
    round every field into the record format."""
    p = params or spec.MarginParams()
    book = spec.validate_book(book, CAPACITY)
    kind, bucket = book["kind"].astype(int), book["bucket"].astype(int)
    opt = kind != spec.FUTURE
    if np.any(bucket >= MAX_BUCKETS):
        i = int(np.flatnonzero(bucket >= MAX_BUCKETS)[0])
        raise ValueError(f"position {i}: bucket {bucket[i]} is beyond the device's "
                         f"{MAX_BUCKETS} buckets")
    short = opt & (book["expiry"] < pricing.T_WIDE_MIN)
    if np.any(short):
        i = int(np.flatnonzero(short)[0])
        raise ValueError(f"position {i}: expiry {book['expiry'][i]!r} years is under the "
                         "device's one-minute minimum (docs/margin.md 6.3)")
    with np.errstate(divide="ignore"):
        lnk = np.where(opt, np.log(np.where(opt, book["strike"], 1.0)), 0.0)
    if np.any(np.abs(lnk) >= 32):
        raise ValueError("a strike is outside the record's ln K range (e^-32, e^32)")
    qmax = float(np.max(np.abs(book["quantity"]))) if len(book) else 0.0
    eq = Q_LOAD_BITS - math.frexp(qmax)[1] if qmax > 0 else 0
    Q = _rint_fixed(book["quantity"], eq)
    up, down, cu, cd = spec.shocked_vols(np.where(opt, book["vol"], 1.0),
                                         np.where(opt, book["expiry"], 1.0), p)
    t_lo, t_hi = pricing.T_WIDE_MIN_FX, tb.T_MAX_FX
    sh = 1 << (tb.FIN - F_SIG)  # vols stored << 9 stay in the pipeline's bounds
    s_lo, s_hi = -(-tb.SIGMA_MIN_FX // sh), tb.SIGMA_MAX_FX // sh
    cols = {
        "Q": Q,
        "lnK": _rint_fixed(lnk, F_LNK),
        "T": np.clip(_rint_fixed(book["expiry"], F_T), t_lo, t_hi),
        "sig": np.clip(_rint_fixed(book["vol"], F_SIG), s_lo, s_hi),
        "sig_up": np.clip(_rint_fixed(up, F_SIG), s_lo, s_hi),
        "sig_down": np.clip(_rint_fixed(down, F_SIG), s_lo, s_hi),
        "clamp_up": cu, "clamp_down": cd,
    }
    raw = bytearray()
    abs_q = [0] * MAX_BUCKETS
    for i in range(len(book)):
        rec = {"kind": kind[i], "bucket": bucket[i]}
        if opt[i]:
            rec |= {k: int(v[i]) for k, v in cols.items()}
        else:  # futures: only Q, kind and bucket
            rec |= {k: 0 for k in cols} | {"Q": int(Q[i])}
        raw += pack_record(rec)
        abs_q[bucket[i]] += abs(int(Q[i]))
    return BookImage(bytes(raw), eq, tuple(abs_q))


def sample_book(rng: np.random.Generator, n: int, forwards, short: float = 0.2) -> np.ndarray:
    """Every kind over the book domain: F/K in [0.2, 5], vol 1 %..500 % (log-uniform), expiry
    1 minute..3 years, a fraction ``short`` under two days (log-uniform from one minute, so
    half of those under one hour); quantities of mixed sizes."""
    b = np.zeros(n, spec.BOOK_DTYPE)
    b["kind"] = rng.integers(0, 3, n)
    b["bucket"] = rng.integers(0, len(forwards), n)
    long_t = np.exp(rng.uniform(np.log(2 / 365), np.log(3.0), n))
    short_t = np.exp(rng.uniform(np.log(pricing.T_WIDE_MIN), np.log(2 / 365), n))
    b["expiry"] = np.where(rng.random(n) < short, short_t, long_t)
    b["vol"] = np.exp(rng.uniform(np.log(0.01), np.log(5.0), n))
    b["strike"] = forwards[b["bucket"]] / np.exp(rng.uniform(np.log(0.2), np.log(5.0), n))
    b["quantity"] = rng.normal(0, 1, n) * 10 ** rng.uniform(-2, 3, n)
    fut = b["kind"] == 2
    b["strike"][fut] = b["expiry"][fut] = b["vol"][fut] = 0.0
    return b


# --------------------------------------------------------------------------- requests


def encode_scenarios(params: spec.MarginParams | None = None) -> list[bytes]:
    """MARGIN_SCENARIOS payloads (two frames: scenarios 0..29 and 30..34)."""
    p = params or spec.MarginParams()
    moves, vcode, weights, _ = spec.scenario_grid(p)
    if moves.min() < MOVE_MIN:
        raise ValueError(f"move {moves.min():g}: the device takes moves down to {MOVE_MIN:g} "
                         "(a put's price/F' must stay below 32 for the MAC)")
    mm = int(np.rint(math.ldexp(p.mm_factor, F_WEIGHT)))
    entries = [SCENARIO_STRUCT.pack(tb.q_in(math.log1p(m)), tb.q_in(1 + m), tb.q_in(m / (1 + m)),
                                    int(np.rint(math.ldexp(w, F_WEIGHT))), int(v))
               for m, v, w in zip(moves, vcode, weights, strict=True)]
    return [SCENARIOS_HEAD.pack(mm, first, len(entries[first:first + SCENARIOS_PER_FRAME]))
            + b"".join(entries[first:first + SCENARIOS_PER_FRAME])
            for first in range(0, spec.N_SCENARIOS, SCENARIOS_PER_FRAME)]


def scenario_table(frames: list[bytes]):
    """The device's scenario table from MARGIN_SCENARIOS frames: (mm, 35 entries)."""
    table: dict[int, tuple] = {}
    mm = None
    for raw in frames:
        mm_f, first, count = SCENARIOS_HEAD.unpack_from(raw)
        if (not 1 <= count <= SCENARIOS_PER_FRAME or first + count > spec.N_SCENARIOS
                or len(raw) != SCENARIOS_HEAD.size + count * SCENARIO_STRUCT.size):
            raise ValueError(f"MARGIN_SCENARIOS frame of {len(raw)} bytes, first {first}, "
                             f"count {count}")
        if first == 0:
            table, mm = {}, mm_f
        for k in range(count):
            table[first + k] = SCENARIO_STRUCT.unpack_from(
                raw, SCENARIOS_HEAD.size + k * SCENARIO_STRUCT.size)
    if mm is None or len(table) != spec.N_SCENARIOS:
        raise ValueError("the scenario table is incomplete (BOOK_NOT_READY)")
    return mm, [table[j] for j in range(spec.N_SCENARIOS)]


@dataclass(frozen=True)
class Scales:
    """Host-only exponents: every i64 output times 2**exp is the value (docs/margin.md 5.1)."""

    pnl: int
    delta: int
    gamma: int
    vega: int
    theta: int


def _bitlen(v: int) -> int:
    return int(v).bit_length()


def encode_margin(image: BookImage, forwards, *, rate: float = 0.0,
                  currency: str = "usd") -> tuple[bytes, Scales]:
    """MARGIN request payload for a tick, and the scales to read its result with."""
    spec.validate_tick(rate, currency)
    fw = spec.validate_forwards(forwards)
    nb = len(fw)
    if nb > MAX_BUCKETS:
        raise ValueError(f"{nb} forwards: the device holds at most {MAX_BUCKETS} buckets")
    if np.any(np.abs(np.log(fw)) >= 32):
        raise ValueError("a forward is outside the ln F range (e^-32, e^32)")
    ef = 52 - math.frexp(float(fw.max()))[1]
    eg = 52 - math.frexp(float(1.0 / fw.min()))[1]
    ft = [int(np.rint(math.ldexp(f, ef))) for f in fw]
    rt = [int(np.rint(math.ldexp(1.0 / f, eg))) for f in fw]
    aq = image.abs_q[:nb]
    sq = sum(image.abs_q)
    coin = currency == "coin"

    def first(extra_bits):  # round a 136-bit sum to a 72-bit operand (<= 2**70)
        return max(0, _bitlen(sq) + extra_bits - 70)

    def second(r1, extra_bits, mult):  # round a sum of mult x operand to i64 (<= 2**62)
        bound = sum(m * -(-(a << extra_bits) >> r1) for m, a in zip(mult, aq, strict=True))
        return max(0, _bitlen(bound) - 62)

    rs = first(P_BITS)
    if coin:
        ru, rp = 0, 10  # |P| < 2 (2**70 + 16) < 2**72
    else:
        ru = max(0, _bitlen(sum(f * -(-(a << P_BITS) >> rs) for f, a in zip(ft, aq, strict=True)))
                 - 70)
        rp = 11  # |P| <= 7 * 2**70 + 1 < 2**73
    rd = max(0, _bitlen(sq) + 49 - 62)  # |delta| <= e^0.15 < 2 per unit
    # the wide pipeline's output formats: gamma F u15.48, vega/F u0.48, theta/F s10.48
    rg1, rv1, rt1 = first(GAMMA_BITS), first(VEGA_BITS), first(THETA_BITS)
    rg2 = second(rg1, GAMMA_BITS, rt)
    rv2, rt2 = second(rv1, VEGA_BITS, ft), second(rt1, THETA_BITS, ft)
    shifts = (rs, ru, rp, rd, rg1, rg2, rv1, rv2, rt1, rt2)
    out = bytearray(MARGIN_HEAD.pack(FLAG_COIN if coin else 0, nb, tb.q_in(rate), *shifts))
    for f, a, b in zip(fw, ft, rt, strict=True):
        out += BUCKET_STRUCT.pack(tb.q_in(math.log(f)), a, b)
    base = -image.eq - 48  # Q p sums are in units of 2**(-eq - 48)
    scales = Scales(
        pnl=base + rs + rp + (0 if coin else ru - ef),
        delta=base + rd,
        gamma=base + rg1 + rg2 - eg,
        vega=base + rv1 + rv2 - ef,
        theta=base + rt1 + rt2 - ef,
    )
    return bytes(out), scales


# --------------------------------------------------------------------------- the device


def _parse_margin(payload: bytes):
    if len(payload) < MARGIN_HEAD.size:
        raise ValueError("MARGIN payload too short")
    flags, nb, rate, *shifts = MARGIN_HEAD.unpack_from(payload)
    if not 1 <= nb <= MAX_BUCKETS or len(payload) != MARGIN_HEAD.size + nb * BUCKET_STRUCT.size:
        raise ValueError(f"MARGIN payload of {len(payload)} bytes for {nb} buckets")
    buckets = [BUCKET_STRUCT.unpack_from(payload, MARGIN_HEAD.size + i * BUCKET_STRUCT.size)
               for i in range(nb)]
    return flags, rate, dict(zip(SHIFT_NAMES, shifts, strict=True)), buckets

@dataclass(frozen=True)
class PositionScenarios:
    """What the sequencer computes before the pipeline (docs/margin.md 2-3): the per-position
    checks and, for every option, the 36 pipeline inputs in slot order (35 scenarios, base)."""

    n: int
    status: int  # STATUS_OK or STATUS_MONEYNESS (the first failing position is ``index``)
    index: int
    clamped: int  # clamp flags of the options before the first failure
    Q: np.ndarray  # per position
    kind: np.ndarray
    bucket: np.ndarray
    options: np.ndarray  # positions that take the pipeline (kind call or put), in book order
    x: np.ndarray  # options x 36, Q48: ln F_b - (lnK << 6) + ln(1 + m_j)
    T: np.ndarray  # options x 36, Q48
    sig: np.ndarray  # options x 36, Q48: sigma_up / sigma / sigma_down by vol code, << 9
    call: np.ndarray  # options x 36
    rate: int  # Q48, the pipeline's r (and q: Black-76 ignores it)


def position_scenarios(records: bytes, scenarios: list[bytes],
                       request: bytes) -> PositionScenarios:
    """The sequencer's half of :func:`device_margin`: every position is checked and every
    option's slots computed (the gateware issues all of them whatever the status)."""
    _, scen = scenario_table(scenarios)
    _, rate, _, buckets = _parse_margin(request)
    ln1pm = np.array([s[0] for s in scen] + [0], dtype=np.int64)  # the base slot: m = 0
    vcode = np.array([s[4] for s in scen] + [spec.VOL_SAME], dtype=np.int64)
    n = len(records) // RECORD_BYTES
    recs = [unpack_record(records[i * RECORD_BYTES:(i + 1) * RECORD_BYTES]) for i in range(n)]
    nb = len(buckets)
    status, index, clamped = STATUS_OK, 0, 0
    for i, r in enumerate(recs):
        if status == STATUS_OK and r["kind"] == 3:
            raise ValueError(f"record {i}: kind 3 (LOAD_BOOK rejects it)")
        bad = r["bucket"] >= nb or (r["kind"] != spec.FUTURE and abs(
            buckets[r["bucket"]][0] - (r["lnK"] << (tb.FIN - F_LNK))) > X_BOOK_LIM)
        if status == STATUS_OK and bad:
            status, index = STATUS_MONEYNESS, i
        if status == STATUS_OK and r["kind"] != spec.FUTURE:
            clamped += r["clamp_up"] + r["clamp_down"]
    col = {k: np.array([r[k] for r in recs], dtype=np.int64)
           for k in ("Q", "lnK", "T", "sig", "sig_up", "sig_down", "kind", "bucket")}
    options = np.flatnonzero(col["kind"] != spec.FUTURE) if n else np.zeros(0, dtype=np.int64)
    rec = {k: v[options] for k, v in col.items()}
    lnf = np.array([bk[0] for bk in buckets] + [0] * (MAX_BUCKETS - nb), dtype=np.int64)
    x = (lnf[rec["bucket"]] - (rec["lnK"] << (tb.FIN - F_LNK)))[:, None] + ln1pm[None, :]
    sig = np.select([vcode == spec.VOL_UP, vcode == spec.VOL_DOWN],
                    [rec["sig_up"][:, None], rec["sig_down"][:, None]],
                    rec["sig"][:, None]) << (tb.FIN - F_SIG)
    T = np.broadcast_to((rec["T"] << (tb.FIN - F_T))[:, None], x.shape)
    call = np.broadcast_to((rec["kind"] == spec.CALL)[:, None], x.shape)
    return PositionScenarios(n, status, index, clamped, col["Q"], col["kind"], col["bucket"],
                             options, x, T, sig, call, rate)


@dataclass(frozen=True)
class Accumulation:
    """The loop's result (docs/margin.md 2-3, 5.2): the MAC operand of every position-slot and
    the 136-bit accumulators they sum into (zeros unless the status is ok)."""

    n: int
    status: int
    index: int
    clamped: int
    Q: np.ndarray  # per position, as in the records
    bucket: np.ndarray
    p: np.ndarray  # n x 36: price/F' (options, the pipeline), 1 or c_j (futures), Q48
    S: list  # S[bucket][slot] = sum of Q x p
    G: list  # G[bucket][g] = sum of Q x (delta, gamma F, vega/F, theta/F) at the base slot


def accumulate(records: bytes, scenarios: list[bytes], request: bytes) -> Accumulation:
    """The loop of :func:`device_margin`: the sequencer's inputs through the wide pipeline's
    model, then the MAC into the scenario and Greeks accumulators."""
    _, scen = scenario_table(scenarios)
    flags, _, _, _ = _parse_margin(request)
    coin = bool(flags & FLAG_COIN)
    cfut = [e[2] for e in scen]
    pre = position_scenarios(records, scenarios, request)
    status, index, n = pre.status, pre.index, pre.n
    S = [[0] * SLOTS for _ in range(MAX_BUCKETS)]  # scenario accumulators S[b][slot]
    G = [[0] * 4 for _ in range(MAX_BUCKETS)]  # delta, gamma F, vega/F, theta/F
    p = np.zeros((n, SLOTS), dtype=np.int64)
    fut_p = [(cfut[j] if j < BASE else 0) if coin else 1 << tb.FOUT for j in range(SLOTS)]
    if status == STATUS_OK:
        for i in range(n):  # futures: a constant instead of the pipeline: 1 (usd), c_j (coin)
            if pre.kind[i] == spec.FUTURE:
                b, q = int(pre.bucket[i]), int(pre.Q[i])
                p[i] = fut_p
                for j in range(SLOTS):
                    S[b][j] += q * fut_p[j]
                G[b][0] += q << tb.FOUT
    options = pre.options.tolist()
    if status == STATUS_OK and options:
        out = pricing.pipeline(pre.x, pre.T, pre.sig, pre.rate, pre.rate, pre.call, True,
                               wide=True)
        if np.any(out["error"]):
            k = int(np.flatnonzero(np.any(out["error"], axis=1))[0])
            status, index = STATUS_DOMAIN, options[k]
        else:
            price = out["price"]
            if np.any(np.abs(price) >= 1 << P_BITS):
                raise OverflowError("price/F' outside the MAC's s5.48 operand")
            for k, i in enumerate(options):
                b, q = int(pre.bucket[i]), int(pre.Q[i])
                p[i] = price[k]
                row = S[b]
                for j, pj in enumerate(price[k].tolist()):
                    row[j] += q * pj  # exact: the 4x3-limb product and the 136-bit sum
                for g, name in enumerate(("delta", "gamma", "vega", "theta")):
                    G[b][g] += q * int(out[name][k, BASE])
    for b in range(MAX_BUCKETS):
        for v in S[b] + G[b]:
            _fit("accumulator", v, ACC_BITS)
    if status != STATUS_OK:
        S = [[0] * SLOTS for _ in range(MAX_BUCKETS)]
        G = [[0] * 4 for _ in range(MAX_BUCKETS)]
    return Accumulation(n, status, index, pre.clamped, pre.Q, pre.bucket, p, S, G)


def device_margin(records: bytes, scenarios: list[bytes], request: bytes) -> bytes:
    """The gateware's computation: BRAM records + MARGIN_SCENARIOS + MARGIN -> result payload."""
    if len(records) % RECORD_BYTES or len(records) // RECORD_BYTES > CAPACITY:
        raise ValueError("records must be whole 36-byte records, at most CAPACITY of them")
    mm, scen = scenario_table(scenarios)
    flags, rate, sh, buckets = _parse_margin(request)
    coin = bool(flags & FLAG_COIN)
    grow = [s[1] for s in scen]
    weight = [s[3] for s in scen]

    acc = accumulate(records, scenarios, request)
    status, index, clamped, n = acc.status, acc.index, acc.clamped, acc.n
    S, G = acc.S, acc.G
    nb = len(buckets)

    if status != STATUS_OK:  # the values are 0, the status and index say why
        return RESULT_HEAD.pack(status, index, 0, 0, cycles(n), 0, 0) + bytes(
            8 * (spec.N_SCENARIOS + 4))

    # ---- combination (docs/margin.md 5.3)
    def op(v, s):
        return _fit("operand", _round_shift(v, s), OPERAND_BITS)

    ft = [bk[1] for bk in buckets] + [0] * (MAX_BUCKETS - nb)
    rt = [bk[2] for bk in buckets] + [0] * (MAX_BUCKETS - nb)
    Sr = [[op(S[b][j], sh["Rs"]) for j in range(SLOTS)] for b in range(MAX_BUCKETS)]
    if coin:
        C = [sum(Sr[b][j] for b in range(MAX_BUCKETS)) for j in range(SLOTS)]
        P = [C[j] - C[BASE] for j in range(BASE)]
    else:
        U = [op(sum(ft[b] * Sr[b][j] for b in range(MAX_BUCKETS)), sh["Ru"]) for j in range(SLOTS)]
        P = [_round_shift(grow[j] * U[j], tb.FOUT) - U[BASE] for j in range(BASE)]
    pnl = [_fit("pnl", _round_shift(v, sh["Rp"]), 64) for v in P]
    loss = [_round_shift(w * -v, F_WEIGHT) for w, v in zip(weight, pnl, strict=True)]
    worst = max(range(BASE), key=lambda j: (loss[j], -j))
    im = max(0, loss[worst])
    mmv = _round_shift(mm * im, F_WEIGHT)

    def greek(g, r1, r2, mult):
        if mult is None:
            return _round_shift(sum(G[b][g] for b in range(MAX_BUCKETS)), r1)
        return _round_shift(sum(m * op(G[b][g], r1) for b, m in enumerate(mult)), r2)

    greeks = [greek(0, sh["Rd"], 0, None), greek(1, sh["Rg1"], sh["Rg2"], rt),
              greek(2, sh["Rv1"], sh["Rv2"], ft), greek(3, sh["Rt1"], sh["Rt2"], ft)]
    for v in greeks:
        _fit("greek", v, 64)
    return (RESULT_HEAD.pack(STATUS_OK, 0, worst, clamped, cycles(n), im, mmv)
            + struct.pack(f"<{spec.N_SCENARIOS}q", *pnl) + struct.pack("<4q", *greeks))


# --------------------------------------------------------------------------- host: the result


def decode_result(payload: bytes, scales: Scales, labels) -> spec.MarginReport:
    if len(payload) != RESULT_BYTES:
        raise ValueError(f"MARGIN result of {len(payload)} bytes (expected {RESULT_BYTES})")
    status, index, worst, clamped, cyc, im, mmv = RESULT_HEAD.unpack_from(payload)
    if status == STATUS_MONEYNESS:
        raise ValueError(f"the device rejected position {index}: its base moneyness is outside "
                         f"[{spec.MONEYNESS_MIN}, {spec.MONEYNESS_MAX}] or its bucket has no "
                         "forward")
    if status != STATUS_OK:
        raise ValueError(f"the device rejected position {index}: a scenario input is outside "
                         "the pricing domain")
    vals = struct.unpack_from(f"<{spec.N_SCENARIOS + 4}q", payload, RESULT_HEAD.size)
    pnl = np.ldexp(np.array(vals[:spec.N_SCENARIOS], dtype=np.float64), scales.pnl)
    d, g, v, t = vals[spec.N_SCENARIOS:]
    return spec.MarginReport(
        pnl=pnl, scenarios=tuple(labels), initial=math.ldexp(im, scales.pnl),
        maintenance=math.ldexp(mmv, scales.pnl), worst_scenario=worst,
        delta=math.ldexp(d, scales.delta), gamma=math.ldexp(g, scales.gamma),
        vega=math.ldexp(v, scales.vega), theta=math.ldexp(t, scales.theta), clamped=clamped,
        cycles=cyc)


def fixed_margin(book, forwards, *, rate: float = 0.0, params: spec.MarginParams | None = None,
                 currency: str = "usd") -> spec.MarginReport:
    """Host encoding -> bit-exact device -> host decoding: what the appliance will answer."""
    p = params or spec.MarginParams()
    book = spec.validate_book(book, CAPACITY)
    spec.validate_forwards(forwards, book)
    image = encode_book(book, p)
    request, scales = encode_margin(image, forwards, rate=rate, currency=currency)
    result = device_margin(image.records, encode_scenarios(p), request)
    return decode_result(result, scales, spec.scenario_grid(p)[3])


# --------------------------------------------------------------------------- commands

# Proposed opcodes (docs/margin.md section 8); not in quantgate/wire.py until the gateware
# serves them.
OP_MARGIN_SCENARIOS, OP_LOAD_BOOK, OP_UPDATE_BOOK, OP_MARGIN = 0x40, 0x41, 0x42, 0x43
ERR_BAD_ARGUMENT = 0x06  # wire.Err.BAD_ARGUMENT
ERR_BOOK_NOT_READY = 0x0D  # proposed (0x0B, 0x0C are the connector's)
LOAD_HEAD = struct.Struct("<HH")  # n_total, first
RECORDS_PER_LOAD = 28  # 4 + 28 x 36 = 1,012 bytes
UPDATES_PER_FRAME = 26  # 1 + 26 x 38 = 989 bytes


def load_book_payloads(image: BookImage) -> list[bytes]:
    """LOAD_BOOK payloads for a whole book, in order (an empty book is one empty frame)."""
    step = RECORDS_PER_LOAD * RECORD_BYTES
    return [LOAD_HEAD.pack(image.n, first // RECORD_BYTES) + image.records[first:first + step]
            for first in range(0, max(len(image.records), 1), step)]


def update_book(image: BookImage, indices, rows, params: spec.MarginParams | None = None):
    """Host side of UPDATE_BOOK (fills, vol updates): re-encode ``rows`` at the book's scale Eq.
    Returns (new image, payloads). A quantity beyond the record's s56 needs a reload."""
    rows = spec.validate_book(np.asarray(rows), CAPACITY)
    idx = [int(i) for i in np.ravel(indices)]
    if len(idx) != len(rows):
        raise ValueError(f"{len(idx)} indices for {len(rows)} rows")
    for i in idx:
        if not 0 <= i < image.n:
            raise ValueError(f"index {i} is outside the book of {image.n} positions")
    if rows.size and np.max(np.abs(rows["quantity"])) * 2.0**image.eq >= 2.0**55:
        raise ValueError("a quantity is beyond the loaded book's scale (the record holds 8 to "
                         "16x the largest position at load): load the book again")
    fresh = encode_book(rows, params)  # its own scale; re-round the quantities at the book's
    recs = bytearray(image.records)
    abs_q = list(image.abs_q)
    payload, frames = bytearray(), []
    for k, i in enumerate(idx):
        old = unpack_record(recs[i * RECORD_BYTES:(i + 1) * RECORD_BYTES])
        new = unpack_record(fresh.records[k * RECORD_BYTES:(k + 1) * RECORD_BYTES])
        new["Q"] = int(np.rint(math.ldexp(float(rows["quantity"][k]), image.eq)))
        abs_q[old["bucket"]] -= abs(old["Q"])
        abs_q[new["bucket"]] += abs(new["Q"])
        raw = pack_record(new)
        recs[i * RECORD_BYTES:(i + 1) * RECORD_BYTES] = raw
        payload += struct.pack("<H", i) + raw
        if (k + 1) % UPDATES_PER_FRAME == 0 or k + 1 == len(idx):
            frames.append(bytes([len(payload) // (RECORD_BYTES + 2)]) + bytes(payload))
            payload = bytearray()
    return BookImage(bytes(recs), image.eq, tuple(abs_q)), frames


class MarginUnit:
    """The margin core's command behaviour (docs/margin.md section 8): state, checks, error
    codes. ``handle`` returns (result payload, None) or (None, error code); the unit keeps
    answering after any error."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self.records = bytearray()
        self.n_total = 0
        self.loaded = 0
        self.book_started = False  # a LOAD_BOOK with first = 0 has arrived
        self.scenarios: list[bytes] = []

    @property
    def book_ready(self) -> bool:
        return self.book_started and self.loaded == self.n_total

    @property
    def ready(self) -> bool:
        return self.book_ready and self._scenarios_ok()

    def _scenarios_ok(self) -> bool:
        try:
            scenario_table(self.scenarios)
        except ValueError:
            return False
        return True

    @staticmethod
    def _record_ok(raw: bytes) -> bool:
        r = unpack_record(raw)
        if r["kind"] == 3:
            return False
        if r["kind"] == spec.FUTURE:
            return True
        sig_lo, sig_hi = tb.SIGMA_MIN_FX, tb.SIGMA_MAX_FX
        vols = [r[k] << (tb.FIN - F_SIG) for k in ("sig", "sig_up", "sig_down")]
        return (pricing.T_WIDE_MIN_FX <= r["T"] <= tb.T_MAX_FX
                and all(sig_lo <= v <= sig_hi for v in vols))

    def handle(self, opcode: int, payload: bytes):
        if opcode == OP_MARGIN_SCENARIOS:
            if len(payload) < SCENARIOS_HEAD.size:
                return None, ERR_BAD_ARGUMENT
            _, first, count = SCENARIOS_HEAD.unpack_from(payload)
            if (not 1 <= count <= SCENARIOS_PER_FRAME or first + count > spec.N_SCENARIOS
                    or len(payload) != SCENARIOS_HEAD.size + count * SCENARIO_STRUCT.size):
                return None, ERR_BAD_ARGUMENT
            self.scenarios = [payload] if first == 0 else self.scenarios + [payload]
            return b"", None
        if opcode == OP_LOAD_BOOK:
            if len(payload) < LOAD_HEAD.size or (len(payload) - LOAD_HEAD.size) % RECORD_BYTES:
                return None, ERR_BAD_ARGUMENT
            n_total, first = LOAD_HEAD.unpack_from(payload)
            body = payload[LOAD_HEAD.size:]
            k = len(body) // RECORD_BYTES
            restart = first == 0  # a rejected frame changes nothing, a restart included
            if (n_total > self.capacity or k > RECORDS_PER_LOAD or first + k > n_total
                    or (not restart and (first != self.loaded or n_total != self.n_total))
                    or not all(self._record_ok(body[j * RECORD_BYTES:(j + 1) * RECORD_BYTES])
                               for j in range(k))):
                return None, ERR_BAD_ARGUMENT
            if restart:
                self.n_total, self.loaded, self.records = n_total, 0, bytearray()
                self.book_started = True
            self.records += body
            self.loaded += k
            return struct.pack("<H", self.loaded), None
        if opcode == OP_UPDATE_BOOK:
            if not payload or len(payload) != 1 + payload[0] * (RECORD_BYTES + 2) or \
                    not 1 <= payload[0] <= UPDATES_PER_FRAME:
                return None, ERR_BAD_ARGUMENT
            if not self.book_ready:
                return None, ERR_BOOK_NOT_READY
            ups = []
            for j in range(payload[0]):
                off = 1 + j * (RECORD_BYTES + 2)
                (i,) = struct.unpack_from("<H", payload, off)
                raw = payload[off + 2:off + 2 + RECORD_BYTES]
                if i >= self.n_total or not self._record_ok(raw):
                    return None, ERR_BAD_ARGUMENT
                ups.append((i, raw))
            for i, raw in ups:  # all or nothing
                self.records[i * RECORD_BYTES:(i + 1) * RECORD_BYTES] = raw
            return b"", None
        if opcode == OP_MARGIN:
            if not self.ready:
                return None, ERR_BOOK_NOT_READY
            try:
                _parse_margin(payload)
            except (ValueError, struct.error):
                return None, ERR_BAD_ARGUMENT
            return device_margin(bytes(self.records), self.scenarios, payload), None
        raise ValueError(f"opcode {opcode:#x} is not the margin core's")
