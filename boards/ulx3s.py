"""ULX3S (Lattice ECP5, 25 MHz oscillator, FTDI FT231X UART) board top for the appliance.

    clk25 (G2) -> EHXPLLL -> "sync" (target MHz) -> Appliance(engines) <-> FTDI UART (M1 rx, L4 tx)

* **Clock.** One EHXPLLL multiplies the 25 MHz oscillator to the target frequency
  (:func:`solve_pll`). The PLL output net carries a clock constraint at the frequency the PLL
  really makes, so nextpnr checks fmax of the whole appliance against it.
* **Reset.** The "sync" domain is held in reset until the PLL reports lock and then for
  :data:`POR_CYCLES` more cycles (a short power-on counter of reset-less registers on the same
  clock); losing lock puts the appliance back into reset.
* **UART.** The FTDI channel at 3 Mbaud by default (the FT231X's highest rate); the clock divisor
  is rounded and the resulting baud error must stay under 2 %.
* **LEDs.** 0 heartbeat (about 0.75 Hz; blinking means the PLL locked and reset was released),
  1 rx activity, 2 tx activity, 3 error (any counted link error), all three stretched to about
  50 ms so single bytes and one-cycle error strobes are visible; 7 lit while held in reset.

The ECP5 PLL (Lattice TN1263 and the Project Trellis ``ecppll`` tool) with feedback from CLKOP::

    f_pfd = f_in / CLKI_DIV            3.125 MHz <= f_pfd <= 400 MHz
    f_out = f_pfd * CLKFB_DIV          10 MHz <= f_out <= 400 MHz (CLKOP)
    f_vco = f_out * CLKOP_DIV          400 MHz <= f_vco <= 800 MHz
    CLKI_DIV 1..128, CLKFB_DIV 1..80, CLKOP_DIV 1..128

:func:`solve_pll` returns the settings with the smallest output error and, among those, the VCO
closest to 600 MHz (the middle of its range), the first in (CLKI_DIV, CLKFB_DIV, CLKOP_DIV)
order on a tie: the same rule ``ecppll`` applies, in exact arithmetic instead of float32.
"""

from dataclasses import dataclass
from fractions import Fraction

from amaranth import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from quantgate.hdl.top import Appliance

__all__ = ["PLATFORMS", "PLLConfig", "POR_CYCLES", "ResetHold", "ULX3STop", "solve_pll",
           "uart_divisor"]

# Board name (as the CLI spells it) -> amaranth-boards platform class.
PLATFORMS = {"ulx3s-85f": ULX3S_85F_Platform}

OSC_HZ = 25_000_000
POR_CYCLES = 1 << 12  # cycles of "sync" reset after the PLL locks (115 us at the default 35.71 MHz)
STRETCH_S = 0.05  # LED on-time after an rx/tx/error event

PFD_MIN, PFD_MAX = 3_125_000, 400_000_000
VCO_MIN, VCO_MAX = 400_000_000, 800_000_000
OUT_MIN, OUT_MAX = 10_000_000, 400_000_000
VCO_CENTRE = 600_000_000
CLKI_DIV_MAX, CLKFB_DIV_MAX, CLKOP_DIV_MAX = 128, 80, 128


@dataclass(frozen=True)
class PLLConfig:
    """EHXPLLL divider settings (CLKOP output, CLKOP feedback)."""

    fin_hz: Fraction
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def pfd_hz(self) -> Fraction:
        return Fraction(self.fin_hz) / self.clki_div

    @property
    def fout_hz(self) -> Fraction:
        return self.pfd_hz * self.clkfb_div

    @property
    def vco_hz(self) -> Fraction:
        return self.fout_hz * self.clkop_div

    def as_dict(self) -> dict:
        return {"fin_mhz": float(self.fin_hz) / 1e6, "clki_div": self.clki_div,
                "clkfb_div": self.clkfb_div, "clkop_div": self.clkop_div,
                "pfd_mhz": float(self.pfd_hz) / 1e6, "vco_mhz": float(self.vco_hz) / 1e6,
                "fout_mhz": float(self.fout_hz) / 1e6}

    def instance_params(self) -> dict:
        """Parameters and attributes for ``Instance("EHXPLLL", ...)`` (as ``ecppll`` writes
        them; CLKOP_CPHASE = CLKOP_DIV - 1 is Lattice's 0-degree setting. With CLKOP as the
        feedback path its phase is locked to CLKI whatever the coarse phase)."""
        mhz = lambda f: f"{float(f) / 1e6:.6g}"  # noqa: E731
        return {
            "p_PLLRST_ENA": "DISABLED", "p_INTFB_WAKE": "DISABLED",
            "p_STDBY_ENABLE": "DISABLED", "p_DPHASE_SOURCE": "DISABLED",
            "p_OUTDIVIDER_MUXA": "DIVA", "p_OUTDIVIDER_MUXB": "DIVB",
            "p_OUTDIVIDER_MUXC": "DIVC", "p_OUTDIVIDER_MUXD": "DIVD",
            "p_CLKI_DIV": self.clki_div, "p_CLKFB_DIV": self.clkfb_div,
            "p_CLKOP_ENABLE": "ENABLED", "p_CLKOP_DIV": self.clkop_div,
            "p_CLKOP_CPHASE": self.clkop_div - 1, "p_CLKOP_FPHASE": 0,
            "p_FEEDBK_PATH": "CLKOP",
            "a_FREQUENCY_PIN_CLKI": mhz(self.fin_hz), "a_FREQUENCY_PIN_CLKOP": mhz(self.fout_hz),
            "a_ICP_CURRENT": "12", "a_LPF_RESISTOR": "8", "a_MFG_ENABLE_FILTEROPAMP": "1",
            "a_MFG_GMCREF_SEL": "2",
        }


def solve_pll(fout_hz, fin_hz=OSC_HZ) -> PLLConfig:
    """EHXPLLL settings for ``fin_hz`` -> ``fout_hz`` (see the module docstring for the rule)."""
    fin, target = Fraction(fin_hz), Fraction(fout_hz)
    if not OUT_MIN <= target <= OUT_MAX:
        raise ValueError(f"PLL output {float(target) / 1e6:g} MHz is outside the EHXPLLL's "
                         f"{OUT_MIN // 10**6}-{OUT_MAX // 10**6} MHz")
    best = best_key = None
    for clki_div in range(1, CLKI_DIV_MAX + 1):
        pfd = fin / clki_div
        if not PFD_MIN <= pfd <= PFD_MAX:
            continue
        for clkfb_div in range(1, CLKFB_DIV_MAX + 1):
            fout = pfd * clkfb_div
            # CLKOP_DIV only moves the VCO: take the in-range divider nearest the VCO centre
            # (the smaller one on a tie, as an ascending scan keeps the first).
            lo = max(1, -(-VCO_MIN // fout))  # ceil
            hi = min(CLKOP_DIV_MAX, VCO_MAX // fout)
            if lo > hi:
                continue
            centre = VCO_CENTRE / fout
            candidates = {min(max(int(centre), lo), hi), min(max(int(centre) + 1, lo), hi)}
            clkop_div = min(sorted(candidates), key=lambda d: abs(fout * d - VCO_CENTRE))
            key = (abs(fout - target), abs(fout * clkop_div - VCO_CENTRE))
            if best_key is None or key < best_key:
                best_key, best = key, PLLConfig(fin, clki_div, clkfb_div, clkop_div)
    if best is None:
        raise ValueError(f"no EHXPLLL setting for {float(target) / 1e6:g} MHz")
    return best


def uart_divisor(clock_hz, baud, *, max_error=0.02) -> int:
    """The UART clock divisor ``Appliance`` will use; refuses a baud error above ``max_error``."""
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise ValueError(f"{baud} baud needs at least 4 clocks per bit; "
                         f"{clock_hz / 1e6:g} MHz gives {clock_hz / baud:.2f}")
    error = abs(clock_hz / divisor - baud) / baud
    if error > max_error:
        raise ValueError(f"{baud} baud from {clock_hz / 1e6:g} MHz: divisor {divisor} is "
                         f"{error:.1%} off (more than {max_error:.0%})")
    return divisor


class ResetHold(Elaboratable):
    """``rst`` is high until ``locked`` (asynchronous: synchronised here) has been high for
    ``cycles`` clocks, and again as soon as it drops. Its registers are reset-less, so it can
    drive the reset of the domain it runs in; ``rst`` comes from a flip-flop (glitch-free)."""

    def __init__(self, cycles=POR_CYCLES):
        assert cycles >= 2
        self.cycles = cycles
        self.locked = Signal()
        self.rst = Signal(init=1, reset_less=True)

    def elaborate(self, platform):
        m = Module()
        locked = Signal()
        m.submodules.sync_locked = FFSynchronizer(self.locked, locked)  # reset-less
        hold = Signal(range(self.cycles), reset_less=True)
        with m.If(~locked):
            m.d.sync += hold.eq(0)
        with m.Elif(hold != self.cycles - 1):
            m.d.sync += hold.eq(hold + 1)
        m.d.sync += self.rst.eq(~locked | (hold != self.cycles - 1))
        return m


class _Stretch(Elaboratable):
    """``o`` is high for ``ticks`` pulses of ``tick`` after the last ``i``."""

    def __init__(self, ticks):
        self.ticks = ticks
        self.i = Signal()
        self.tick = Signal()
        self.o = Signal()

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self.ticks + 1))
        with m.If(self.i):
            m.d.sync += count.eq(self.ticks)
        with m.Elif(self.tick & (count != 0)):
            m.d.sync += count.eq(count - 1)
        m.d.sync += self.o.eq(self.i | (count != 0))
        return m


class ULX3STop(Elaboratable):
    """The appliance on a ULX3S: PLL, reset, UART pins and status LEDs (module docstring)."""

    # no default clock here: the one default is build.DEFAULT_FREQ_MHZ (what the PLL closes at)
    def __init__(self, *, freq_hz, baud=3_000_000, engines=()):
        self.pll = solve_pll(freq_hz)
        self.clock_hz = round(self.pll.fout_hz)
        self.baud = baud
        self.divisor = uart_divisor(self.clock_hz, baud)
        self.engines = tuple(engines)

    def elaborate(self, platform):
        m = Module()

        m.domains.sync = cd_sync = ClockDomain("sync")
        # The PLL output net; its top-level name ("keep") carries the clock constraint.
        clk = Signal(name="clk_pll", attrs={"keep": 1})
        m.d.comb += cd_sync.clk.eq(clk)

        m.submodules.clk25 = clk25 = io.Buffer("i", platform.request("clk25", 0, dir="-"))
        locked = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            i_CLKI=clk25.i, i_CLKFB=clk, o_CLKOP=clk, o_LOCK=locked,
            i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
            i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            **self.pll.instance_params())
        platform.add_clock_constraint(clk, float(self.pll.fout_hz))

        m.submodules.reset = reset = ResetHold()
        in_reset = reset.rst
        # The "sync" reset reaches ~12,500 flip-flops across the device (every register that
        # may hold a secret is cleared by it): a global buffer carries it at a near-constant
        # delay instead of one huge general-routing net.
        rst_global = Signal()
        m.submodules.reset_buffer = Instance("DCCA", i_CLKI=in_reset, i_CE=1, o_CLKO=rst_global)
        m.d.comb += [reset.locked.eq(locked), cd_sync.rst.eq(rst_global)]

        m.submodules.appliance = app = Appliance(
            clock_hz=self.clock_hz, baud=self.baud, engines=self.engines)
        uart = platform.request("uart", 0, dir="-")  # rx, tx only: rts and dtr stay unused
        m.submodules.uart_rx = uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.d.comb += [app.uart_rx.eq(uart_rx.i), uart_tx.o.eq(app.uart_tx)]

        # LEDs. A tick of about 1 ms paces the stretchers; a free-running counter's top bit
        # is the heartbeat.
        tick_bits = max(1, round(self.clock_hz / 1000).bit_length() - 1)
        prescale = Signal(tick_bits)
        tick = Signal()
        m.d.sync += [prescale.eq(prescale + 1), tick.eq(prescale == 0)]
        stretch_ticks = round(STRETCH_S * self.clock_hz / (1 << tick_bits))
        beat = Signal(max(1, self.clock_hz.bit_length() - tick_bits))
        with m.If(tick):
            m.d.sync += beat.eq(beat + 1)

        rx_line = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(uart_rx.i, rx_line, init=1)
        error = Signal()  # registered: keeps the LED logic off the link's error paths
        m.d.sync += error.eq(app.error)
        events = {"rx": ~rx_line, "tx": ~app.uart_tx, "error": error}
        stretched = {}
        for name, event in events.items():
            m.submodules[f"led_{name}"] = s = _Stretch(stretch_ticks)
            m.d.comb += [s.i.eq(event), s.tick.eq(tick)]
            stretched[name] = s.o

        leds = {0: beat[-1], 1: stretched["rx"], 2: stretched["tx"], 3: stretched["error"],
                7: in_reset}
        for k, value in leds.items():
            m.submodules[f"led{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(value)
        return m
