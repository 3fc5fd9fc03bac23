"""A human log format for the local stack; on Lambda the relay logs Powertools' JSON unchanged.

``HumanFormatter`` is a Powertools formatter: it extracts the same keys (so nothing that the JSON
form keeps out of the logs, such as request bodies, comes in), and writes them as one short line:
``23:56:48 INFO  SP-API call  operation=createFulfillmentOrder account=demo-seller status=200``.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# Keys every line has, or that say nothing useful on one machine; the rest is printed as key=value.
_QUIET_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
        "exception",
        "exception_name",
        "exception_notes",
        "stack_trace",
    }
)
RELAY_LOGGERS = ("sp-relay", "sp-relay-local")


class HumanFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        time = str(log.get("timestamp", ""))[11:19]
        fields = " ".join(f"{key}={value}" for key, value in log.items() if key not in _QUIET_KEYS)
        line = f"{time} {log.get('level', ''):<7} {log.get('message', '')}"
        if fields:
            line += f"  {fields}"
        if log.get("exception"):
            line += f"\n  {log.get('exception_name', '')}: {log['exception']}"
        return line


def use_human_logs(loggers: tuple[str, ...] = RELAY_LOGGERS) -> None:
    """Switch the relay's log handlers (set up by Powertools when the handler was imported) to lines."""
    formatter = HumanFormatter()
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
