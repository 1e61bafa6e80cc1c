#!/usr/bin/python3
"""crash-workload.py - a metadata-heavy workload for the crash-image tests (runs in the VM).

Usage: crash-workload.py MOUNTPOINT SECONDS WORKERS SEED DURABLE_LOG
       crash-workload.py --snapshots FILE DIR COUNT SECONDS SEED [WAIT_FOR]

The second form takes COUNT reflink copies (`cp --reflink=always`) of the live FILE into DIR at
seeded random instants over SECONDS, printing "PATH NANOSECONDS" per snapshot, NANOSECONDS
being CLOCK_MONOTONIC just before the copy started. With WAIT_FOR, the SECONDS start once that
file is non-empty (the workload's first durable file), so snapshots fall inside the workload.
With LOOPORDER_SNAPSHOT set (e.g. "loop-order snapshot 0"), each snapshot is taken by that command
instead, as `$LOOPORDER_SNAPSHOT sNNN --to PATH --json`, and each line gets a third column: the
milliseconds the command says writes were held.

WORKERS processes, each in its own directory under MOUNTPOINT, for SECONDS: create, write,
overwrite, fsync, rename, unlink and mkdir. Some files are made durable: written under a
temporary name, fsynced, renamed into place, then the file and its directory fsynced. Only
after every fsync returned is the file's line appended to DURABLE_LOG:

    NANOSECONDS SHA256 PATH        (PATH relative to MOUNTPOINT)

NANOSECONDS is CLOCK_MONOTONIC read after the fsyncs returned, so any crash image of an event
stamped later must hold the file with that content. A durable file, and every directory above
it, is never modified, renamed or removed afterwards: only files never logged durable are
overwritten, renamed or unlinked. Prints one summary line.
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import traceback


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd, data, offset=None):
    """Writes every byte of data: a write(2) may write less than it was given (a filesystem that
    fills up mid-write returns the bytes it took), and a durable file logged with the digest of
    data it does not hold would be reported as lost by every image after it."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        if offset is None:
            n = os.write(fd, view[done:])
        else:
            n = os.pwrite(fd, view[done:], offset + done)
        if n <= 0:
            raise OSError(f"write returned {n} after {done} of {len(view)} bytes")
        done += n


def write_file(path, data, sync):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def worker(root, index, seconds, seed, log_path):
    rnd = random.Random(seed * 1000 + index)
    top = f"w{index}"
    os.mkdir(os.path.join(root, top))
    fsync_path(os.path.join(root, top))
    fsync_path(root)
    dirs = [top]
    scratch = []
    counts = {"durable": 0, "scratch": 0, "overwrite": 0, "rename": 0, "unlink": 0, "mkdir": 0}
    serial = 0
    deadline = time.monotonic() + seconds
    with open(log_path, "a", buffering=1) as log:
        while time.monotonic() < deadline:
            serial += 1
            op = rnd.random()
            # Before every op: three workers adding up to 200 KB each between checks stay far
            # inside the 35% margin of a 32 MiB filesystem (checking every 16 ops, a run of large
            # files filled it once, and every worker then failed with ENOSPC).
            st = os.statvfs(root)
            if st.f_bavail < st.f_blocks * 0.35:
                # Keep clear of ENOSPC: only unlinks (or nothing) until space comes back.
                op = 0.90 if scratch else 2.0
                if not scratch:
                    time.sleep(0.05)
                    continue
            if op < 0.30:
                d = rnd.choice(dirs)
                name = f"{d}/d{serial}"
                data = rnd.randbytes(rnd.choice([rnd.randint(1, 4096), rnd.randint(4096, 65536), rnd.randint(65536, 200000)]))
                tmp = os.path.join(root, f"{d}/.tmp{serial}")
                write_file(tmp, data, sync=True)
                os.rename(tmp, os.path.join(root, name))
                fsync_path(os.path.join(root, name))
                fsync_path(os.path.join(root, d))
                now = time.monotonic_ns()
                log.write(f"{now} {hashlib.sha256(data).hexdigest()} {name}\n")
                counts["durable"] += 1
            elif op < 0.55 or not scratch:
                d = rnd.choice(dirs)
                name = f"{d}/s{serial}"
                write_file(os.path.join(root, name), rnd.randbytes(rnd.randint(1, 100000)), sync=rnd.random() < 0.3)
                scratch.append(name)
                counts["scratch"] += 1
            elif op < 0.72:
                name = rnd.choice(scratch)
                fd = os.open(os.path.join(root, name), os.O_WRONLY)
                try:
                    write_all(fd, rnd.randbytes(rnd.randint(1, 20000)), rnd.randint(0, 100000))
                    if rnd.random() < 0.3:
                        os.fdatasync(fd)
                finally:
                    os.close(fd)
                counts["overwrite"] += 1
            elif op < 0.84:
                if rnd.random() < 0.3 and len(scratch) > 1:
                    # Over another scratch file: an atomic replace of something never durable.
                    i, j = rnd.sample(range(len(scratch)), 2)
                    os.rename(os.path.join(root, scratch[i]), os.path.join(root, scratch[j]))
                    scratch.pop(i)
                else:
                    i = rnd.randrange(len(scratch))
                    new = f"{rnd.choice(dirs)}/r{serial}"
                    os.rename(os.path.join(root, scratch[i]), os.path.join(root, new))
                    scratch[i] = new
                counts["rename"] += 1
            elif op < 0.96:
                name = scratch.pop(rnd.randrange(len(scratch)))
                os.unlink(os.path.join(root, name))
                counts["unlink"] += 1
            else:
                d = f"{rnd.choice(dirs)}/m{serial}"
                os.mkdir(os.path.join(root, d))
                fsync_path(os.path.join(root, d))
                fsync_path(os.path.dirname(os.path.join(root, d)))
                dirs.append(d)
                counts["mkdir"] += 1
    return counts


def snapshots(source, directory, count, seconds, seed, wait_for):
    rnd = random.Random(seed)
    if wait_for:
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up and not (os.path.exists(wait_for) and os.path.getsize(wait_for) > 0):
            time.sleep(0.05)
    start = time.monotonic()
    instants = sorted(rnd.uniform(0.5, seconds) for _ in range(count))
    for i, at in enumerate(instants):
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        path = os.path.join(directory, f"snap-{i:03d}.img")
        command = os.environ.get("LOOPORDER_SNAPSHOT")
        now = time.monotonic_ns()
        if command:
            out = subprocess.run(command.split() + [f"s{i:03d}", "--to", path, "--json"], check=True,
                                 capture_output=True, text=True).stdout
            print(f"{path} {now} {json.loads(out)['writesHeldMs']:.3f}", flush=True)
        else:
            subprocess.run(["cp", "--reflink=always", source, path], check=True)
            print(f"{path} {now}", flush=True)


def main():
    if sys.argv[1] == "--snapshots":
        snapshots(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]),
                  sys.argv[7] if len(sys.argv) > 7 else None)
        return
    root, seconds, workers, seed, log_path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    pids = []
    for i in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                counts = worker(root, i, seconds, seed, f"{log_path}.{i}")
                print(f"worker {i}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
                code = 0
            except BaseException:
                # os._exit in the finally would swallow the exception: say what it was.
                traceback.print_exc()
            finally:
                os._exit(code)
        pids.append(pid)
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            failed += 1
    with open(log_path, "w") as out:
        for i in range(workers):
            part = f"{log_path}.{i}"
            if os.path.exists(part):
                with open(part) as p:
                    out.write(p.read())
                os.unlink(part)
    if failed:
        print(f"crash-workload: {failed} workers failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
