"""Parser micro-benchmark: Monoceros' RequestParser vs Gunicorn's own Python parser on the valid corpus.

Both parse every valid corpus case that both accept, from memory, body included, in the same run. Settings
are prepared once per case beforehand, as a server prepares them once: a Gunicorn ``Config``, a Monoceros
``RequestParser.factory``. Gunicorn is forced onto its
pure-Python parser (``http_parser = "python"``), never the optional C one. Prints requests/s for both and
the ratio, each the median of several rounds, in two orders: each case many times in a row (issue 2's measure,
"parse every valid corpus case many times", target 5x), and rounds that go through every case once
(consecutive requests all differ: the harder order for the processor's caches and branch predictors, reported
beside it); plus the cost of one typical GET.

    .venv/bin/python bench/parser_bench.py [--rounds 5] [--repeat 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monoceros.http import NATIVE_AVAILABLE, NEED_DATA, Data, EndOfMessage, Request, RequestParser

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "gunicorn" / "valid"
Case = tuple[bytes, Any, int]  # wire bytes, prepared settings, number of requests
Parse = Callable[[bytes, Any, int], int]


def load() -> list[tuple[bytes, dict[str, Any], int]]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        cases.append((data["wire_bytes_latin1"].encode("latin-1"), data["config"], len(data["requests"])))
    return cases


def our_settings(config: dict[str, Any], native: bool = False) -> Callable[[], RequestParser]:
    # The corpus runs as from a trusted peer, and many of its HTTP/1.1 cases have no Host.
    kwargs = {"peer_trusted": True, "proxy_trusted": True, "require_host": False, "native": native}
    kwargs.update((k, v) for k, v in config.items() if k != "forwarded_allow_ips")
    return RequestParser.factory(**kwargs)


def ours(wire: bytes, make: Callable[[], RequestParser], count: int) -> int:
    parser = make()
    parser.receive_data(wire)
    parser.receive_data(b"")
    done = 0
    while done < count:
        event = parser.next_event()
        if type(event) is EndOfMessage:
            done += 1
            if done < count:
                parser.start_next_cycle()
        elif event is NEED_DATA or not isinstance(event, (Request, Data)):
            break
    return done


def gunicorn_settings(config: dict[str, Any], parser: str = "python") -> Any:
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("http_parser", parser)
    for name, value in config.items():
        cfg.set(name, value)
    return cfg


def theirs(wire: bytes, cfg: Any, count: int) -> int:
    from gunicorn.http.parser import RequestParser as GunicornParser

    done = 0
    for request in GunicornParser(cfg, iter([wire]), None):
        while request.body.read(8192):
            pass
        done += 1
        if done == count:
            break
    return done


def accepts(parse: Parse, case: Case) -> bool:
    try:
        return parse(*case) == case[2]
    except Exception:  # noqa: BLE001 - a case this parser refuses is left out of the run
        return False


def rate(parse: Parse, cases: list[Case], repeat: int) -> float:
    """Requests/s over rounds that go through every case once each (the headline figure)."""
    requests = sum(case[2] for case in cases) * repeat
    start = time.perf_counter()
    for _ in range(repeat):
        for case in cases:
            parse(*case)
    return requests / (time.perf_counter() - start)


def rate_case_by_case(parse: Parse, cases: list[Case], repeat: int) -> float:
    """Requests/s when each case is parsed ``repeat`` times in a row, as a stream of alike requests is."""
    requests = sum(case[2] for case in cases) * repeat
    start = time.perf_counter()
    for case in cases:
        for _ in range(repeat):
            parse(*case)
    return requests / (time.perf_counter() - start)


TYPICAL_GET = (
    b"GET /api/items?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\n"
    b"Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en\r\n"
    b"Connection: keep-alive\r\nCookie: a=b\r\n\r\n"
)


def typical_get_us(repeat: int = 20000) -> float:
    wire = TYPICAL_GET
    parser = RequestParser()
    start = time.perf_counter()
    for _ in range(repeat):
        parser.receive_data(wire)
        parser.next_event()
        parser.next_event()
        parser.start_next_cycle()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    args = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--repeat", type=int, default=100)
    opts = args.parse_args()
    mine_cases, their_cases = [], []
    raw = load()
    for wire, config, count in raw:
        mine, their = (wire, our_settings(config), count), (wire, gunicorn_settings(config), count)
        if accepts(ours, mine) and accepts(theirs, their):
            mine_cases.append(mine)
            their_cases.append(their)
    rounds, alike = [], []
    for _ in range(opts.rounds):
        fast = rate(ours, mine_cases, opts.repeat)
        slow = rate(theirs, their_cases, max(1, opts.repeat // 5))
        rounds.append((fast, slow, fast / slow))
        fast = rate_case_by_case(ours, mine_cases, opts.repeat)
        slow = rate_case_by_case(theirs, their_cases, max(1, opts.repeat // 5))
        alike.append((fast, slow, fast / slow))
    print(f"corpus cases accepted by both: {len(mine_cases)} of {len(raw)}")
    print("each case many times in a row (issue 2's measure; the processor's caches stay warm):")
    print(f"monoceros: {statistics.median(r[0] for r in alike):12,.0f} requests/s")
    print(f"gunicorn:  {statistics.median(r[1] for r in alike):12,.0f} requests/s (pure-Python parser)")
    print(f"ratio:     {statistics.median(r[2] for r in alike):12.1f}x")
    print("each round through every case once (consecutive requests all differ):")
    print(f"monoceros: {statistics.median(r[0] for r in rounds):12,.0f} requests/s")
    print(f"gunicorn:  {statistics.median(r[1] for r in rounds):12,.0f} requests/s")
    print(f"ratio:     {statistics.median(r[2] for r in rounds):12.1f}x")
    mine_us = statistics.median(typical_get_us() for _ in range(3))
    their_us = statistics.median(
        _per_request_us(theirs, (TYPICAL_GET, gunicorn_settings({}), 1), 5000) for _ in range(3)
    )
    print(f"typical GET (8 headers), keep-alive parser, Request + EndOfMessage: {mine_us:.2f} us")
    print(f"typical GET (8 headers), Gunicorn, a parser per request: {their_us:.2f} us")
    print(f"typical GET ratio: {their_us / mine_us:.1f}x")
    native_paths(raw, opts)
    small, large = trickle_seconds(32 << 10), trickle_seconds(128 << 10)
    print(
        "request line trickled byte by byte, limit_request_line=0:"
        f" 32 KiB {small:.2f} s, 128 KiB {large:.2f} s (x{large / small:.1f} for 4x the bytes: 4 is linear)"
    )


def native_paths(raw: list[tuple[bytes, dict[str, Any], int]], opts: argparse.Namespace) -> None:
    """Both native parsers beside both Python ones: ours (``http_parser = fast``) and Gunicorn 27's
    ``gunicorn_h1c`` (picohttpparser), over the cases all four accept, rounds through every case once."""
    if not NATIVE_AVAILABLE:
        print("the native parser is not built: no native comparison")
        return
    try:
        import gunicorn_h1c  # noqa: F401
    except ImportError:
        print("gunicorn_h1c is not installed (pip install gunicorn-h1c): no comparison with it")
        return
    kinds: dict[str, tuple[Parse, Callable[[dict[str, Any]], Any]]] = {
        "monoceros native": (ours, lambda config: our_settings(config, True)),
        "monoceros python": (ours, our_settings),
        "gunicorn h1c": (theirs, lambda config: gunicorn_settings(config, "fast")),
        "gunicorn python": (theirs, gunicorn_settings),
    }
    chosen: dict[str, list[Case]] = {name: [] for name in kinds}
    for wire, config, count in raw:
        try:
            cases = {name: (wire, settings(config), count) for name, (_, settings) in kinds.items()}
        except Exception:  # noqa: BLE001 - a setting one of them refuses (h1c beside some flags)
            continue
        if all(accepts(kinds[name][0], case) for name, case in cases.items()):
            for name, case in cases.items():
                chosen[name].append(case)
    rates: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(opts.rounds):
        for name, (parse, _) in kinds.items():
            repeat = opts.repeat if name.startswith("monoceros") else max(1, opts.repeat // 5)
            rates[name].append(rate(parse, chosen[name], repeat))
    count = len(chosen["monoceros native"])
    print(f"native parsers, {count} corpus cases all four accept, rounds through every case once:")
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in median.items():
        print(f"  {name:17s} {value:12,.0f} requests/s")
    native = median["monoceros native"]
    print(
        f"  ours native / gunicorn h1c: {native / median['gunicorn h1c']:.1f}x;"
        f" / gunicorn python: {native / median['gunicorn python']:.1f}x;"
        f" / ours python: {native / median['monoceros python']:.2f}x"
    )


def trickle_seconds(size: int) -> float:
    """Feed a request line of ``size`` bytes one byte per read (a slow client) with no line limit."""
    parser = RequestParser(limit_request_line=0)
    line = b"GET /" + b"a" * (size - 15) + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    start = time.perf_counter()
    for i in range(len(line)):
        parser.receive_data(line[i : i + 1])
        if parser.next_event() is not NEED_DATA:
            break
    return time.perf_counter() - start


def _per_request_us(parse: Parse, case: Case, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        parse(*case)
    return (time.perf_counter() - start) / repeat * 1e6


if __name__ == "__main__":
    main()
