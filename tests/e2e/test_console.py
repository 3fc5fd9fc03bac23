"""The operator's console through the real CLI: short errors instead of tracebacks, send reports, a
replay you can trust (including SQS's native redrive, against a fake that implements it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.errors import ExitCode
from cli.main import app
from domain.attributes import (
    FAILED_AT_ATTRIBUTE,
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
)
from domain.events import command_event, notification_event
from local.runtime import LocalStack
from tests.conftest import sample_command, unique
from tests.sqs_move_tasks import move_task_sqs

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WIDE = {"COLUMNS": "250"}
DRAIN_TIMEOUT = 45.0


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args], env={**WIDE, **(env or {})})


def sp_relay(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed command as a shell runs it, in a fresh process (boto3 reads AWS_* at start)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cli.main", *map(str, args)],
        cwd=ROOT,
        env={**clean, **WIDE, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def no_traceback(output: str) -> None:
    assert "Traceback" not in output, output
    assert len(output.strip().splitlines()) <= 3, output


@pytest.fixture
def stack_file(stack: LocalStack, tmp_path: Path) -> Path:
    path = tmp_path / "local-stack.json"
    path.write_text(json.dumps(stack.describe()))
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dlq_url(stack: LocalStack) -> str:
    return str(stack.describe()["deadLetterQueueUrl"])


def side_queue(stack: LocalStack) -> str:
    """A queue no worker reads: replays sent here can be counted as they arrived."""
    return str(stack.client("sqs").create_queue(QueueName=f"replay-{uuid.uuid4().hex[:8]}")["QueueUrl"])


def depth(stack: LocalStack, url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def put_dead_letter(stack: LocalStack, command: dict[str, Any], *, outcome: str = "dead-lettered") -> None:
    reason = "SpApiUnavailable" if outcome == "dead-lettered" else "SpApiRejected"
    attributes = {
        OUTCOME_ATTRIBUTE: outcome,
        REASON_ATTRIBUTE: reason,
        SOURCE_MESSAGE_ID_ATTRIBUTE: str(uuid.uuid4()),
        FAILED_AT_ATTRIBUTE: "2026-01-01T00:00:00+00:00",
    }
    stack.client("sqs").send_message(
        QueueUrl=dlq_url(stack),
        MessageBody=json.dumps(command),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )


# --- no tracebacks ---------------------------------------------------------------------------------------


def test_no_stack_running_says_so_and_exits_3(tmp_path: Path) -> None:
    port = closed_port()
    stale = tmp_path / "local-stack.json"
    stale.write_text(
        json.dumps(
            {
                "awsEndpointUrl": f"http://127.0.0.1:{port}",
                "region": "us-east-1",
                "deadLetterQueueUrl": f"http://127.0.0.1:{port}/123456789012/sp-relay-dlq",
                "commandQueueUrl": f"http://127.0.0.1:{port}/123456789012/sp-relay-commands",
            }
        )
    )
    for command in (["dlq", "list"], ["dlq", "replay"], ["status"]):
        result = cli(*command, "--stack-file", stale)
        assert result.exit_code == ExitCode.UNREACHABLE, (command, result.output)
        assert "Cannot reach the local stack" in result.output
        assert "sp-relay local" in result.output
        no_traceback(result.output)


def test_a_missing_or_broken_stack_file_is_a_sentence_and_exit_2(tmp_path: Path) -> None:
    missing = cli("dlq", "list", "--stack-file", tmp_path / "nope.json")
    assert missing.exit_code == ExitCode.USAGE
    assert "does not exist" in missing.output
    no_traceback(missing.output)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = cli("status", "--stack-file", broken)
    assert result.exit_code == ExitCode.USAGE
    assert "is not JSON" in result.output
    no_traceback(result.output)


AWS_QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/sp-relay-commands"


def test_a_mistyped_aws_profile_names_it_and_exits_4(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile real]\nregion = eu-west-1\n")
    result = sp_relay(
        "send", "events/create-fulfillment.json", "--queue-url", AWS_QUEUE,
        env={"AWS_PROFILE": "reall", "AWS_CONFIG_FILE": str(config)},
    )  # fmt: skip
    assert result.returncode == ExitCode.CREDENTIALS, result.stderr
    assert "The AWS profile 'reall' does not exist" in result.stderr
    no_traceback(result.stdout + result.stderr)


def test_missing_credentials_say_run_aws_sso_login_and_exit_4(tmp_path: Path) -> None:
    result = sp_relay(
        "send", "events/create-fulfillment.json", "--queue-url", AWS_QUEUE,
        env={
            "AWS_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )  # fmt: skip
    assert result.returncode == ExitCode.CREDENTIALS, result.stdout + result.stderr
    assert "No usable AWS credentials" in result.stderr
    assert "aws sso login" in result.stderr
    # the report still says what was not sent
    assert "not sent" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_no_region_says_set_aws_region_and_exits_4(tmp_path: Path) -> None:
    result = sp_relay(
        "dlq", "list", "--dlq-url", "sp-relay-dlq",
        env={
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "example",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
        },
    )  # fmt: skip
    assert result.returncode == ExitCode.CREDENTIALS, result.stdout + result.stderr
    assert "No valid AWS region" in result.stderr
    assert "AWS_REGION" in result.stderr
    no_traceback(result.stdout + result.stderr)


# --- send ------------------------------------------------------------------------------------------------


def test_send_reports_every_file_sends_the_good_ones_and_refuses_a_latin1_file(
    stack: LocalStack, stack_file: Path, tmp_path: Path
) -> None:
    first, last = unique(sample_command("create-fulfillment")), unique(sample_command("create-fulfillment"))
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "latin1.json").write_bytes(
        json.dumps(
            {**unique(sample_command("cancel-fulfillment")), "commandId": "café"}, ensure_ascii=False
        ).encode("latin-1")
    )
    (tmp_path / "b.json").write_text(json.dumps(last))

    result = cli(
        "send", tmp_path / "a.json", tmp_path / "latin1.json", tmp_path / "b.json",
        "--stack-file", stack_file, "--json",
    )  # fmt: skip

    assert result.exit_code == ExitCode.REFUSED, result.output
    report = json.loads(result.stdout)
    rows = {Path(row["where"]).name: row for row in report["commands"]}
    assert rows["a.json"]["result"] == "sent" and rows["a.json"]["commandId"] == first["commandId"]
    assert rows["b.json"]["result"] == "sent" and rows["b.json"]["commandId"] == last["commandId"]
    assert rows["latin1.json"]["result"] == "refused"
    assert "not UTF-8" in rows["latin1.json"]["detail"]
    assert report["counts"] == {"sent": 2, "valid": 0, "refused": 1, "not sent": 0}
    assert stack.wait_until_drained(DRAIN_TIMEOUT)
    done = {o["commandId"] for o in stack.outcomes() if o["status"] == "succeeded"}
    assert {first["commandId"], last["commandId"]} <= done


def test_send_of_nothing_is_an_error_and_a_broken_pretty_file_is_one_bad_document(
    stack_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "list.json").write_text("[]\n")
    command = sample_command("create-fulfillment")
    (tmp_path / "pretty.json").write_text(
        json.dumps(command, indent=2)[:-2]  # the last brace is lost
    )
    for name, reason in (
        ("empty.json", "empty"),
        ("list.json", "empty list"),
        ("pretty.json", "not valid JSON"),
    ):
        result = cli("send", tmp_path / name, "--stack-file", stack_file)
        assert result.exit_code == ExitCode.REFUSED, result.output
        assert reason in result.output
        assert "0 sent, 1 refused" in result.output, result.output


def test_send_to_a_stack_that_is_down_lists_what_was_not_sent(tmp_path: Path) -> None:
    port = closed_port()
    result = cli(
        "send", "events/create-fulfillment.json", "events/cancel-fulfillment.json",
        "--queue-url", f"http://127.0.0.1:{port}/123456789012/q",
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"},
    )  # fmt: skip
    assert result.exit_code == ExitCode.UNREACHABLE, result.output
    assert "2 valid but not sent" in result.output
    assert "Traceback" not in result.output


# --- a replay you can trust ------------------------------------------------------------------------------


def test_a_replay_takes_only_what_was_on_the_dlq_and_counts_honestly(
    stack: LocalStack, stack_file: Path
) -> None:
    """Commands that fail again during the replay land on the DLQ anew; they are not replayed again."""
    assert stack.emulator is not None
    cancels = [unique(sample_command("cancel-fulfillment")) for _ in range(4)]  # no such orders: 404
    for command in cancels:
        put_dead_letter(stack, command, outcome="rejected")

    result = cli("dlq", "replay", "--stack-file", stack_file, "--include-permanent", "--rate", "2", "--json")
    assert result.exit_code == ExitCode.OK, result.output
    counts = json.loads(result.stdout)["counts"]
    assert counts["read"] == 4
    assert counts["moved"] == 4
    assert counts["leftOnTheDlq"] == 0
    assert stack.wait_until_drained(DRAIN_TIMEOUT)
    ids = {c["payload"]["sellerFulfillmentOrderId"] for c in cancels}
    calls = [c for c in stack.emulator.state.calls("cancelFulfillmentOrder") if c.path.split("/")[-2] in ids]
    assert len(calls) == 4, "each replayed command reached SP-API once"
    assert depth(stack, dlq_url(stack)) == 4, "each failed again once and stays on the DLQ"


def test_permanent_failures_are_held_back_without_a_fix_up(stack: LocalStack, stack_file: Path) -> None:
    target = side_queue(stack)
    put_dead_letter(stack, unique(sample_command("cancel-fulfillment")), outcome="rejected")
    put_dead_letter(stack, unique(sample_command("cancel-fulfillment")), outcome="dead-lettered")

    listed = cli("dlq", "list", "--stack-file", stack_file, env={"COLUMNS": "80"})
    result = cli("dlq", "replay", "--stack-file", stack_file, "--queue-url", target, env={"COLUMNS": "80"})

    for output in (listed.output, result.output):
        assert all(len(line) <= 80 for line in output.splitlines()), output
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "must be held back: falling back" in result.output
    assert "1 permanent failure(s) held back" in result.output
    assert "--include-permanent" in result.output
    assert depth(stack, target) == 1
    assert depth(stack, dlq_url(stack)) == 1


def test_a_fix_up_may_not_change_the_commands_identity(stack: LocalStack, stack_file: Path) -> None:
    put_dead_letter(stack, unique(sample_command("cancel-fulfillment")), outcome="rejected")
    for option in (["--set", 'commandId="other"'], ["--unset", "account"], ["--set", 'account="x"']):
        result = cli("dlq", "replay", "--stack-file", stack_file, *option)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert "keeps the command's identity" in result.output
    assert depth(stack, dlq_url(stack)) == 1


def test_ctrl_c_stops_between_messages_and_the_counts_match_the_queues(
    stack: LocalStack, tmp_path: Path
) -> None:
    target = side_queue(stack)
    for _ in range(8):
        put_dead_letter(stack, unique(sample_command("cancel-fulfillment")))
    described = {**stack.describe(), "commandQueueUrl": target}
    stack_file = tmp_path / "side.json"
    stack_file.write_text(json.dumps(described))
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cli.main", "dlq", "replay", "--stack-file", str(stack_file),
         "--rate", "2", "--no-native", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while depth(stack, target) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == ExitCode.INTERRUPTED, stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] is True
    moved = summary["counts"]["moved"]
    assert 2 <= moved < 8
    assert depth(stack, target) == moved
    assert depth(stack, dlq_url(stack)) == 8 - moved
    assert "Traceback" not in stderr


# --- SQS's native redrive, against a fake SQS that implements it -----------------------------------------


def test_the_native_move_task_path_moves_everything_and_reports_the_task(
    stack: LocalStack, tmp_path: Path
) -> None:
    target = side_queue(stack)
    for _ in range(3):
        put_dead_letter(stack, unique(sample_command("cancel-fulfillment")))
    described = stack.describe()
    with move_task_sqs(described["awsEndpointUrl"], described["region"]) as (endpoint, fake):
        stack_file = tmp_path / "native.json"
        stack_file.write_text(
            json.dumps({**described, "awsEndpointUrl": endpoint, "commandQueueUrl": target})
        )
        result = cli("dlq", "replay", "--stack-file", stack_file, "--rate", "50")
        as_json = cli("dlq", "replay", "--stack-file", stack_file, "--json")

    assert result.exit_code == ExitCode.OK, result.output
    assert "StartMessageMoveTask started" in result.output
    assert "task COMPLETED: moved 3 of the 3 on the DLQ when it started" in result.output
    assert [task.status for task in fake.tasks] == ["COMPLETED", "COMPLETED"]
    assert depth(stack, target) == 3
    assert depth(stack, dlq_url(stack)) == 0
    assert json.loads(as_json.stdout)["counts"] == {"onTheDlqAtStart": 0, "moved": 0}


# --- seeing what happened -------------------------------------------------------------------------------


def test_events_prints_one_line_per_outcome_with_sp_apis_message_and_filters(
    stack: LocalStack, stack_file: Path
) -> None:
    good = unique(sample_command("create-fulfillment"))
    missing = unique(sample_command("cancel-fulfillment"))  # no such order: SP-API answers 404
    for command in (good, missing):
        stack.send(command)
    assert stack.wait_until_drained(DRAIN_TIMEOUT)

    result = cli("events", "--stack-file", stack_file, "--status", "rejected", "--since", "10m")

    assert result.exit_code == ExitCode.OK, result.output
    [line] = [line for line in result.output.splitlines() if missing["commandId"] in line]
    assert "rejected" in line and "cancel-fulfillment" in line and "demo-seller" in line
    order_id = missing["payload"]["sellerFulfillmentOrderId"]
    assert f"Requested order '{order_id}' not found" in line
    assert good["commandId"] not in result.output  # filtered out by --status
    assert "\x1b[" not in result.output  # plain text when not a terminal


def test_events_json_is_one_object_per_line_and_filters_by_command_id(
    stack: LocalStack, stack_file: Path
) -> None:
    wanted, other = unique(sample_command("create-fulfillment")), unique(sample_command("create-fulfillment"))
    for command in (wanted, other):
        stack.send(command)
    assert stack.wait_until_drained(DRAIN_TIMEOUT)

    result = cli("events", "--stack-file", stack_file, "--command-id", wanted["commandId"], "--json")

    assert result.exit_code == ExitCode.OK, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # The create's outcome, and the FULFILLMENT_ORDER_STATUS notification of its order, which names it.
    assert sorted(event["detailType"] for event in events) == [
        command_event("succeeded"),
        notification_event("FULFILLMENT_ORDER_STATUS"),
    ]
    assert [event["detail"]["commandId"] for event in events] == [wanted["commandId"]] * 2


def test_events_follow_prints_events_as_they_arrive_until_ctrl_c(stack: LocalStack, stack_file: Path) -> None:
    command = unique(sample_command("create-fulfillment"))
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cli.main", "events", "--follow", "--stack-file", str(stack_file),
         "--command-id", command["commandId"], "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2)
    stack.send(command)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the event is printed
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert json.loads(line)["detail"]["commandId"] == command["commandId"]
    assert process.returncode == ExitCode.OK, stderr
    assert "Traceback" not in stderr


def test_dlq_show_gives_sp_apis_own_message(stack: LocalStack, stack_file: Path) -> None:
    missing = unique(sample_command("cancel-fulfillment"))
    stack.send(missing)
    assert stack.wait_until_drained(DRAIN_TIMEOUT)
    shown = cli("dlq", "show", missing["commandId"], "--stack-file", stack_file, "--json")
    assert shown.exit_code == ExitCode.OK, shown.output
    letter = json.loads(shown.stdout)
    order_id = missing["payload"]["sellerFulfillmentOrderId"]
    assert letter["detail"].endswith(f"answered 404 (NotFound): Requested order '{order_id}' not found")
    assert letter["commandId"] == missing["commandId"]


def test_the_local_worker_logs_human_lines(stack: LocalStack, tmp_path: Path) -> None:
    queue = side_queue(stack)
    stack.client("sqs").send_message(
        QueueUrl=queue, MessageBody=json.dumps(unique(sample_command("create-fulfillment")))
    )
    stack_file = tmp_path / "worker.json"
    stack_file.write_text(json.dumps(stack.describe()))
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cli.main", "worker", "--stack-file", str(stack_file), "--queue-url", queue,
         "--concurrency", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while depth(stack, queue) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    lines = [line for line in output.splitlines() if "SP-API call" in line]
    assert lines, output
    assert " INFO    SP-API call  operation=createFulfillmentOrder account=demo-seller" in lines[0]
    assert '{"level"' not in output


# --- small things -----------------------------------------------------------------------------------------


def test_version_completion_and_help_at_80_columns() -> None:
    version = cli("--version")
    assert version.exit_code == 0 and version.output.startswith("sp-relay ")
    assert "--install-completion" in cli("--help").output
    shown = cli("dlq", "replay", "--help", env={"COLUMNS": "80"})
    assert "--set payload.items.0.quantity=2" in shown.output
    assert all(len(line) <= 80 for line in shown.output.splitlines())


def test_status_refuses_an_unknown_region_and_an_account_without_a_secret(
    stack: LocalStack, stack_file: Path
) -> None:
    region = cli("status", "--stack-file", stack_file, "--region", "us")
    assert region.exit_code == ExitCode.USAGE
    assert "na, eu, fe" in region.output
    typo = cli("status", "--stack-file", stack_file, "--account", "demo-seler")
    assert typo.exit_code == ExitCode.REFUSED, typo.output
    assert "has no secret" in typo.output and "Did you mean 'demo-seller'?" in typo.output
    assert "rate-limit buckets" not in typo.output


def test_status_json_and_80_columns(stack: LocalStack, stack_file: Path) -> None:
    # The first call tells the worker SP-API's granted rate; the second token is taken at that rate.
    for _ in range(2):
        stack.send(unique(sample_command("create-fulfillment")))
        assert stack.wait_until_drained(DRAIN_TIMEOUT)
    shown = cli("status", "--stack-file", stack_file, "--account", "demo-seller", "--json")
    assert shown.exit_code == ExitCode.OK, shown.output
    document = json.loads(shown.stdout)
    assert {q["queue"] for q in document["queues"]} == {"commands", "dead letters"}
    [create] = [b for b in document["buckets"] if b["operation"].endswith(".createFulfillmentOrder")]
    assert stack.emulator is not None
    granted = 2.0 * stack.emulator.state.config.rate_scale  # the emulator's x-amzn-RateLimit-Limit
    assert (create["rate"], create["burst"]) == (granted, 30)
    table = cli("status", "--stack-file", stack_file, "--account", "demo-seller", env={"COLUMNS": "80"})
    assert all(len(line) <= 80 for line in table.output.splitlines()), table.output


def test_schema_of_one_type_and_an_example_of_it_that_validates(tmp_path: Path) -> None:
    whole = cli("schema")
    one = cli("schema", "--type", "cancel-fulfillment")
    assert one.exit_code == ExitCode.OK
    schema = json.loads(one.stdout)
    assert schema["$ref"] == "#/$defs/CancelFulfillmentCommand"
    assert len(one.stdout) < len(whole.stdout) / 10
    example = cli("example", "cancel-fulfillment")
    assert example.exit_code == ExitCode.OK
    (tmp_path / "example.json").write_text(example.stdout)
    assert cli("send", "--dry-run", tmp_path / "example.json").exit_code == ExitCode.OK
    typo = cli("schema", "--type", "cancel-fulfilment")
    assert typo.exit_code == ExitCode.USAGE
    assert "did you mean 'cancel-fulfillment'?" in typo.output


def test_an_example_search_window_ends_today_unless_asked_for_the_sample_as_written() -> None:
    before = datetime.now(UTC).date().isoformat()
    window = json.loads(cli("example", "list-df-purchase-orders").stdout)["payload"]
    after = datetime.now(UTC).date().isoformat()
    assert window["createdBefore"][:10] in {before, after}
    as_written = json.loads(cli("example", "list-df-purchase-orders", "--as-written").stdout)["payload"]
    assert as_written == json.loads((ROOT / "events" / "list-df-purchase-orders.json").read_text())["payload"]


def test_stack_name_reads_the_queue_urls_from_the_cloudformation_outputs(stack: LocalStack) -> None:
    described = stack.describe()
    env = {"AWS_ENDPOINT_URL": described["awsEndpointUrl"], "AWS_REGION": described["region"]}
    stacks = stack.client("cloudformation").describe_stacks()["Stacks"]
    [name] = [
        s["StackName"]
        for s in stacks
        if any(o["OutputKey"] == "CommandQueueUrl" for o in s.get("Outputs", []))
    ]
    shown = cli("status", "--stack-name", name, "--json", env=env)
    assert shown.exit_code == ExitCode.OK, shown.output
    queues = {q["queue"]: q for q in json.loads(shown.stdout)["queues"]}
    names = {name: queue["url"].rsplit("/", 1)[-1] for name, queue in queues.items()}
    assert names == {
        "commands": described["commandQueueUrl"].rsplit("/", 1)[-1],
        "dead letters": described["deadLetterQueueUrl"].rsplit("/", 1)[-1],
    }
    assert all("waiting" in queue for queue in queues.values())  # read through the outputs' URLs
    missing = cli("status", "--stack-name", "no-such-stack", env=env)
    assert missing.exit_code == ExitCode.AWS_REFUSED
    assert "no CloudFormation stack 'no-such-stack'" in missing.output
