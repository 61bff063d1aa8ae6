"""``bench/results.md``: the benchmark report (a dict from ``bench.collect``) as Markdown."""

from __future__ import annotations

import math

from .bench_settings import CURVES, INPUTS, PEER_MESSAGE_BYTES, SIGN_ENGINES, TARGET_MHZ, UART_BAUD

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
    if v is None:
        return "—"
    return f"{v:.2g}x" if v < 0.1 else f"{v:,.2f}x" if v < 100 else f"{v:,.0f}x"


def _table(head: list[str], rows: list[list], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(head) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def render_markdown(r: dict) -> str:
    clock = r["clock"]
    fmax = clock["fmax_mhz"]
    target = clock.get("target_mhz") or TARGET_MHZ
    anchor = clock.get("anchor_mhz")
    L = ["# quantgate benchmark report", "",
         f"Generated {r['generated_utc']} by `{r.get('command', 'quantgate bench')}`"
         f"{' (quick: small sample counts)' if r['quick'] else ''} in {r['seconds']} s on "
         f"{r['machine']['cpu']} ({r['machine']['cores']} cores"
         f"{_load_text(r['machine'].get('load_average'))}), Python "
         f"{r['machine']['python']}, NumPy {r['machine']['numpy']}. Software peers run on one "
         "core, one call at a time, in this run; device figures are projected from simulated "
         "cycle counts and nextpnr's fmax. The same data is in `results.json`.", ""]

    L += ["## Clock", ""]
    if fmax:
        details = [f"`{clock['source']}`" if clock.get("source") else None,
                   f"timing {clock['timing']}" if clock.get("timing") else None,
                   f"limited by the {clock['limiting']}" if clock.get("limiting") else None]
        details = ", ".join(d for d in details if d)
        L.append(f"**fmax {fmax:.2f} MHz** — {clock['kind']}"
                 f"{' (' + details + ')' if details else ''}. "
                 f"Projections below are at fmax and at the {target:g} MHz clock the bitstream "
                 "is built for; the whole appliance runs on one clock.")
        if clock.get("note"):
            L.append(f"Note: {clock['note']}.")
        if fmax < target:
            L.append(f"fmax is below the {target:g} MHz target: the \"at {target:g} MHz\" "
                     "columns assume timing closes there, which these figures do not yet show.")
    else:
        L.append("fmax: not measured (no build report and no out-of-context figures; run "
                 f"`{INPUTS['build_report'][1]}`).")
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
                                  if s.get("message_bytes") is not None else "")
        rows.append([what, _n(s.get("cycles")), "yes (constant)" if s.get("cycles") else "—",
                     f"`{s['source']}`" if s.get("cycles")
                     else f"not measured: run `{s['produced_by']}` (or `quantgate bench "
                          "--url sim://`: cycles from the simulated appliance's TIMING)"])
    for curve in CURVES:
        b = r["cycles"]["basemul"][curve]
        rows.append([f"fixed-base scalar mult. {curve} (LOAD_KEY's public key)", _n(b["cycles"]),
                     "yes (constant)" if b["cycles"] else "—",
                     f"`{b['source']}`" if b["cycles"] else
                     f"not measured: run `{b['produced_by']}`"])
    g = r["cycles"]["greeks"]
    rows.append(["GREEKS, one option (latency; II = 1)", _n(g["latency_cycles"]),
                 "yes (constant)", g["source"]])
    L += _table(["operation", "cycles", "min = max", "source"], rows, "lrll")
    L.append("")

    L += ["## Throughput (operations per second, whole device)", ""]
    rows = []
    for key in (*CURVES, "greeks"):
        t = r["throughput"][key]
        label = f"{key} signatures" if key != "greeks" else "Greeks options"
        rows.append([label, _n(t["device_ops_per_s"]), _n(t["device_ops_per_s_at_target"]),
                     _n(t["uart_ops_per_s"]), t.get("peer") or "—",
                     _n(t["peer_ops_per_s"]), _x(t["ratio_device_over_peer"]),
                     _x(t["ratio_uart_limited_over_peer"])])
    L += _table([
        "operation", f"device at fmax ({_n(fmax)} MHz)", f"at {target:g} MHz",
        f"UART {UART_BAUD / 1e6:g} Mbaud", "software peer (this machine, one core)",
        "peer ops/s", "device / peer", "UART-limited / peer"], rows, "lrrrlrrr")
    L += ["", f"Signatures/s = fmax / cycles per signature x {SIGN_ENGINES} signing engine "
          "(hdl/signer/keyslots.py: one engine serves all three curves, one request at a time); "
          "options/s = fmax x 1 (one option per clock). The UART column is what a full-duplex "
          f"{UART_BAUD / 1e6:g} Mbaud link carries: bytes/s / the larger of the request and "
          "response frame (COBS worst case, with the delimiter; Ed25519 signs a "
          f"{PEER_MESSAGE_BYTES}-byte message, ECDSA a 32-byte digest, GREEKS 20 options per "
          "frame)."]
    bound = [f"{c} {_n(r['throughput'][c]['basemul_bound_ops_per_s'])}/s" for c in CURVES
             if r["throughput"][c]["basemul_bound_ops_per_s"]]
    if bound and any(r["cycles"]["sign"][c].get("cycles") is None for c in CURVES):
        L += ["", "Until the signing cycles are measured, an upper bound: a signature needs at "
              "least one fixed-base scalar multiplication, so at fmax at most " +
              ", ".join(bound) + "."]
    L.append("")

    L += ["## Latency", ""]
    rows = []
    for key in (*CURVES, "greeks"):
        lt = r["latency"][key]
        label = f"{key} sign" if key != "greeks" else "Greeks, one option"
        rows.append([label, _n(lt["device_cycles"]), _n(lt["device_us"]),
                     _n(lt["device_us_at_target"]), _n(lt["device_with_uart_us"]),
                     _n(lt["peer_p50_us"]), _n(lt["peer_p99_us"]), _n(lt["peer_p999_us"]),
                     _n(lt["peer_max_us"])])
    L += _table(["operation", "device cycles (min = max)", "device µs at fmax",
                 f"µs at {target:g} MHz", f"µs with the {UART_BAUD / 1e6:g} Mbaud frames",
                 "peer p50 µs", "p99", "p99.9", "max"], rows)
    L += ["", "The device's figures have no spread: every signature of a curve (Ed25519: of a "
          "message length) and every option takes the same number of cycles (TIMING shows "
          "min = max). \"With the frames\" adds sending the request and receiving the response "
          "at 3 Mbaud. The peers' percentiles are per call on this machine, with its jitter."]
    L.append("")

    L += ["## What others reach", "", f"Published figures, from {r['anchors_source']}; the "
          "ratio is quantgate / anchor (for cycles and µs: anchor / quantgate, so > 1 means "
          "quantgate is faster)." + (f" quantgate's throughput and latency here are at "
          f"{anchor:g} MHz: " + ("the clock the bitstream is built for." if anchor == target
                                 else "fmax, which is below the clock the bitstream is built "
                                 "for.") if anchor else ""), ""]
    rows = []
    for a in r["anchors"]:
        q = a["quantgate"]
        qtext = q if isinstance(q, str) else (f"{_n(q)} {a['quantgate_unit']}" if q is not None
                                              else ("not measured" if a["compare"] else "—"))
        rows.append([a["anchor"], a["figure"], qtext, _x(a["ratio_quantgate_over_anchor"]),
                     a["source"]])
    L += _table(["anchor", "figure", "quantgate", "ratio", "source"], rows, "lllrl")
    L.append("")

    L += ["## Inputs and how to reproduce", ""]
    rows = [[f"`{v['path']}`", v["status"], f"`{v['produced_by']}`"]
            for v in r["inputs"].values()]
    L += _table(["file", "status", "produced by"], rows, "lll")
    L += ["", "Regenerate this report with `make bench` (= `quantgate bench`); "
          "`quantgate bench --url URL` takes the signing cycles from a device's TIMING "
          "counters (a board, or `sim://`) instead of `sign_cycles.json`.", ""]
    return "\n".join(L)


def _load_text(load) -> str:
    return f", load average {load[0]:g} while measuring" if load else ""


def _used(used, total) -> str:
    if used is None:
        return "—"
    return f"{used:,} ({100 * used / total:.1f}%)" if total else f"{used:,}"
