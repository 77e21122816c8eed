"""`tds worker`, `tds relay` and `tds dlq` parse their options into the stage configs."""

from __future__ import annotations

import pytest

from streams.config import StreamsConfig
from tds.cli import build_parser
from tds.settings import Settings

SETTINGS = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
                              "TDS_RETRY_MAX_ATTEMPTS": "3", "TDS_RETRY_BACKOFF_SECONDS": "2",
                              "TDS_WORKER_THREADS": "4", "TDS_TOPIC_PARTITIONS": "6"})


def test_worker_options_reach_the_config() -> None:
    args = build_parser().parse_args([
        "worker", "--app-id", "w1", "--guarantee", "exactly_once", "--store", "memory://",
        "--bulk-topic", "b", "--retry-prefix", "r.", "--session-timeout", "9",
        "--batch-max", "500"])
    config = StreamsConfig.from_settings(
        SETTINGS, app_id=args.app_id, processing_guarantee=args.guarantee,
        bulk_topic=args.bulk_topic, retry_prefix=args.retry_prefix,
        session_timeout_s=args.session_timeout, realtime_topic=args.realtime_topic,
        batch_max=args.batch_max, commit_interval_s=args.commit_interval)
    assert (config.app_id, config.exactly_once, config.bulk_topic, config.batch_max) == (
        "w1", True, "b", 500)
    assert config.commit_interval_s == 1.0  # None keeps the default
    assert config.realtime_topic == "zoho.raw.realtime"  # None keeps the catalogue's name
    assert config.retry_topic(2) == "r.2" and config.session_timeout_s == 9
    assert config.retry_policy.delays_s == (2.0, 4.0, 8.0)
    assert config.ledger_topic == "w1-run-ledger"
    assert config.versions_changelog == "w1-versions-changelog"  # faust's table topic name
    assert build_parser().parse_args(["worker"]).guarantee == "at_least_once"


def test_each_engine_refuses_what_it_cannot_do() -> None:
    from tds.commands.worker import _refusal

    one = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})
    parse = build_parser().parse_args
    assert _refusal("faust", parse(["worker"]), one) is None
    assert _refusal("batched", parse(["worker", "--guarantee", "exactly_once"]), one) is None
    assert _refusal("faust", parse(["worker", "--store", "rocksdb://", "--data-dir", "d"]),
                    SETTINGS) is None  # TDS_WORKER_THREADS=4: agent concurrency on faust
    refusals = [
        _refusal("faust", parse(["worker", "--guarantee", "exactly_once"]), one),
        _refusal("faust", parse(["worker", "--data-dir", "d"]), one),
        _refusal("batched", parse(["worker", "--store", "rocksdb://"]), one),
        _refusal("batched", parse(["worker"]), SETTINGS),
    ]
    assert [r is not None and hint in r for r, hint in zip(refusals, (
        "--engine batched", "--store rocksdb://", "faust engine", "TDS_WORKER_COUNT"),
        strict=True)] == [True] * 4, refusals
    assert build_parser().parse_args(["worker"]).engine is None  # TDS_STREAM_ENGINE decides
    assert Settings.from_env({}).stream_engine == "faust"


def test_relay_and_dlq_options() -> None:
    relay = build_parser().parse_args(["relay", "--route", "a=b", "--group", "g"])
    assert (relay.route, relay.group, relay.retry_prefix) == (["a=b"], "g", "tds.retry.")
    dlq = build_parser().parse_args(["dlq", "--topic", "d", "retry", "0:1", "2:3", "--reset"])
    assert (dlq.topic, dlq.action, dlq.ids, dlq.reset, dlq.all) == (
        "d", "retry", ["0:1", "2:3"], True, False)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="processing_guarantee"):
        StreamsConfig(bootstrap="x:1", processing_guarantee="maybe")
    with pytest.raises(ValueError, match="must differ"):
        StreamsConfig(bootstrap="x:1", realtime_topic="t", bulk_topic="t")
