#!/usr/bin/env python3
"""report.py RAW_DIR RESULTS_DIR [KERNEL] - bench/fio's fio JSON -> RESULTS.md, results/runs.json, ratios.png.
   report.py --index RESULTS_DIR KERNEL... - RESULTS.md for a run on several kernels (run.sh VM_KERNELS)

With KERNEL (run.sh VM_KERNELS="6.12 7.3"): RESULTS-KERNEL.md and results/KERNEL/ instead, and no
NOTES.md in it; --index then writes RESULTS.md: the issue-18 goals per kernel side by side, links
to each kernel's report, and NOTES.md. Each kernel's ratios are within its own VM run only.

RAW_DIR holds r<repeat>.<target>.<job>.json (fio --output-format=json), .threads snapshots,
.stats snapshots (the engine's flush statistics), meta.txt (from the guest) and host.txt.
Targets loX-... are LoopOrder served by a second build X (run.sh BENCH_BUILDS), compared with
the same lo-... target of the working tree's build. Medians over repeats; each LoopOrder row's ratio is
against the loop row of the same cache mode (buffered: loop, -dio: loop-dio) in the same run.
NBD targets (nbd-ko-cN: the kernel's nbd.ko; lo-nbd-MODE-cN: LoopOrder's NBD target; both against
one nbdkit server) get their own section: each LoopOrder row against nbd-ko-cN of the same
connection count when that ran, else nbd-ko-c1, and 1 vs N connections side by side.
"""
import glob, json, os, re, shutil, statistics, subprocess, sys
from collections import defaultdict

if sys.argv[1] == "--index":
    import index_report  # noqa: E402 (bench/fio/index_report.py, next to this file)
    index_report.main(sys.argv[2], sys.argv[3:])
    sys.exit(0)
raw, out = sys.argv[1], sys.argv[2]
kernel = sys.argv[3] if len(sys.argv) > 3 else None
# rel: the results folder as RESULTS*.md links it
rel = f"results/{kernel}" if kernel else "results"
res = os.path.join(out, rel)
md_name = f"RESULTS-{kernel}.md" if kernel else "RESULTS.md"
os.makedirs(res, exist_ok=True)

def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d

meta, host = kv(os.path.join(raw, "meta.txt")), kv(os.path.join(raw, "host.txt"))
JOB_ORDER = ["randwrite", "randread", "fsync32", "seqwrite", "randrw"]
JOB_DESC = {
    "randwrite": "4 KiB random write, QD32",
    "randread": "4 KiB random read, QD32",
    "fsync32": "4 KiB random write, QD32, fsync every 32 writes",
    "seqwrite": "1 MiB sequential write, QD8",
    "randrw": "4 KiB random 70% read / 30% write, QD32",
}

def load(path):
    text = open(path).read()
    return json.loads(text[text.index("{"):])

USER_HZ = 100  # /proc/stat's unit: clock ticks of 1/100 s (USER_HZ is 100 on x86 Linux)

def samples(path):
    """The sampler's lines (inside.sh sample): [(t, busy jiffies, ctxt, {tid: io_uring_enter})], and
    the server's thread ids (the S line), or None without a file."""
    if not os.path.exists(path):
        return None, set()
    out, srv = [], set()
    for line in open(path):
        w = line.split()
        if not w:
            continue
        if w[0] == "S":
            srv = {int(x) for x in w[1:] if x.isdigit()}
            continue
        if w[0] != "T" or "ctxt" not in w:
            continue
        try:
            t = float(w[1])
            c = w.index("cpu")
            f = [int(x) for x in w[c + 1:w.index("ctxt")]]
            # user nice system idle iowait irq softirq steal ...: busy = user+nice+system+irq+softirq
            busy = f[0] + f[1] + f[2] + f[5] + f[6]
            ctxt = int(w[w.index("ctxt") + 1])
            h = {}
            if "H" in w:
                for x in w[w.index("H") + 1:]:
                    tid, _, n = x.partition(":")
                    h[int(tid)] = int(n)
            out.append((t, busy, ctxt, h))
        except (ValueError, IndexError):
            continue  # a line cut short
    out.sort(key=lambda x: x[0])
    return out, srv

def at(ss, t, f):
    """f(sample) interpolated linearly at time t; None when t is outside the samples."""
    if not ss or t < ss[0][0] or t > ss[-1][0]:
        return None
    for a, b in zip(ss, ss[1:]):
        if a[0] <= t <= b[0]:
            if b[0] == a[0]:
                return f(a)
            return f(a) + (f(b) - f(a)) * (t - a[0]) / (b[0] - a[0])
    return f(ss[-1])

def per_io(path, fio_json, ios):
    """Guest CPU us, context switches and io_uring_enter calls (server, all) per I/O over fio's
    measured window: [timestamp_ms - runtime, timestamp_ms] (after the ramp; fio writes its JSON
    when its jobs have ended)."""
    ss, srv = samples(path)
    none = {"cpu_us_per_io": None, "cs_per_io": None, "uring_srv_per_io": None, "uring_all_per_io": None, "busy": None}
    if not ss or not ios:
        return none
    end = fio_json["timestamp_ms"] / 1000.0
    j = fio_json["jobs"][0]
    dur = max(j["read"]["runtime"], j["write"]["runtime"]) / 1000.0
    start = end - dur
    d = lambda f: (None if at(ss, end, f) is None or at(ss, start, f) is None else at(ss, end, f) - at(ss, start, f))
    busy, cs = d(lambda x: x[1]), d(lambda x: x[2])
    r = dict(none)
    if busy is not None:
        r["cpu_us_per_io"] = busy * 1e6 / USER_HZ / ios
        r["busy"] = busy / USER_HZ / dur  # CPUs busy on average over the window
    if cs is not None:
        r["cs_per_io"] = cs / ios
    if any(x[3] for x in ss):
        a = d(lambda x: sum(x[3].values()))
        r["uring_all_per_io"] = None if a is None else a / ios
        if srv:
            v = d(lambda x: sum(n for k, n in x[3].items() if k in srv))
            r["uring_srv_per_io"] = None if v is None else v / ios
    return r

runs = []
for path in sorted(glob.glob(os.path.join(raw, "r*.json"))):
    m = re.match(r"r(\d+)\.(.+)\.([a-z0-9]+)\.json$", os.path.basename(path))
    if not m:
        continue
    rep, target, job = int(m.group(1)), m.group(2), m.group(3)
    fj = load(path)
    j = fj["jobs"][0]
    rd, wr = j["read"], j["write"]
    main = rd if job == "randread" else wr
    if job == "randrw":
        main = rd  # latency of the majority direction; both are in runs.json
    pct = lambda d, p: d["clat_ns"].get("percentile", {}).get(p, 0) / 1000.0
    sync = j.get("sync", {})
    runs.append({
        "repeat": rep, "target": target, "job": job,
        "iops": rd["iops"] + wr["iops"],
        "mbps": (rd["bw_bytes"] + wr["bw_bytes"]) / 1e6,
        "p50_us": pct(main, "50.000000"), "p99_us": pct(main, "99.000000"),
        "read_p99_us": pct(rd, "99.000000"), "write_p99_us": pct(wr, "99.000000"),
        "ios": rd["total_ios"] + wr["total_ios"],
        "errors": j.get("error", 0),
        "fsyncs": sync.get("total_ios", 0),
        "fsync_p50_ms": sync.get("lat_ns", {}).get("percentile", {}).get("50.000000", 0) / 1e6,
    } | per_io(path[:-len(".json")] + ".cpu", fj, rd["total_ios"] + wr["total_ios"]))
json.dump({"meta": meta, "host": host, "runs": runs}, open(os.path.join(res, "runs.json"), "w"), indent=1)

# raw fio JSON kept next to the report (small: group_reporting, no latency bins)
rawdst = os.path.join(res, "raw")
shutil.rmtree(rawdst, ignore_errors=True)
os.makedirs(rawdst)
for f in glob.glob(os.path.join(raw, "*.json")) + glob.glob(os.path.join(raw, "*.threads")) + \
         glob.glob(os.path.join(raw, "*.txt")) + glob.glob(os.path.join(raw, "*.log")) + \
         glob.glob(os.path.join(raw, "*.stats")) + glob.glob(os.path.join(raw, "*.cpu")):
    shutil.copy(f, rawdst)

groups = defaultdict(list)
for r in runs:
    groups[(r["target"], r["job"])].append(r)
PER_IO = ("cpu_us_per_io", "cs_per_io", "uring_srv_per_io", "uring_all_per_io", "busy")
def median_of(v, f):
    xs = [x[f] for x in v if x.get(f) is not None]
    return statistics.median(xs) if xs else None
med = {k: {f: median_of(v, f) for f in ("iops", "mbps", "p50_us", "p99_us") + PER_IO} | {"n": len(v)}
       for k, v in groups.items()}

targets_in = meta.get("targets", "").split() or sorted({r["target"] for r in runs})
targets = [t for t in targets_in if any(k[0] == t for k in med)]
jobs = [j for j in JOB_ORDER if any(k[1] == j for k in med)]

LO = re.compile(r"lo([a-z]?)-(\w+)-q(\d+)(-dio)?$")
MEM = re.compile(r"lo([a-z]?)-mem-(\w+)-q(\d+)$")
def is_lo(t):
    return LO.match(t) is not None or MEM.match(t) is not None

def is_mem(t):
    return MEM.match(t) is not None

def build_of(t):
    m = LO.match(t) or MEM.match(t) or NBD_LO.match(t)
    return m.group(1) if m else ""

NBD_LO = re.compile(r"lo([a-z]?)-nbd-(\w+)-c(\d+)$")
NBD_KO = re.compile(r"nbd-ko-c(\d+)$")
def is_nbd(t):
    return NBD_LO.match(t) is not None or NBD_KO.match(t) is not None

RBD_LO = re.compile(r"lo([a-z]?)-rbd-(\w+)$")
RBD_REFS = ("krbd", "rbd-nbd")
def is_rbd(t):
    return t in RBD_REFS or RBD_LO.match(t) is not None

def conns(t):
    m = NBD_LO.match(t) or NBD_KO.match(t)
    return int(m.group(m.lastindex)) if m else 0

def nbd_base(t, j):
    """The kernel client row a LoopOrder NBD row is compared with: same connection count, else c1."""
    same = f"nbd-ko-c{conns(t)}"
    return same if (same, j) in med else "nbd-ko-c1"

def same_in_tree(t):
    """The working tree's target a second build's target is compared with."""
    return "lo-" + t.split("-", 1)[1]

def per_rep_ratios(t, j, f="iops", base=None):
    """f of t over f of base (default: the loop row of t's cache mode), within each repeat."""
    a = {x["repeat"]: x.get(f) for x in groups.get((t, j), [])}
    b = {x["repeat"]: x.get(f) for x in groups.get((base or baseline(t), j), [])}
    return [a[r] / b[r] for r in sorted(a) if r in b and a[r] is not None and b[r]]

def ratio_f(t, j, f="iops", base=None):
    """Ratio of the medians of f (t over base)."""
    b = med.get((base or baseline(t), j)); m = med.get((t, j))
    if not b or not m or b.get(f) is None or m.get(f) is None or not b[f]:
        return None
    return m[f] / b[f]

def spread(t, j, f="iops", base=None):
    rs = per_rep_ratios(t, j, f, base)
    return f"{min(rs):.2f}-{max(rs):.2f}" if rs else "-"

def baseline(t):
    return "loop-dio" if t.endswith("-dio") else "loop"

def ratio(t, j, base=None):
    """IOPS of t over those of base (default: the loop row of t's cache mode), medians of job j."""
    b = med.get((base or baseline(t), j)); m = med.get((t, j))
    if not b or not m or not b["iops"]:
        return None
    return m["iops"] / b["iops"]

def is_file(t):
    return t in ("file", "file-dio")

def label(t):
    if t == "loop": return "loop (buffered)"
    if t == "loop-dio": return "loop --direct-io=on"
    if t == "file": return "bare file (fio, buffered)"
    if t == "file-dio": return "bare file (fio, O_DIRECT)"
    if t == "krbd": return "krbd (rbd.ko)"
    if t == "rbd-nbd": return "rbd-nbd (librbd, nbd.ko)"
    m = RBD_LO.match(t)
    if m: return f"LoopOrder{f' [{m.group(1)}]' if m.group(1) else ''} rbd {m.group(2)}"
    m = NBD_KO.match(t)
    if m: return f"nbd.ko, {m.group(1)} conn"
    m = NBD_LO.match(t)
    if m:
        b = f" [{m.group(1)}]" if m.group(1) else ""
        return f"LoopOrder{b} nbd {m.group(2)}, {m.group(3)} conn"
    m = MEM.match(t)
    if m:
        b = f" [{m.group(1)}]" if m.group(1) else ""
        return f"LoopOrder{b} {m.group(2)} q{m.group(3)} memory (floor)"
    m = LO.match(t)
    if not m: return t
    b = f" [{m.group(1)}]" if m.group(1) else ""
    return f"LoopOrder{b} {m.group(2)} q{m.group(3)}{' direct' if m.group(4) else ' buffered'}"

# per-thread CPU and context switches of the server during each job (repeat 1), from the snapshots
def snap(path):
    d = defaultdict(lambda: [0, 0, 0, 0, 0])
    if not os.path.exists(path): return None
    for line in open(path):
        p = line.rstrip("\n").split("\t")
        if len(p) != 5: continue
        e = d[p[0]]; e[0] += 1
        for i in range(1, 5): e[i] += int(p[i] or 0)
    return d

def profile(t, j):
    order = ["start"] + [x for x in meta.get("jobs", "").split()]
    i = order.index(j) if j in order else -1
    prev = None
    for k in range(i - 1, -1, -1):
        prev = snap(os.path.join(raw, f"r1.{t}.{order[k]}.threads"))
        if prev is not None: break
    cur = snap(os.path.join(raw, f"r1.{t}.{j}.threads"))
    if cur is None or prev is None: return None
    rows = {}
    for name, e in cur.items():
        p = prev.get(name, [0, 0, 0, 0, 0])
        rows[name] = (e[0], e[1] - p[1], e[2] - p[2], e[3] - p[3], e[4] - p[4])
    return rows

def fmt(x, nd=0):
    return f"{x:,.{nd}f}"

# The loop sections (headline, results, chart) cover the loop, bare-file and lo-MODE-qN rows; the
# NBD rows have their own section, against the kernel's NBD client.
loop_targets = [t for t in targets if not is_nbd(t) and not is_rbd(t)]
nbd_targets = [t for t in targets if is_nbd(t)]
rbd_targets = [t for t in targets if is_rbd(t)]

L = []
L.append("# LoopOrder vs the kernel loop driver" + (" and NBD client" if nbd_targets else "") +
         (" and RBD clients" if rbd_targets else "") + ": fio side by side" +
         (f" (kernel {meta.get('kernel', kernel)})" if kernel else "") + "\n")
L.append("> **Absolute numbers mean nothing here.** Everything runs in a qemu **TCG** (software-emulated) VM "
         "on a small shared host; only the **ratios within one run** count. Regenerate with one command: "
         "`bench/fio/run.sh` (see [bench/fio/README.md](fio/README.md)).\n")
if kernel:
    L.append("One kernel's VM run of several (`VM_KERNELS`); [RESULTS.md](RESULTS.md) puts them side by side.\n")
L.append("## Run\n")
L.append(f"- Date: {host.get('date', '?')}; commit `{host.get('commit', '?')}`")
L.append(f"- Host: {host.get('host_cpu', '?')}, {host.get('host_cores', '?')} cores, kernel {host.get('host_kernel', '?')}, "
         f"load average {host.get('host_load', '?')} before / {host.get('host_load_after', '?')} after (shared with other work)")
hl_path = os.path.join(raw, "hostload.txt")
if os.path.exists(hl_path):
    loads = [float(w[1]) for w in (l.split() for l in open(hl_path)) if len(w) >= 2 and w[1].replace(".", "").isdigit()]
    if loads:
        L.append(f"- Host load (1-min average, every 30 s during the VM run, {len(loads)} samples): min {min(loads):.1f}, "
                 f"median {statistics.median(loads):.1f}, max {max(loads):.1f} on {host.get('host_cores', '?')} cores "
                 "(`raw/hostload.txt`); the guest's CPU figures include time its vCPUs were descheduled on the host")
L.append(f"- Guest: kernel {meta.get('kernel', '?')}, {meta.get('vcpus', '?')} vCPUs ({host.get('vm_accel', 'tcg')}"
         f"{', cpu ' + host['vm_cpu'] if host.get('vm_cpu') else ''}), "
         f"{meta.get('mem_mb', '?')} MiB; {meta.get('fio', '?')}; VM wall time {host.get('vm_seconds', '?')} s")
L.append(f"- Backing file: {meta.get('size_mb', '?')} MiB, fully written once, on {meta.get('scratch_fs', '?')} "
         f"(virtio disk, host image opened O_DIRECT: fsync reaches a disk); the same file for every target, "
         "page cache " + ("synced (Dirty + Writeback polled near 0) and dropped before every job"
                          if meta.get("settle") else "dropped between targets"))
L.append(f"- Matrix that ran: targets `{meta.get('targets', '?')}`; jobs `{meta.get('jobs', '?')}`; "
         f"{meta.get('runtime', '?')} s per job after {meta.get('ramp', '?')} s ramp; {meta.get('repeats', '?')} repeats of "
         f"`{meta.get('repeat_jobs', '?')}` (other jobs once). `n` in the tables = runs behind each median. "
         "The full matrix (drain/strict/none x 1,2 queues x buffered/direct, every job 3 times, 10 s): "
         "`BENCH_FULL=1 BENCH_RUNTIME=10 BENCH_REPEATS=3 VM_TIMEOUT=14400 bench/fio/run.sh` (about 1.5 h under TCG here).")
nj = int(meta.get("numjobs", 2))
L.append("- fio: `--ioengine=io_uring --direct=1` on the block device, " +
         ("2 jobs (one per vCPU, so both queues of a 2-queue device carry requests) x iodepth 16 = QD32 (seqwrite: 2 x 4 "
          "= QD8, each job on its own half). " if nj == 2 else
          f"{nj} job{'s' if nj > 1 else ''}{'' if nj > 1 else ', not pinned'}, QD32 in all (seqwrite: QD8). ") +
         "`--direct=1` keeps the guest page cache above the device out of it: what differs is the device's own "
         "cache mode (LoopOrder buffered vs `--direct-io`; loop default vs `--direct-io=on`).")
L.append(("- Ratio = LoopOrder IOPS / loop IOPS for the same job, same run, same cache mode (buffered vs `loop`, "
          "`-dio` vs `loop --direct-io=on`). " if loop_targets else "- ") +
         "Latency columns are completion latency (clat) of writes, of reads for randread and randrw.")
if any(is_file(t) for t in targets):
    L.append("- `bare file` rows: no device at all; the same fio job run on the backing file itself, through the page "
             "cache (`--direct=0`) or O_DIRECT: what a user-space program gets from this file with the same job, the "
             "reference for a server that writes the file from user space (the loop driver writes it from inside the "
             "kernel, with no system call per request). Its fsync is a whole-file fsync, as loop's flush is.")
if nbd_targets:
    L.append(f"- NBD rows: one `{meta.get('nbdkit', 'nbdkit')}` `file` plugin server on the same backing file, on a "
             f"Unix socket, started for each NBD target and stopped after it; `nbd.ko` set up by "
             f"`{meta.get('nbd_client', 'nbd-client')}` (netlink, `-C N -b 4096`) vs LoopOrder `--target nbd "
             "--connections N --queues 2 --block-size 4096`. See [NBD](#nbd-looporder-vs-the-kernels-nbd-client).")
if meta.get("order") == "serpentine":
    L.append("- Order: repeat 1 runs the targets as listed, repeat 2 in reverse, and so on, so drift of the host "
             "during the run falls on every target alike.")
if any(is_mem(t) for t in targets):
    L.append("- `memory (floor)` rows: LoopOrder serving its `memory` target (`--target memory --size S`): ublk, the "
             "server and the ordering engine with no file under them, the transport floor. Ratios vs `loop` (buffered).")
L.append("- Per I/O (guest): CPU = (user + nice + system + irq + softirq) jiffies of the whole guest from `/proc/stat`, "
         "interpolated at the edges of fio's measured window (after the ramp), in us, over the job's I/O count; "
         "context switches likewise from `ctxt`. Both count fio's own work and the sampler's (a shell loop reading "
         "/proc/stat every 0.25 s), the same for every target, so ratios understate the drivers' difference a little. "
         + ("io_uring_enter: calls per I/O counted by a tracefs hist trigger on the syscall's entry, per thread: "
            "`srv` = the LoopOrder server's threads, `all` = every process (fio's own included; the loop driver makes "
            "none)." if meta.get("syscount", "").startswith("io_uring_enter") else
            f"io_uring_enter calls: not counted ({meta.get('syscount', 'an older run')})."))

builds = sorted({build_of(t) for t in (meta.get("targets", "").split() or [r["target"] for r in runs]) if build_of(t)})
for b in builds:
    L.append(f"- Build [{b}] (targets `lo{b}-*`): `{host.get('build_' + b, '?')}`; targets `lo-*` are the working tree at `{host.get('commit', '?')}`")
L.append("")

# headline
if loop_targets:
    L.append("## Headline\n")
def hl(t, j, base=None):
    r = ratio(t, j, base)
    return "n/a" if r is None else f"**{r:.2f}x**"
def per_rep(t, j, base=None):
    a = {x["repeat"]: x["iops"] for x in groups.get((t, j), [])}
    b = {x["repeat"]: x["iops"] for x in groups.get((base or baseline(t), j), [])}
    rs = [a[r] / b[r] for r in sorted(a) if r in b and b[r]]
    return ", ".join(f"{x:.2f}" for x in rs) or "-"
if any(is_lo(t) for t in loop_targets):
    L.append("Ratio of medians; in brackets the ratio within each repeat (LoopOrder run / loop run of that repeat), "
             "which shows the spread.\n")
    L.append("| | randwrite | fsync32 |")
    L.append("|---|---|---|")
for t in loop_targets:
    if is_lo(t):
        L.append(f"| {label(t)} vs {label(baseline(t))} | {hl(t, 'randwrite')} ({per_rep(t, 'randwrite')}) | "
                 f"{hl(t, 'fsync32')} ({per_rep(t, 'fsync32')}) |")
L.append("")
def vs_file(t):
    return "file-dio" if t.endswith("-dio") else "file"
file_rows = [t for t in loop_targets if (is_lo(t) or t.startswith("loop")) and vs_file(t) in targets]
if file_rows:
    L.append("Against the bare file (fio on the backing file itself, same cache mode, same run): what a user-space "
             "writer of this file gets.\n")
    L.append("| | randwrite | fsync32 |")
    L.append("|---|---|---|")
    for t in file_rows:
        f = vs_file(t)
        L.append(f"| {label(t)} vs {label(f)} | {hl(t, 'randwrite', f)} ({per_rep(t, 'randwrite', f)}) | "
                 f"{hl(t, 'fsync32', f)} ({per_rep(t, 'fsync32', f)}) |")
    L.append("")
for b in [""] + builds:
  for q in ("q2", "q1"):
    for sfx in ("", "-dio"):
        d, s = f"lo{b}-drain-{q}{sfx}", f"lo{b}-strict-{q}{sfx}"
        for j in jobs:
            if (d, j) in med and (s, j) in med and med[(d, j)]["iops"]:
                c = med[(s, j)]["iops"] / med[(d, j)]["iops"]
                L.append(f"- strict / drain{f' [{b}]' if b else ''} ({q}{' direct' if sfx else ' buffered'}), {j}: {c:.2f}x")
if loop_targets:
    L.append("")

# Issue 18's must-show goals: drain (and strict) at the lowest queue count that ran, vs loop
def pick(mode, dio=False):
    qs = sorted(int(m.group(3)) for t in targets for m in [LO.match(t)]
                if m and not m.group(1) and m.group(2) == mode and bool(m.group(4)) == dio)
    return f"lo-{mode}-q{qs[0]}{'-dio' if dio else ''}" if qs else None

GOALS = [  # (what, job, target, base, metric, ">=" or "<=", bound)
    ("4 KiB random write, buffered: drain IOPS vs loop", "randwrite", pick("drain"), "loop", "iops", ">=", 1.0),
    ("4 KiB random write, buffered: drain CPU per I/O vs loop", "randwrite", pick("drain"), "loop", "cpu_us_per_io", "<=", 1.2),
    ("4 KiB random write, direct: drain IOPS vs loop-dio", "randwrite", pick("drain", True), "loop-dio", "iops", ">=", 0.8),
    ("4 KiB random write, direct: drain CPU per I/O vs loop-dio", "randwrite", pick("drain", True), "loop-dio", "cpu_us_per_io", "<=", 1.5),
    ("fsync every 32: drain IOPS vs loop", "fsync32", pick("drain"), "loop", "iops", ">=", 1.2),
    ("fsync every 32: strict IOPS vs drain", "fsync32", pick("strict"), pick("drain"), "iops", ">=", 0.8),
    ("1 MiB sequential write, direct: drain vs loop-dio", "seqwrite", pick("drain", True), "loop-dio", "iops", ">=", 0.8),
    ("1 MiB sequential write, buffered: drain vs loop", "seqwrite", pick("drain"), "loop", "iops", ">=", 0.5),
]
INFO = [  # shown beside the goals, no bound
    ("fsync every 32: drain CPU per I/O vs loop", "fsync32", pick("drain"), "loop", "cpu_us_per_io"),
    ("fsync every 32: none (orders nothing) IOPS vs drain", "fsync32", pick("none"), pick("drain"), "iops"),
    ("4 KiB random write: memory target (floor) IOPS vs loop", "randwrite", next((t for t in targets if is_mem(t)), None), "loop", "iops"),
    ("4 KiB random write: memory target (floor) CPU per I/O vs loop", "randwrite", next((t for t in targets if is_mem(t)), None), "loop", "cpu_us_per_io"),
    ("1 MiB sequential write: memory target (floor) vs loop", "seqwrite", next((t for t in targets if is_mem(t)), None), "loop", "iops"),
]
goal_rows = []
for what, j, t, b, f, op, bound in GOALS + [g + (None, None) for g in INFO]:
    if not t or not b or (t, j) not in med or (b, j) not in med:
        continue
    r = ratio_f(t, j, f, b)
    rs = per_rep_ratios(t, j, f, b)
    if r is None and op is None:
        continue
    met = None if op is None or r is None else (r >= bound if op == ">=" else r <= bound)
    goal_rows.append({"what": what, "job": j, "target": t, "base": b, "metric": f, "op": op, "bound": bound,
                      "ratio": r, "min": min(rs) if rs else None, "max": max(rs) if rs else None,
                      "per_repeat": rs, "met": met})
json.dump({"kernel": meta.get("kernel"), "date": host.get("date"), "commit": host.get("commit"),
           "vm_seconds": host.get("vm_seconds"), "repeats": meta.get("repeats"), "runtime": meta.get("runtime"),
           "goals": goal_rows}, open(os.path.join(res, "goals.json"), "w"), indent=1)

def goal_line(g):
    if g["ratio"] is None:
        return f"| {g['what']} (`{g['target']}` / `{g['base']}`) | {g['op']} {g['bound']:.1f}x | not measured | - | |"
    want = "" if g["op"] is None else f"{g['op']} {g['bound']:.1f}x"
    verdict = "" if g["met"] is None else ("met" if g["met"] else
              f"**missed** by {abs(g['ratio'] - g['bound']) / g['bound'] * 100:.0f}%")
    rs = ", ".join(f"{x:.2f}" for x in g["per_repeat"])
    return (f"| {g['what']} (`{g['target']}` / `{g['base']}`) | {want} | **{g['ratio']:.2f}x** | "
            f"{g['min']:.2f}-{g['max']:.2f} ({rs}) | {verdict} |" if g["min"] is not None else
            f"| {g['what']} | {want} | **{g['ratio']:.2f}x** | - | {verdict} |")

if goal_rows:
    L.append("## Issue 18 goals (this run)\n")
    L.append("Ratio of the medians over the repeats; the range of the ratios within one repeat (and each repeat's). "
             "CPU per I/O: lower is better.\n")
    L.append("| goal | want | median | per repeat | |")
    L.append("|---|---|---:|---|---|")
    L += [goal_line(g) for g in goal_rows]
    L.append("")

# A/B: a second build's target against the working tree's same target, same run
ab = []
for t in targets:
    a = same_in_tree(t) if build_of(t) else None
    if not a or a not in targets: continue
    for j in jobs:
        if (t, j) in med and (a, j) in med and med[(t, j)]["iops"]:
            ra = {x["repeat"]: x["iops"] for x in groups[(a, j)]}
            rb = {x["repeat"]: x["iops"] for x in groups[(t, j)]}
            reps = ", ".join(f"{ra[r] / rb[r]:.2f}" for r in sorted(ra) if r in rb and rb[r])
            ab.append(f"| {label(a)} / {label(t)} | {j} | {fmt(med[(a, j)]['iops'])} / {fmt(med[(t, j)]['iops'])} | "
                      f"**{med[(a, j)]['iops'] / med[(t, j)]['iops']:.2f}x** ({reps}) |")
if ab:
    L.append("### Builds side by side (same VM run)\n")
    L.append("Working tree / other build, IOPS medians; in brackets the ratio within each repeat.\n")
    L.append("| | job | IOPS | ratio |")
    L.append("|---|---|---:|---:|")
    L += ab
    L.append("")

if any(is_lo(t) or is_file(t) for t in loop_targets):
    L.append(f"![LoopOrder (and bare file) / loop IOPS ratio per job]({rel}/ratios.png)\n")
def cell(t, j, f, base=None, nd=2):
    """Ratio of medians and, in brackets, the range of the per-repeat ratios."""
    r = ratio_f(t, j, f, base)
    if r is None:
        return "n/a"
    rs = per_rep_ratios(t, j, f, base)
    return f"{r:.{nd}f}x" + (f" ({min(rs):.2f}-{max(rs):.2f})" if len(rs) > 1 else "")

def num(x, nd=0):
    return "-" if x is None else fmt(x, nd)

if loop_targets:
    L.append("## Results (medians)\n")
    L.append("Ratios vs the loop row of the same cache mode (buffered and memory: `loop`; `-dio`: `loop --direct-io=on`), "
             "same run: ratio of the medians, in brackets the lowest and highest ratio within one repeat (the spread). "
             "For latency and per-I/O cost lower is better.\n")
for j in jobs:
    if not any((t, j) in med for t in loop_targets): continue
    L.append(f"### {j}: {JOB_DESC.get(j, j)}\n")
    L.append("| target | n | IOPS | MB/s | p50 us | p99 us | IOPS vs loop | p50 vs loop | p99 vs loop |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in loop_targets:
        m = med.get((t, j))
        if not m: continue
        base = t.startswith("loop")
        c = (lambda f: "-" if base else cell(t, j, f))
        L.append(f"| {label(t)} | {m['n']} | {fmt(m['iops'])} | {fmt(m['mbps'], 1)} | {fmt(m['p50_us'])} | {fmt(m['p99_us'])} | "
                 f"{c('iops')} | {c('p50_us')} | {c('p99_us')} |")
    L.append("")
    if any(med.get((t, j), {}).get("cpu_us_per_io") is not None for t in loop_targets):
        L.append(f"Per I/O, {j} (guest-wide, over the measured window; medians):\n")
        L.append("| target | CPU us / I/O | CPU vs loop | CPUs busy | ctx switches / I/O | cs vs loop | io_uring_enter / I/O: srv | all |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for t in loop_targets:
            m = med.get((t, j))
            if not m: continue
            base = t.startswith("loop")
            c = (lambda f: "-" if base else cell(t, j, f))
            L.append(f"| {label(t)} | {num(m['cpu_us_per_io'], 1)} | {c('cpu_us_per_io')} | {num(m['busy'], 2)} | "
                     f"{num(m['cs_per_io'], 2)} | {c('cs_per_io')} | {num(m['uring_srv_per_io'], 2)} | {num(m['uring_all_per_io'], 2)} |")
        L.append("")

# NBD: LoopOrder's NBD target against the kernel's NBD client, both on one nbdkit server
def nbd_family(t):
    """A client with its connection count left out: the rows of the 1 vs N table."""
    m = NBD_LO.match(t)
    if m: return f"lo{m.group(1)}-nbd-{m.group(2)}"
    return "nbd-ko" if NBD_KO.match(t) else None

def family_label(f):
    if f == "nbd-ko": return "nbd.ko (kernel client)"
    m = re.match(r"lo([a-z]?)-nbd-(\w+)$", f)
    return f"LoopOrder{f' [{m.group(1)}]' if m.group(1) else ''} nbd {m.group(2)}"

def reps_iops(t, j):
    return " / ".join(fmt(x["iops"]) for x in sorted(groups.get((t, j), []), key=lambda x: x["repeat"])) or "-"

def remote_job_table(kind, j, rows, extra_head, extra):
    """One job's table of a remote target's section: the common columns, then extra(t, m)'s."""
    L.append(f"### {kind} {j}: {JOB_DESC.get(j, j)}\n")
    L.append("| target | n | IOPS | IOPS per repeat | MB/s | p50 us | p99 us | " + " | ".join(extra_head) + " |")
    L.append("|---|---:|---:|---|---:|---:|---:|" + "---:|" * len(extra_head))
    for t in rows:
        m = med.get((t, j))
        if not m: continue
        L.append(f"| {label(t)} | {m['n']} | {fmt(m['iops'])} | {reps_iops(t, j)} | {fmt(m['mbps'], 1)} | "
                 f"{fmt(m['p50_us'])} | {fmt(m['p99_us'])} | " + " | ".join(extra(t, m)) + " |")
    L.append("")

def nbd_ratio_cell(t, j):
    if not NBD_LO.match(t): return "-"
    b = nbd_base(t, j); r = ratio(t, j, b)
    return "n/a" if r is None else f"{r:.2f}x (vs c{conns(b)})"

if nbd_targets:
    nbd_jobs = [j for j in jobs if any((t, j) in med for t in nbd_targets)]
    lo_nbd = [t for t in nbd_targets if NBD_LO.match(t)]
    L.append("## NBD: LoopOrder vs the kernel's NBD client\n")
    L.append("Both clients against **one nbdkit `file` plugin server** on the same backing file, on a Unix socket "
             "(started for each NBD target and stopped after it; nbdkit states multi-conn for the file plugin, so a "
             "flush on one connection covers the writes of all). `nbd.ko, N conn`: the kernel's client, set up by "
             "`nbd-client -unix SOCK /dev/nbd0 -C N -b 4096` (one hardware queue per connection). `LoopOrder nbd MODE, "
             "N conn`: `loop-order serve --target nbd --connections N --ordering MODE --queues 2 --block-size 4096`. "
             "Same fio jobs as above, O_DIRECT on the device. Ratio = LoopOrder IOPS / nbd.ko IOPS with the same "
             "connection count (nbd.ko with 1 connection when that count did not run); in brackets the ratio within "
             "each repeat, which shows the spread. 1 vs N: what more connections buy each client against the same "
             "server.\n")
    if lo_nbd:
        L.append("| LoopOrder | vs | " + " | ".join(nbd_jobs) + " |")
        L.append("|---|---|" + "---|" * len(nbd_jobs))
        for t in lo_nbd:
            b0 = nbd_base(t, nbd_jobs[0])
            cells = []
            for j in nbd_jobs:
                b = nbd_base(t, j)
                c = f"{hl(t, j, b)} ({per_rep(t, j, b)})" if (t, j) in med else "-"
                cells.append(c + (f" vs {label(b)}" if b != b0 and (t, j) in med else ""))
            L.append(f"| {label(t)} | {label(b0)} | " + " | ".join(cells) + " |")
        L.append("")
    # 1 vs N connections side by side: one row per client, one column per connection count
    fams = []
    for t in nbd_targets:
        f = nbd_family(t)
        if f not in fams: fams.append(f)
    fams.sort(key=lambda f: f != "nbd-ko")
    counts = sorted({conns(t) for t in nbd_targets})
    if len(counts) > 1:
        L.append("### 1 vs N connections (IOPS medians)\n")
        L.append("| client | job | " + " | ".join(f"c{c}" for c in counts) +
                 " | " + " | ".join(f"c{c} / c{counts[0]}" for c in counts[1:]) + " |")
        L.append("|---|---|" + "---:|" * (2 * len(counts) - 1))
        for f in fams:
            for j in nbd_jobs:
                row = [med.get((f"{f}-c{c}", j)) for c in counts]
                if not any(row): continue
                first = row[0]
                gains = [f"{m['iops'] / first['iops']:.2f}x" if m and first and first["iops"] else "-" for m in row[1:]]
                L.append(f"| {family_label(f)} | {j} | " + " | ".join(fmt(m["iops"]) if m else "-" for m in row) +
                         " | " + " | ".join(gains) + " |")
        L.append("")
    for j in nbd_jobs:
        remote_job_table("NBD", j, nbd_targets, ["ratio vs nbd.ko"], lambda t, m, j=j: [nbd_ratio_cell(t, j)])

# RBD: LoopOrder's RBD target against the kernel's RBD client and rbd-nbd, all on one image
if rbd_targets:
    rbd_jobs = [j for j in jobs if any((t, j) in med for t in rbd_targets)]
    refs = [r for r in RBD_REFS if r in rbd_targets]
    lo_rbd = [t for t in rbd_targets if RBD_LO.match(t)]
    L.append("## RBD: LoopOrder vs krbd and rbd-nbd\n")
    L.append(f"All clients serve **one image** (`{meta.get('rbd_mb', '512')}` MiB, written in full once) in a one-node "
             f"Ceph {meta.get('ceph', '')} cluster inside the guest (tests/ceph/cluster.sh: one monitor, one memstore OSD, "
             "pool size 1), each in turn. `krbd`: the kernel's client, `rbd device map`; `rbd-nbd`: librbd behind nbd.ko, "
             "`--rbd-cache=false`; LoopOrder: `--target rbd --queues 2 --ordering MODE` (librbd's cache off). Same fio "
             "jobs as above, O_DIRECT on the device. Ratio of the medians of IOPS, in brackets the lowest and highest "
             "ratio within one repeat; CPU per I/O is guest-wide (the OSD and monitor run in the same guest, so their "
             "CPU is in every row).\n")
    if lo_rbd and refs:
        L.append("| LoopOrder | job | " + " | ".join(f"IOPS vs {label(r)}" for r in refs) + " | " +
                 " | ".join(f"CPU per I/O vs {label(r)}" for r in refs) + " |")
        L.append("|---|---|" + "---|" * (2 * len(refs)))
        for t in lo_rbd:
            for j in rbd_jobs:
                if (t, j) not in med: continue
                L.append(f"| {label(t)} | {j} | " + " | ".join(cell(t, j, "iops", r) for r in refs) + " | " +
                         " | ".join(cell(t, j, "cpu_us_per_io", r) for r in refs) + " |")
        L.append("")
    for j in rbd_jobs:
        remote_job_table("RBD", j, rbd_targets, ["CPU us/IO", "cs/IO"],
                         lambda t, m: [num(m.get("cpu_us_per_io"), 1), num(m.get("cs_per_io"), 2)])

# server thread profile
prof_lines = []
for t in targets:
    if not (is_lo(t) or NBD_LO.match(t)): continue
    for j in ("randwrite", "fsync32"):
        p = profile(t, j)
        g = groups.get((t, j))
        if not p or not g: continue
        r1 = [x for x in g if x["repeat"] == 1]
        if not r1: continue
        ios = r1[0]["ios"] * (1 + float(meta.get("ramp", 0)) / float(meta.get("runtime", 1)))  # ramp I/O too
        for name, (n, ut, st, vcs, ncs) in sorted(p.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
            if ut + st == 0 and vcs + ncs == 0: continue
            prof_lines.append(f"| {t} | {j} | `{name}` x{n} | {ut + st} ({ut}/{st}) | {vcs:,} | {ncs:,} | {(vcs + ncs) / ios:.2f} |")
if prof_lines:
    L.append("## Where the server's time goes\n")
    L.append("Per-thread CPU of the `loop-order serve` process during each job of repeat 1 (from `/proc/PID/task/*`; "
             "ticks are 1/100 s, user/system), and context switches per I/O (estimated: the job's I/O count "
             "scaled for the ramp). Threads grouped by name.\n")
    L.append("| target | job | thread | CPU ticks (user/sys) | voluntary cs | involuntary cs | cs per I/O |")
    L.append("|---|---|---|---:|---:|---:|---:|")
    L += prof_lines
    L.append("")

# flushes: fio's own fsync latency per repeat, and where the engine's flushes spent their time
def stats(rep, t, name):
    p = os.path.join(raw, f"r{rep}.{t}.{name}.stats")
    if not os.path.exists(p): return None
    try:
        return json.loads(open(p).read()).get("stats")
    except ValueError:
        return None

def stats_delta(rep, t, j):
    order = ["start"] + (meta.get("jobs", "") if rep == 1 else meta.get("repeat_jobs", "")).split()
    if j not in order: return None
    cur, prev = stats(rep, t, j), None
    for k in range(order.index(j) - 1, -1, -1):
        prev = stats(rep, t, order[k])
        if prev is not None: break
    if cur is None or prev is None: return None
    keys = ("engineFlushes", "engineSyncs", "flushWaitForWritesMs", "flushWaitBehindSyncsMs", "flushInSyncMs", "syncMs")
    d = {k: cur.get(k, 0) - prev.get(k, 0) for k in keys if k in cur}
    d["peakSyncsInFlight"] = cur.get("peakSyncsInFlight")
    return d

flush_lines = []
for j in jobs:
    for t in targets:
        g = sorted(groups.get((t, j), []), key=lambda x: x["repeat"])
        if not g or not any(x["fsyncs"] for x in g): continue
        p50 = " / ".join(f"{x['fsync_p50_ms']:.0f}" for x in g)
        n = " / ".join(f"{x['fsyncs']:,}" for x in g)
        eng = []
        for x in g:
            d = stats_delta(x["repeat"], t, j) if is_lo(t) or NBD_LO.match(t) else None
            if not d or not d.get("engineFlushes"):
                eng.append("-")
                continue
            f = d["engineFlushes"]
            part = f"{d.get('flushWaitForWritesMs', 0) / f:.1f}"
            if "flushWaitBehindSyncsMs" in d:
                part += f" + {d['flushWaitBehindSyncsMs'] / f:.1f} + {d['flushInSyncMs'] / f:.1f}"
                s = d.get("engineSyncs") or 0
                part += f" ({f / s:.1f} flushes/sync, peak {d['peakSyncsInFlight']})" if s else ""
            eng.append(part)
        flush_lines.append(f"| {label(t)} | {j} | {p50} | {n} | {'; '.join(eng)} |")
if flush_lines:
    L.append("## Flushes\n")
    L.append("fio's fsync latency (p50, ms) and fsyncs completed, per repeat; and, per repeat, where the engine's flushes "
             "spent their time, in ms per flush: waiting for earlier writes to land + waiting on other syncs (to start "
             "theirs, or for an earlier sync to end) + in their own sync (`loop-order stats` before and after the job; "
             "a build without these counters shows only the first).\n")
    L.append("| target | job | fsync p50 ms | fsyncs | engine ms per flush: writes + other syncs + own sync |")
    L.append("|---|---|---|---|---|")
    L += flush_lines
    L.append("")

notes = os.path.join(out, "results", "NOTES.md")
if os.path.exists(notes) and not kernel:
    # NOTES.md links relative to results/; RESULTS.md sits one folder up
    L.append(re.sub(r"\]\((?![a-z]+:|/|#)([^)\s]+)\)", r"](results/\1)", open(notes).read().rstrip()) + "\n")

micro = os.path.join(res, "micro")
if os.path.isdir(micro) and os.listdir(micro) and not kernel:
    L.append("## Micro-benchmarks (BenchmarkDotNet)\n")
    for f in sorted(os.listdir(micro), key=lambda n: (n != "SUMMARY.md", n)):
        if f.endswith(".md"):
            L.append(f"- [{f}](results/micro/{f})")
    L.append("")

L.append("## Files\n")
L.append(f"- `{rel}/runs.json`: every run's numbers; `{rel}/raw/`: fio JSON per repeat/target/job, server thread "
         "snapshots, CPU/ctxt/io_uring_enter samples (`*.cpu`), `settle.txt` (seconds and dirty kB left before each job), "
         f"the guest's log and the server logs; `{rel}/goals.json`: the goals table; `{rel}/ratios.dat` + `ratios.gp`: "
         "the chart's data and script.")
open(os.path.join(out, md_name), "w").write("\n".join(L) + "\n")

# chart: one cluster per job, one bar per LoopOrder target
lo = [t for t in targets if is_lo(t) or is_file(t)]
dat = os.path.join(res, "ratios.dat")
with open(dat, "w") as f:
    f.write("job " + " ".join(f'"{label(t)}"' for t in lo) + "\n")
    for j in jobs:
        f.write(j + " " + " ".join(("%.3f" % ratio(t, j)) if ratio(t, j) is not None else "0" for t in lo) + "\n")
gp = os.path.join(res, "ratios.gp")
with open(gp, "w") as f:
    f.write(f"""set terminal pngcairo size 1200,600 font ",10" noenhanced
set output "{os.path.join(res, 'ratios.png')}"
set title "IOPS / kernel loop IOPS (same run, same cache mode; bare file = fio on the backing file; TCG VM: only ratios count)"
set ylabel "ratio (1.0 = loop)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
# gnuplot's default cycle has 8 colours; the full matrix has 14 rows, so name 14 distinct ones
set linetype 1 lc rgb "#1f77b4"
set linetype 2 lc rgb "#ff7f0e"
set linetype 3 lc rgb "#2ca02c"
set linetype 4 lc rgb "#d62728"
set linetype 5 lc rgb "#9467bd"
set linetype 6 lc rgb "#8c564b"
set linetype 7 lc rgb "#e377c2"
set linetype 8 lc rgb "#7f7f7f"
set linetype 9 lc rgb "#bcbd22"
set linetype 10 lc rgb "#17becf"
set linetype 11 lc rgb "#000080"
set linetype 12 lc rgb "#ffd700"
set linetype 13 lc rgb "#00ff7f"
set linetype 14 lc rgb "#800000"
set linetype cycle 14
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"
plot for [i=2:{len(lo) + 1}] "{dat}" using i:xtic(1) title columnheader(i)
""")
if lo and shutil.which("gnuplot"):
    subprocess.run(["gnuplot", gp], check=False)
    # the script as committed names paths relative to the results folder
    s = open(gp).read().replace(res + "/", "")
    open(gp, "w").write(s)
print(f"report: {len(runs)} runs, {len(targets)} targets, {len(jobs)} jobs")
