"""Start a command of the env from its warm runner instead of a fresh interpreter.

    python -S warm_exec.py -m MODULE [ARGS...]
    python -S warm_exec.py -c CODE [ARGS...]
    python -S warm_exec.py SCRIPT [ARGS...]
    python -S warm_exec.py [ANYTHING ELSE python takes]

The same as `python -m MODULE ARGS`, `python -c CODE ARGS` or `python SCRIPT ARGS`, but when
$HARNESS_WARM_EXEC names the socket of the env's warm runner (which has
already imported the package), that runner forks a child which becomes the
command: it gets this process's stdin, stdout and stderr, argv, environment
and working folder. This process stays as its stand-in: it passes on the
signals it gets and exits with the child's exit status, so whoever started it
(a worker, a CLI call in a demo) sees an ordinary process.

Without the socket (no warm runner, or it is not ready yet) it becomes the
plain interpreter with os.execv; so does any other command line (interpreter
options, none at all), which makes it a stand-in for `python` itself, and so
does a command handed descriptors beyond those three, which a fork could not
have. Run with -S: it needs only the stdlib, and
skipping site keeps this stand-in cheap to start.

Stdlib only, Python 3.7 syntax: it runs in every era's interpreter.
"""
import array
import json
import os
import signal
import socket
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def plain(argv):
    os.execv(sys.executable, [sys.executable] + argv)


def connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def handed_descriptors():
    """Descriptors the caller left open beyond stdin, stdout and stderr (multiprocessing's spawn passes its
    pipes so, as `python -c ... --multiprocessing-fork`): a child forked from the runner could not have them."""
    try:
        listed = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
    except OSError:
        return []
    found = []
    for fd in listed:  # the listing's own descriptor is closed by now
        try:
            os.fstat(fd)
            found.append(fd)
        except OSError:
            pass
    return found


def main(argv):
    forkable = bool(argv) and (argv[0] in ("-m", "-c") and len(argv) > 1 or not argv[0].startswith("-"))
    forkable = forkable and not handed_descriptors()
    path = os.environ.get("HARNESS_WARM_EXEC", "")
    sock = connect(path) if path and forkable else None
    if sock is None:
        plain(argv)
    request = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode() + b"\n"
    fds = array.array("i", [0, 1, 2])
    try:
        sent = sock.sendmsg([request[:4096]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        sock.sendall(request[sent:])
        reader = sock.makefile("rb")
        first = reader.readline().split()
    except OSError:
        first = []
    if len(first) != 2 or first[0] != b"pid":
        sock.close()
        plain(argv)  # nothing ran yet: run it the plain way
    pid = int(first[1])

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    last = reader.readline().split()
    if len(last) != 2 or last[0] != b"exit":
        sys.stderr.write("warm_exec: the warm runner went away while running %s\n" % " ".join(argv))
        return 1
    code = int(last[1])
    if code < 0:  # killed by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
