#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""One QMP command from the shell, for the lab tests and the demo.

    qmp.py [-f FIELD] [-t SECONDS] SOCKET COMMAND [ARGUMENTS-AS-JSON]

Prints the command's return value as JSON, or only FIELD of it (a.b for nested objects); exits
1 with QMP's error message, 2 when the socket does not answer in time. Events that arrive
meanwhile are skipped.
"""
import argparse
import json
import socket
import sys


def reply(stream):
    """The next reply to a command: the first message that is not an event."""
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("QMP closed the connection")
        msg = json.loads(line)
        if "event" not in msg:
            return msg


def execute(stream, command, arguments=None):
    msg = {"execute": command}
    if arguments is not None:
        msg["arguments"] = arguments
    stream.write(json.dumps(msg) + "\n")
    stream.flush()
    answer = reply(stream)
    if "error" in answer:
        sys.exit(f"qmp: {command}: {answer['error'].get('desc', answer['error'])}")
    return answer["return"]


def main():
    parser = argparse.ArgumentParser(description="Run one QMP command.")
    parser.add_argument("-f", "--field", help="print only this field (a.b: nested)")
    parser.add_argument("-t", "--timeout", type=float, default=10, help="seconds (default 10)")
    parser.add_argument("socket")
    parser.add_argument("command")
    parser.add_argument("arguments", nargs="?", type=json.loads)
    args = parser.parse_args()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(args.timeout)
            sock.connect(args.socket)
            stream = sock.makefile("rw")
            reply(stream)  # the greeting
            execute(stream, "qmp_capabilities")
            result = execute(stream, args.command, args.arguments)
    except (OSError, ConnectionError, ValueError) as e:
        print(f"qmp: {args.socket}: {e}", file=sys.stderr)
        sys.exit(2)
    for key in args.field.split(".") if args.field else []:
        if not isinstance(result, dict) or key not in result:
            sys.exit(f"qmp: {args.command} returned no {args.field}: {json.dumps(result)}")
        result = result[key]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
