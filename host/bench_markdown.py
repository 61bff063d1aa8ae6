"""``bench/results.md``: the benchmark report (a dict from ``bench.collect``) as Markdown."""

from __future__ import annotations

import math

from .bench_settings import CURVES, DESIGN_MHZ, PEER_MESSAGE_BYTES, SIGN_ENGINES, UART_BAUD

__all__ = ["render_markdown"]


def _n(v, digits: int = 3) -> str:
    """A number for a table: thousands separators, about `digits` significant digits."""
    if v is None:
        return "not measured"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e6):
        return f"{int(v):,}"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.{max(digits - 1 - int(math.log10(abs(v) / 1e6)), 0)}f} M" \
            if abs(v) < 1e9 else f"{v / 1e9:,.2f} G"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _x(v) -> str:
    """A ratio, two significant digits below 0.1 (without exponents: 0.000030x)."""
    if v is None:
        return "—"
    if v < 0.1:
        return f"{v:.{1 - math.floor(math.log10(v))}f}x"
    return f"{v:,.2f}x" if v < 100 else f"{v:,.0f}x"


def _table(head: list[str], rows: list[list], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(head) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def _mhz(mhz) -> str:
    return f"{mhz:.2f} MHz" if mhz else "the bitstream's clock (not measured)"


def _speed(v) -> str:
    """A speed ratio in time, with the word that says which way it goes."""
    if v is None:
        return "—"
    return f"{_x(v)} ({'quantgate slower' if v < 1 else 'quantgate faster'})"


def _min_max(s: dict) -> tuple[str, str]:
    lo, hi = s.get("device_min_cycles"), s.get("device_max_cycles")
    if lo is None or hi is None:
        return "—", "not compared"
    if lo == hi:
        return f"{lo:,} = {hi:,}", "yes"
    return f"{lo:,} / {hi:,}", "no"


def render_markdown(r: dict) -> str:
    clock = r["clock"]
    mhz = clock["mhz"]
    at = _mhz(mhz)
    design = f"at {DESIGN_MHZ:g} MHz (not built)"
    L = ["# quantgate benchmark report", "",
         f"Generated {r['generated_utc']} by `{r.get('command', 'quantgate bench')}`"
         f"{' (quick: small sample counts)' if r['quick'] else ''} in {r['seconds']} s on "
         f"{r['machine']['cpu']} ({r['machine']['cores']} cores"
         f"{_load_text(r['machine'].get('load_average'))}), Python "
         f"{r['machine']['python']}, NumPy {r['machine']['numpy']}. Device figures are what the "
         f"appliance as built sustains at its bitstream's clock, {at}: cycle counts measured "
         "in simulation of the same gateware (the TIMING counters of the simulated full "
         "appliance; the GREEKS engine's clocks per option through the link core), turned into "
         "time at that clock, and the 3 Mbaud line. Software peers run on one core, one call "
         "at a time, in this run. Anchors, test references and vectors: "
         f"[{r['anchors_source']}](../{r['anchors_source']}). The same data is in "
         "`results.json`.", ""]

    L += ["## Clock", ""]
    if mhz:
        L.append(f"**{mhz:.2f} MHz**: {clock['kind']} (`{clock['source']}`, made by "
                 f"`{clock.get('command')}`), timing {clock['timing']}; routed fmax "
                 f"{_n(clock['fmax_mhz'])} MHz, the timing margin, not a clock any bitstream "
                 f"runs at. Every µs and operations/s figure below is at {mhz:.2f} MHz unless "
                 f"its column says otherwise; columns \"{design}\" project the same cycle "
                 f"counts to the {DESIGN_MHZ:g} MHz the cores were designed for, which no "
                 "bitstream has reached yet.")
    else:
        L.append(f"Not measured: {clock['kind']} (run `{clock['produced_by']}`). Device rates "
                 f"and times are shown only {design}.")
    L.append("")
    res = r["resources"]
    rows = []
    total = res["device_total"]
    for label, b in (("full appliance build", res["full_build"]),
                     ("build of the link alone", res["link_build"])):
        if b:
            rs = b.get("resources") or {}
            rows.append([f"{label} (`{b['source']}`, engines {b['engines']})",
                         *(_used((rs.get(k) or {}).get("used"), total[t]) for k, t in (
                             ("LUT4", "lut4"), ("FF", "ff"), ("MULT18X18D", "mult18x18d"),
                             ("DP16KD", "dp16kd"))),
                         f"{_n(b['fmax_mhz'])} ({b.get('timing') or '?'})"])
    for name, c in res["cores_out_of_context"].items():
        if "fmax_mhz" in c:
            rows.append([f"{name}, out of context (`{c['source']}`)",
                         *(_used(c.get(k), total[k]) for k in ("lut4", "ff", "mult18x18d",
                                                                "dp16kd")),
                         _n(c["fmax_mhz"])])
        else:
            rows.append([f"{name}: not measured (`{c['produced_by']}`)", "", "", "", "", ""])
    for a in res["arith_units_out_of_context"]:
        rows.append([f"arith `{a['unit']}`, out of context (`{a['source']}`)",
                     *(_used(a.get(k), total[k]) for k in ("lut4", "ff", "mult18x18d",
                                                           "dp16kd")), _n(a["fmax_mhz"])])
    L += ["Resources and fmax (ECP5 LFE5U-85F, speed 6; out-of-context figures are one core "
          "alone, without I/O, and only estimate the full design):", ""]
    L += _table(["what", "LUT4", "FF", "MULT18X18D", "DP16KD", "fmax MHz"], rows)
    L.append("")

    L += ["## Cycles per operation (simulation)", ""]
    rows = []
    for curve in CURVES:
        s = r["cycles"]["sign"][curve]
        what = f"SIGN {curve}" + (f" ({s['message_bytes']}-byte message)"
                                  if curve == "ed25519" and s.get("message_bytes") else "")
        if s.get("cycles"):
            pair, same = _min_max(s)
            rows.append([what, _n(s["cycles"]), pair, same,
                         f"{s['source']}; measured: {len(s['cycles_each'])} signatures, "
                         f"{', '.join(f'{c:,}' for c in s['cycles_each'])} cycles"])
        else:
            rows.append([what, "not measured", "—", "not compared",
                         f"run `{s['produced_by']}` (or `quantgate bench --url sim://`)"])
    for curve in CURVES:
        b = r["cycles"]["basemul"][curve]
        rows.append([f"fixed-base scalar mult. {curve} (LOAD_KEY's public key)", _n(b["cycles"]),
                     "—", "not compared", f"`{b['source']}`" if b["cycles"] else
                     f"not measured: run `{b['produced_by']}`"])
    g = r["cycles"]["greeks"]
    if g["clocks_per_option"]:
        src = f"`{g['source']}` (`{g['command']}`)"
        rows.append(["GREEKS through the link core: clocks per option, 20-option frames back "
                     "to back", f"{g['clocks_per_option']:,.1f}", "—", "not compared", src])
        rows.append(["GREEKS through the link core: one option, last request byte in -> last "
                     "result byte out", _n(g["one_option_latency_clocks"]), "—", "not compared",
                     src])
    else:
        rows.append(["GREEKS through the link core", "not measured", "—", "not compared",
                     f"run `{g['produced_by']}`"])
    rows.append(["GREEKS pipeline alone, one option (latency)", _n(g["pipeline_latency_cycles"]),
                 "—", "not compared", g["pipeline_source"]])
    L += _table(["operation", "cycles", "device TIMING min / max", "min = max", "source"],
                rows, "lrlll")
    L += ["", "SIGN cycles are the TIMING counters' (the request's last byte in -> the first "
          "response byte out); the figure used below is the most any signature of the run "
          "took. \"min = max\" compares the device's TIMING min and max since reset: yes only "
          "when they are equal (Ed25519 time also grows with the message length, so signatures "
          "of several lengths since reset make them differ)."]
    L.append("")

    L += ["## Throughput (operations per second)", ""]
    rows = []
    for key in (*CURVES, "greeks"):
        t = r["throughput"][key]
        label = f"{key} signatures" if key != "greeks" else "Greeks options"
        rows.append([label, _n(t["engine_ops_per_s"]), _n(t["uart_ops_per_s"]),
                     f"**{_n(t['appliance_ops_per_s'])}**", t.get("peer") or "—",
                     _n(t["peer_ops_per_s"]), _x(t["ratio_appliance_over_peer"]),
                     _n(t["engine_ops_per_s_at_design_not_built"])])
    L += _table([
        "operation", f"engine at {at}", f"{UART_BAUD / 1e6:g} Mbaud line",
        f"whole appliance at {at}", "software peer (this machine, one core)",
        "peer ops/s", "appliance / peer (in time)", f"engine {design}"], rows, "lrrrlrrr")
    L += ["", f"Signatures/s of the engine = clock / TIMING cycles per signature x "
          f"{SIGN_ENGINES} signing engine (hdl/signer/keyslots.py: one engine serves all three "
          "curves, one request at a time); TIMING leaves out the clocks around a signature (the "
          "request replayed into the engine and the response sent, at one byte per clock: a few "
          "hundred clocks at most, about 1 % of a signature), so these rates are upper bounds "
          "by that much. Options/s of the engine = clock / the measured "
          "clocks per option through the link core (the pipeline takes one option per clock, "
          "but the link feeds it one byte per clock). The line column is what a full-duplex "
          f"{UART_BAUD / 1e6:g} Mbaud link carries: bytes/s / the larger of the request and "
          "response frame (COBS worst case, with the delimiter; Ed25519 signs a "
          f"{PEER_MESSAGE_BYTES}-byte message, ECDSA a 32-byte digest, GREEKS 20 options per "
          "frame). The whole appliance sustains the lower of engine and line."]
    L.append("")

    L += ["## Latency", ""]
    rows = []
    for key in (*CURVES, "greeks"):
        lt = r["latency"][key]
        label = f"{key} sign" if key != "greeks" else "Greeks, one option"
        rows.append([label, _n(lt["device_cycles"]), _n(lt["device_us"]),
                     _n(lt["device_with_uart_us"]), _n(lt["peer_p50_us"]), _n(lt["peer_p99_us"]),
                     _n(lt["peer_p999_us"]), _n(lt["peer_max_us"]),
                     _n(lt["device_us_at_design_not_built"])])
    L += _table(["operation", "device cycles", f"device µs at {at}",
                 f"µs with the {UART_BAUD / 1e6:g} Mbaud frames, at {at}", "peer p50 µs",
                 "p99", "p99.9", "max", f"device µs {design}"], rows)
    L += ["", "Device cycles: SIGN from TIMING (see \"min = max\" above for their spread); "
          "Greeks from its request's last byte in to the result's last byte out, through the "
          "link core at one byte per clock. \"With the frames\" adds sending the request and "
          f"receiving the response at {UART_BAUD / 1e6:g} Mbaud. The peers' percentiles are "
          "per call on this machine, with its jitter."]
    L.append("")

    L += ["## What others reach", "", f"Published figures, from [{r['anchors_source']}]"
          f"(../{r['anchors_source']}). The speed ratio is in time, with quantgate at {at}: "
          "quantgate's rate / the anchor's, or the anchor's time / quantgate's; below 1 "
          "quantgate is slower. An anchor given only in cycles at a clock of its own gets no "
          "ratio: the cycle counts stand side by side.", ""]
    rows = []
    for a in r["anchors"]:
        q = a["quantgate"]
        qtext = q if isinstance(q, str) else (f"{_n(q)} {a['quantgate_unit']}" if q is not None
                                              else ("not measured" if a["compare"] else "—"))
        ratio = _speed(a["speed_ratio_in_time"]) if a["unit"] != "cycles" else \
            f"none ({a['note']})"
        rows.append([a["anchor"], a["figure"], qtext, ratio, a["source"]])
    L += _table(["anchor", "figure", f"quantgate at {at}", "speed ratio in time", "source"],
                rows, "lllll")
    L.append("")

    L += ["## Inputs and how to reproduce", ""]
    rows = [[f"`{v['path']}`", v["status"], f"`{v['produced_by']}`"]
            for v in r["inputs"].values()]
    L += _table(["file", "status", "produced by"], rows, "lll")
    L += ["", "Regenerate this report with `make bench` (= `quantgate bench`, reading the files "
          "above); `make bench-inputs` first re-measures the simulated ones "
          "(`python bench/greeks_engine.py`, `python bench/sign_timing.py --url sim://`). "
          "`quantgate bench --url URL` takes the signing cycles from a device's TIMING in the "
          "same run (a board, or `sim://`).", ""]
    return "\n".join(L)


def _load_text(load) -> str:
    return f", load average {load[0]:g} while measuring" if load else ""


def _used(used, total) -> str:
    if used is None:
        return "—"
    return f"{used:,} ({100 * used / total:.1f}%)" if total else f"{used:,}"
