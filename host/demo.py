"""`quantgate demo`: INFO, a few thousand pipelined echoes of random size (verified), then a
BTC option chain priced on the device beside the float64 reference (when the appliance has the
Greeks core), then orders signed with demo keys on each curve and verified on the host (when
it has the signer)."""

import json
import random
import sys
import time

from quantgate import wire

from . import commands
from .appliance import Appliance
from .errors import QuantgateError


def run(url: str = "sim://", count: int = 2000, *, seed: int | None = None,
        max_size: int = 128,
        as_json: bool = False, timeout: float | None = None, out=None) -> int:
    """Returns a process exit status: 0 when every echo came back intact (and every signature
    verified). `out` defaults to the sys.stdout of the call, not of the import."""
    out = sys.stdout if out is None else out
    rng = random.Random(seed)
    if not 0 <= max_size <= wire.MAX_PAYLOAD:
        raise ValueError(f"max_size must be in 0..{wire.MAX_PAYLOAD}, not {max_size}")
    payloads = [rng.randbytes(rng.randint(0, max_size)) for _ in range(count)]
    options = {} if timeout is None else {"timeout": timeout}
    with Appliance.open(url, **options) as dev:
        info = dev.info()
        if not as_json:
            print(f"connected to {url}", file=out)
            for key, value in info.items():
                print(f"  {key:17}{', '.join(value) if key == 'cores' else value}", file=out)
        start = time.perf_counter()
        results = list(dev.echo_many(payloads, return_exceptions=True))
        elapsed = time.perf_counter() - start
        failed = sum(isinstance(got, QuantgateError) for got in results)
        wrong = sum(not isinstance(got, QuantgateError) and got != sent
                    for sent, got in zip(payloads, results, strict=True))
        driver = dev.driver_stats
        bytes_each_way = sum(map(len, payloads))
        if not as_json:
            print(f"echoed {count} payloads of 0..{max_size} bytes ({bytes_each_way} "
                  f"bytes each way) in {elapsed:.3f} s", file=out)
            print(f"  {count / elapsed:,.0f} round trips/s, {bytes_each_way / elapsed:,.0f} "
                  f"payload bytes/s each way", file=out)
            print(f"  failed {failed}, wrong {wrong}, retransmits {driver['retransmits']}, "
                  f"stale/unmatched {driver['unmatched']}", file=out)
        chain = None
        if "greeks" in info["cores"]:
            from . import demo_chain

            chain = demo_chain.run(dev, None if as_json else out)
        signing = None
        if commands.has_signer(info):
            from . import demo_sign

            signing = demo_sign.run(dev, None if as_json else out, info)
    if as_json:
        summary = {
            "url": url, "info": info, "count": count, "bytes": bytes_each_way,
            "seconds": elapsed, "round_trips_per_s": count / elapsed,
            "bytes_per_s": bytes_each_way / elapsed, "failed": failed, "wrong": wrong,
            "driver": driver, "greeks_chain": chain, "signing": signing,
        }
        print(json.dumps(summary, indent=2), file=out)
    return 0 if failed == wrong == 0 and (signing is None or signing["ok"]) else 1
