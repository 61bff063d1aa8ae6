"""The host's greeks API: against the simulated appliance (sim://, the Verilated gateware), and
its packing, validation and CLI against an in-process model of the device.

Results are checked against the independent float64 reference (hdl/pricing/reference.py)
within the accuracy limits of docs/numerics.md, and against the bit-exact model scaled the same
way (equality).
"""

import asyncio
import binascii
import json
import struct

import numpy as np
import pytest
from cobs import cobs

from quantgate import greeks as gk
from quantgate import wire
from quantgate.hdl.pricing import model as md
from quantgate.hdl.pricing.reference import greeks_ref
from quantgate.host import GREEKS_DTYPE, OPTIONS_DTYPE, Appliance, AsyncAppliance, Greeks, errors
from quantgate.host.cli import main as cli_main

KNOWN = [  # docs/references.md: inputs, model, {output: (value, decimals)}
    (dict(spot=60, strike=65, expiry_years=0.25, rate=0.08, carry=0.0, vol=0.30, call=True),
     "bsm", {"price": (2.1334, 4)}),
    (dict(spot=100, strike=95, expiry_years=0.5, rate=0.10, carry=0.05, vol=0.20, call=False),
     "bsm", {"price": (2.4648, 4)}),
    (dict(spot=19, strike=19, expiry_years=0.75, rate=0.10, vol=0.28, call=True),
     "black76", {"price": (1.7011, 4)}),
    (dict(spot=19, strike=19, expiry_years=0.75, rate=0.10, vol=0.28, call=False),
     "black76", {"price": (1.7011, 4)}),
    (dict(spot=105, strike=100, expiry_years=0.5, rate=0.10, carry=0.10, vol=0.36, call=True),
     "bsm", {"delta": (0.5946, 4)}),
    (dict(spot=105, strike=100, expiry_years=0.5, rate=0.10, carry=0.10, vol=0.36, call=False),
     "bsm", {"delta": (-0.3566, 4)}),
    (dict(spot=55, strike=60, expiry_years=0.75, rate=0.10, vol=0.30, call=True),
     "bsm", {"gamma": (0.0278, 4), "vega": (18.9358, 4)}),
    (dict(spot=430, strike=405, expiry_years=1 / 12, rate=0.07, carry=0.05, vol=0.20,
          call=False), "bsm", {"theta": (-31.1924, 4)}),
    (dict(spot=72, strike=75, expiry_years=1.0, rate=0.09, vol=0.19, call=True),
     "bsm", {"rho": (38.7325, 4)}),
    (dict(spot=49, strike=50, expiry_years=20 / 52, rate=0.05, vol=0.20, call=True),
     "bsm", {"price": (2.4005, 4), "delta": (0.5216, 4), "gamma": (0.06554, 5),
             "vega": (12.105, 3), "theta": (-4.305, 3), "rho": (8.907, 3)}),
]

BAD = [  # (field, value, words the message must contain)
    ("spot", -1.0, ["spot", "positive"]), ("spot", float("nan"), ["spot"]),
    ("strike", 0.0, ["strike"]), ("spot", 501.0, ["spot/strike", "[0.2, 5]"]),
    ("expiry_years", 3.5, ["expiry", "years"]), ("expiry_years", 1e-5, ["expiry"]),
    ("vol", 0.005, ["vol", "[0.01, 5]"]), ("vol", 6.0, ["vol"]),
    ("rate", 0.6, ["rate", "[-0.05, 0.5]"]), ("carry", -0.06, ["carry", "[-0.05, 0.5]"]),
]
GOOD = dict(spot=100.0, strike=100.0, expiry_years=0.5, rate=0.05, vol=0.6)


def random_options(n: int, seed: int) -> np.ndarray:
    s = md.sample_domain(n, np.random.default_rng(seed))
    out = np.zeros(n, dtype=OPTIONS_DTYPE)
    for k in ("spot", "strike", "expiry", "rate", "carry", "vol", "call"):
        out[k] = s[k]
    return out


def check_against_references(opts: np.ndarray, got: np.ndarray, model: str):
    a = {k: opts[k] for k in ("spot", "strike", "expiry", "rate", "carry", "vol", "call")}
    assert got.dtype == GREEKS_DTYPE and len(got) == len(opts)
    res = {k: got[k] for k in gk.OUTPUTS}
    ref = greeks_ref(model=model, **a)
    err = md.normalised_errors(res, ref, a["spot"], a["strike"], a["expiry"])
    for k in gk.OUTPUTS:
        assert np.max(err[k]) <= md.TOLERANCE[k], (model, k, np.max(err[k]))
    bitexact = md.greeks_fixed(model=model, **a)
    for k in gk.OUTPUTS:
        assert np.array_equal(res[k], bitexact[k]), k


# --------------------------------------------------------------------------- the simulated device


@pytest.fixture(scope="module")
def dev():
    with Appliance.open("sim://") as d:
        yield d


def test_info_lists_greeks(dev):
    assert "greeks" in dev.info()["cores"]


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_batch_against_the_float64_reference(dev, model):
    opts = random_options(300, 7 if model == "bsm" else 76)
    got = dev.greeks_batch(opts, model=model)
    check_against_references(opts, got, model)


def test_known_values(dev):
    for inputs, model, expected in KNOWN:
        g = dev.greeks(**inputs, model=model)
        assert isinstance(g, Greeks)
        for k, (value, dec) in expected.items():
            assert abs(getattr(g, k) - value) <= 0.5 * 10.0**-dec, (inputs, k, g)


@pytest.mark.parametrize("field,value,words", BAD)
def test_out_of_domain_raises_before_sending(dev, field, value, words):
    before = dev.driver_stats["requests"]
    with pytest.raises(ValueError) as exc:
        dev.greeks(**dict(GOOD, **{field: value}))
    assert all(w in str(exc.value) for w in words), str(exc.value)
    opts = random_options(30, 3)
    opts[field if field != "expiry_years" else "expiry"][17] = value
    with pytest.raises(ValueError, match="option 17"):
        dev.greeks_batch(opts)
    assert dev.driver_stats["requests"] == before


def test_black76_ignores_carry_and_edges_are_accepted(dev):
    g = dev.greeks(**GOOD, carry=9.0, model="black76")
    assert g == dev.greeks(**GOOD, carry=0.0, model="black76")
    for extra in (dict(spot=500.0), dict(spot=20.0), dict(expiry_years=gk.T_MIN),
                  dict(expiry_years=3.0), dict(vol=0.01), dict(vol=5.0), dict(rate=-0.05),
                  dict(rate=0.5, carry=0.5)):
        dev.greeks(**dict(GOOD, **extra))


def test_async_appliance():
    async def main():
        async with AsyncAppliance.open("sim://") as adev:
            opts = random_options(120, 11)
            batch, single = await asyncio.gather(
                adev.greeks_batch(opts, model="black76"),
                adev.greeks(60, 65, 0.25, 0.08, 0.30))
            check_against_references(opts, batch, "black76")
            assert abs(single.price - 2.1334) <= 5e-5
            with pytest.raises(ValueError, match="vol"):
                await adev.greeks(60, 65, 0.25, 0.08, 7.0)

    asyncio.run(main())


# ---------------------------------------------------------------- in-process model of the device


class ModelDevice:
    """A transport whose far end is the integer model: parses frames with `cobs` and binascii
    (not the driver's codec) and answers GREEKS as docs/protocol.md specifies."""

    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()
        self.frames = 0

    def write(self, data: bytes) -> None:
        self.rx += data
        while b"\x00" in self.rx:
            raw, _, rest = bytes(self.rx).partition(b"\x00")
            self.rx = bytearray(rest)
            if raw:
                self._answer(cobs.decode(raw))

    def read(self, timeout: float) -> bytes:
        data, self.tx = bytes(self.tx), bytearray()
        return data

    def close(self) -> None:
        pass

    def _send(self, op, seq, payload):
        body = struct.pack("<BBHH", 1, op, seq, len(payload)) + payload
        self.tx += cobs.encode(body + struct.pack("<I", binascii.crc32(body))) + b"\x00"

    def _answer(self, frame: bytes):
        self.frames += 1
        _, op, seq, length = struct.unpack_from("<BBHH", frame)
        payload = frame[6:6 + length]
        n, rem = divmod(length - 1, 41)
        if op != wire.Op.GREEKS or rem or not 1 <= n <= 20 or payload[0] > 1:
            self._send(wire.Op.ERROR, seq, bytes([wire.Err.BAD_ARGUMENT, op]))
            return
        rec = np.frombuffer(payload[1:], dtype=np.dtype("<i8, <i8, <i8, <i8, <i8, u1"))
        out = md.pipeline(*(rec[f"f{i}"].astype(np.int64) for i in range(5)),
                          (rec["f5"] & 1) == 0, payload[0] == 1)
        res = b"".join(struct.pack("<B6q", int(out["error"][i]),
                                   *(int(out[k][i]) for k in md.OUTPUTS)) for i in range(n))
        self._send(op | 0x80, seq, res)


@pytest.fixture
def model_dev():
    transport = ModelDevice()
    with Appliance(transport) as d:
        d.transport = transport
        yield d


def test_batch_packing_against_the_model_device(model_dev):
    opts = random_options(1001, 5)  # 51 requests, the last one partial
    got = model_dev.greeks_batch(opts)
    check_against_references(opts, got, "bsm")
    assert model_dev.transport.frames == 51
    assert len(model_dev.greeks_batch(opts[:0])) == 0
    assert model_dev.transport.frames == 51


def test_batch_accepts_missing_carry_and_call(model_dev):
    opts = random_options(40, 6)
    plain = np.zeros(40, dtype=[(k, "f8") for k in ("spot", "strike", "expiry", "rate", "vol")])
    for k in plain.dtype.names:
        plain[k] = opts[k]
    got = model_dev.greeks_batch(plain)
    opts["carry"], opts["call"] = 0.0, True
    assert np.array_equal(got, model_dev.greeks_batch(opts))
    got = model_dev.greeks_batch({k: plain[k] for k in plain.dtype.names})
    assert np.array_equal(got, model_dev.greeks_batch(opts))
    with pytest.raises(ValueError, match="'vol'"):
        model_dev.greeks_batch({"spot": [1.0], "strike": [1.0], "expiry": [1.0], "rate": [0.0]})
    with pytest.raises(ValueError, match="model"):
        model_dev.greeks_batch(opts, model="heston")


def test_device_side_domain_status_is_an_error(model_dev):
    """A raw request with one option outside the device bounds: the others are computed."""
    ints = [np.array([0, 0], dtype=np.int64), np.array([gk.T_MAX_FX, gk.T_MAX_FX + 1]),
            np.full(2, gk.q_in(0.5)), np.zeros(2, np.int64), np.zeros(2, np.int64)]
    res = model_dev.request(wire.Op.GREEKS, gk.encode_request("bsm", *ints, [False, True]))
    out = gk.decode_result(res, 2)
    assert list(out["status"]) == [gk.STATUS_OK, gk.STATUS_DOMAIN]
    assert out["price"][0] > 0 and all(out[k][1] == 0 for k in gk.OUTPUTS)
    with pytest.raises(errors.DeviceError):
        model_dev.request(wire.Op.GREEKS, b"\x00" + bytes(40))


def test_cli_single_and_csv(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("quantgate.host.cli._open", lambda args: Appliance(ModelDevice()))
    assert cli_main(["greeks", "--spot", "49", "--strike", "50", "--expiry", str(20 / 52),
                     "--rate", "0.05", "--vol", "0.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["price"] - 2.4005) < 5e-5 and abs(out["rho"] - 8.907) < 5e-4
    assert cli_main(["greeks", "--spot", "19", "--strike", "19", "--expiry", "0.75", "--rate",
                     "0.1", "--vol", "0.28", "--put", "--model", "black76"]) == 0
    assert "price               1.7010" in capsys.readouterr().out
    src = tmp_path / "in.csv"
    src.write_text("spot,strike,expiry,rate,vol,carry,call\n"
                   "60,65,0.25,0.08,0.30,,1\n"
                   "100,95,0.5,0.10,0.20,0.05,put\n")
    dst = tmp_path / "out.csv"
    assert cli_main(["greeks", "--csv", str(src), "--out", str(dst)]) == 0
    lines = dst.read_text().splitlines()
    assert lines[0].split(",")[-6:] == list(gk.OUTPUTS)
    assert abs(float(lines[1].split(",")[7]) - 2.1334) < 5e-5
    assert abs(float(lines[2].split(",")[7]) - 2.4648) < 5e-5
    assert cli_main(["greeks", "--spot", "49", "--strike", "50", "--expiry", "9",
                     "--rate", "0.05", "--vol", "0.2"]) == 2
    assert "expiry" in capsys.readouterr().err
    src.write_text("spot,strike,expiry,rate,vol\n60,65,x,0.08,0.3\n")
    assert cli_main(["greeks", "--csv", str(src)]) == 2
