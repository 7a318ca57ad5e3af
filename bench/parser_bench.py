"""Parser micro-benchmark: Monoceros' RequestParser vs Gunicorn's own Python parser on the valid corpus.

Both parse every valid corpus case (the ones each accepts) from memory, body included, in the same run.
Gunicorn is forced onto its pure-Python parser (``http_parser = "python"``; the optional C parser is not used).
Prints requests/s for both and the ratio, as the median of several rounds.

    .venv/bin/python bench/parser_bench.py [--rounds 5] [--repeat 200]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monoceros.http import NEED_DATA, Data, EndOfMessage, Request, RequestParser

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "gunicorn" / "valid"
_OURS = {"peer_trusted": True, "proxy_trusted": True, "require_host": False}


def load() -> list[tuple[bytes, dict[str, Any], int]]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        cases.append((data["wire_bytes_latin1"].encode("latin-1"), data["config"], len(data["requests"])))
    return cases


def ours(wire: bytes, config: dict[str, Any], count: int) -> int:
    parser = RequestParser(**_OURS, **{k: v for k, v in config.items() if k != "forwarded_allow_ips"})
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


def gunicorn_parser() -> Callable[[bytes, dict[str, Any], int], int]:
    from gunicorn.config import Config
    from gunicorn.http.parser import RequestParser as GParser

    configs: dict[str, Config] = {}

    def config_for(config: dict[str, Any]) -> Config:
        # A server builds its Config once, so it is not part of the measured parse.
        key = json.dumps(config, sort_keys=True)
        if key not in configs:
            cfg = configs[key] = Config()
            cfg.set("http_parser", "python")
            for name, value in config.items():
                cfg.set(name, value)
        return configs[key]

    def parse(wire: bytes, config: dict[str, Any], count: int) -> int:
        cfg = config_for(config)
        done = 0
        for request in GParser(cfg, iter([wire]), None):
            while request.body.read(8192):
                pass
            done += 1
            if done == count:
                break
        return done

    return parse


def accepted(parse: Callable[[bytes, dict[str, Any], int], int], cases: list) -> list:
    ok = []
    for case in cases:
        try:
            if parse(*case) == case[2]:
                ok.append(case)
        except Exception:  # noqa: BLE001 - a case this parser refuses is left out of its run
            pass
    return ok


def rate(parse: Callable[[bytes, dict[str, Any], int], int], cases: list, repeat: int) -> float:
    requests = sum(case[2] for case in cases) * repeat
    start = time.perf_counter()
    for _ in range(repeat):
        for case in cases:
            parse(*case)
    return requests / (time.perf_counter() - start)


def typical_get_us(repeat: int = 20000) -> float:
    wire = (
        b"GET /api/items?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\n"
        b"Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en\r\n"
        b"Connection: keep-alive\r\nCookie: a=b\r\n\r\n"
    )
    start = time.perf_counter()
    for _ in range(repeat):
        parser = RequestParser()
        parser.receive_data(wire)
        parser.next_event()
        parser.next_event()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--repeat", type=int, default=100)
    opts = args.parse_args()
    cases = load()
    theirs = gunicorn_parser()
    common = [case for case in accepted(theirs, cases) if case in accepted(ours, cases)]
    rounds = []
    for _ in range(opts.rounds):
        rounds.append((rate(ours, common, opts.repeat), rate(theirs, common, max(1, opts.repeat // 5))))
    mine = statistics.median(r[0] for r in rounds)
    gun = statistics.median(r[1] for r in rounds)
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    print(f"corpus cases accepted by both: {len(common)} of {len(cases)}")
    print(f"monoceros: {mine:12,.0f} requests/s")
    print(f"gunicorn:  {gun:12,.0f} requests/s (pure-Python parser)")
    print(f"ratio:     {ratio:12.1f}x")
    print(f"typical GET, 8 headers, parser created + Request + EndOfMessage: {typical_get_us():.2f} us")
    sys.exit(0)


if __name__ == "__main__":
    main()
