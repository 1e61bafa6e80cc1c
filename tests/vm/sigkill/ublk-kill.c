// ublk-kill.c - a minimal ublk server that knows nothing of LoopOrder, for the SIGKILL stress
// (issue 14): raw io_uring syscalls and ublk commands, one thread and one ring per queue, data
// copied through per-tag buffers to a backing file with pread/pwrite/fdatasync.
//
//   ublk-kill add FILE SIZE_MB QUEUES   adds a device with USER_RECOVERY | REISSUE, serves it
//   ublk-kill recover ID FILE           START_USER_RECOVERY, serves ID, END_USER_RECOVERY
//   ublk-kill del ID                    STOP_DEV + DEL_DEV (the device must be recovered first)
//
// Prints "ready ID" on stdout once it serves. With UK_QUEUES=N, recover arms only the first N
// queues, prints "partial ID" and waits to be killed (partial.sh). The queue rings' task-work mode comes from
// UK_TASKRUN: defer (SINGLE_ISSUER | DEFER_TASKRUN, the default), coop (SINGLE_ISSUER |
// COOP_TASKRUN) or none. Built inside the VM against the VM kernel's UAPI headers:
//   gcc -O2 -pthread $(tests/vm/fetch-headers.sh --cflags) -o ublk-kill ublk-kill.c
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/ublk_cmd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEPTH 64
#define BUF_BYTES (512 << 10)

static void die(const char *what, int err)
{
	fprintf(stderr, "ublk-kill: %s: %s\n", what, strerror(err));
	exit(1);
}

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned sqe_shift, pending;
};

static void ring_init(struct ring *r, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	r->fd = syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		die("io_uring_setup", errno);
	size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	size_t sz = sq_sz > cq_sz ? sq_sz : cq_sz; /* FEAT_SINGLE_MMAP (5.4+) */
	char *sq = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		die("mmap sq", errno);
	r->sqe_shift = (flags & IORING_SETUP_SQE128) ? 7 : 6;
	r->sqes = mmap(NULL, p.sq_entries << r->sqe_shift, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		die("mmap sqes", errno);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(sq + p.cq_off.head);
	r->cq_tail = (unsigned *)(sq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
	r->pending = 0;
}

static struct io_uring_sqe *ring_sqe(struct ring *r)
{
	unsigned tail = *r->sq_tail + r->pending, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = (void *)((char *)r->sqes + ((size_t)idx << r->sqe_shift));
	memset(sqe, 0, 1u << r->sqe_shift);
	r->sq_array[idx] = idx;
	r->pending++;
	return sqe;
}

/* Submits what is pending and waits for at least `wait` completions. */
static int ring_enter(struct ring *r, unsigned wait)
{
	unsigned n = r->pending;
	__atomic_store_n(r->sq_tail, *r->sq_tail + n, __ATOMIC_RELEASE);
	r->pending = 0;
	for (;;) {
		int ret = syscall(__NR_io_uring_enter, r->fd, n, wait, IORING_ENTER_GETEVENTS, NULL, 0);
		if (ret >= 0 || errno != EINTR)
			return ret < 0 ? -errno : ret;
		n = 0;
	}
}

static int ctrl_fd = -1;
static struct ring ctrl;

static int ctrl_cmd(unsigned op, int dev_id, void *buf, unsigned len, uint64_t data0)
{
	struct io_uring_sqe *sqe = ring_sqe(&ctrl);
	struct ublksrv_ctrl_cmd *c = (void *)sqe->cmd;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = op;
	c->dev_id = dev_id;
	c->queue_id = (uint16_t)-1;
	c->addr = (uint64_t)(uintptr_t)buf;
	c->len = len;
	c->data[0] = data0;
	int ret = ring_enter(&ctrl, 1);
	if (ret < 0)
		return ret;
	unsigned head = *ctrl.cq_head;
	int res = ctrl.cqes[head & *ctrl.cq_mask].res;
	__atomic_store_n(ctrl.cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static int dev_id, nr_queues, cdev_fd, file_fd;
static unsigned ring_flags;
static pthread_barrier_t armed;

static void *queue_main(void *arg)
{
	int q = (int)(intptr_t)arg;
	size_t desc_sz = (DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~4095UL;
	off_t off = UBLKSRV_CMD_BUF_OFFSET + (off_t)q * ((UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~4095L);
	struct ublksrv_io_desc *descs = mmap(NULL, desc_sz, PROT_READ, MAP_SHARED | MAP_POPULATE, cdev_fd, off);
	if (descs == MAP_FAILED)
		die("mmap descriptors", errno);
	char *bufs;
	if (posix_memalign((void **)&bufs, 4096, (size_t)DEPTH * BUF_BYTES))
		die("buffers", ENOMEM);
	struct ring r;
	ring_init(&r, DEPTH, ring_flags);
	for (int t = 0; t < DEPTH; t++) {
		struct io_uring_sqe *sqe = ring_sqe(&r);
		struct ublksrv_io_cmd *c = (void *)sqe->cmd;
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = cdev_fd;
		sqe->cmd_op = UBLK_U_IO_FETCH_REQ;
		sqe->user_data = t;
		c->q_id = q;
		c->tag = t;
		c->addr = (uint64_t)(uintptr_t)(bufs + (size_t)t * BUF_BYTES);
	}
	if (ring_enter(&r, 0) < 0)
		die("FETCH_REQ submit", errno);
	pthread_barrier_wait(&armed);
	for (;;) {
		int ret = ring_enter(&r, 1);
		if (ret < 0)
			die("io_uring_enter", -ret);
		unsigned head = *r.cq_head, tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
		for (; head != tail; head++) {
			struct io_uring_cqe *cqe = &r.cqes[head & *r.cq_mask];
			int tag = (int)cqe->user_data;
			if (cqe->res != UBLK_IO_RES_OK) {
				/* -ENODEV: the device stops; this tag is done */
				continue;
			}
			const struct ublksrv_io_desc *d = &descs[tag];
			char *buf = bufs + (size_t)tag * BUF_BYTES;
			off_t pos = (off_t)d->start_sector << 9;
			size_t len = (size_t)d->nr_sectors << 9;
			int res;
			switch (ublksrv_get_op(d)) {
			case UBLK_IO_OP_READ:
				res = pread(file_fd, buf, len, pos);
				break;
			case UBLK_IO_OP_WRITE:
				res = pwrite(file_fd, buf, len, pos);
				break;
			case UBLK_IO_OP_FLUSH:
				res = fdatasync(file_fd);
				break;
			default:
				res = -EOPNOTSUPP;
				errno = EOPNOTSUPP;
			}
			if (res < 0)
				res = -errno;
			struct io_uring_sqe *sqe = ring_sqe(&r);
			struct ublksrv_io_cmd *c = (void *)sqe->cmd;
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = cdev_fd;
			sqe->cmd_op = UBLK_U_IO_COMMIT_AND_FETCH_REQ;
			sqe->user_data = tag;
			c->q_id = q;
			c->tag = tag;
			c->result = res;
			c->addr = (uint64_t)(uintptr_t)buf;
		}
		__atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void serve(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/ublkc%d", dev_id);
	for (int i = 0; (cdev_fd = open(path, O_RDWR)) < 0; i++) {
		if (i > 2000)
			die(path, errno); /* udev may take a moment to create it */
		usleep(1000);
	}
	/* UK_QUEUES=N arms only the first N queues (the partial-recovery reproducer) */
	int arm = getenv("UK_QUEUES") ? atoi(getenv("UK_QUEUES")) : nr_queues;
	pthread_barrier_init(&armed, NULL, arm + 1);
	for (int q = 0; q < arm; q++) {
		pthread_t t;
		pthread_create(&t, NULL, queue_main, (void *)(intptr_t)q);
	}
	pthread_barrier_wait(&armed);
}

int main(int argc, char **argv)
{
	const char *mode = getenv("UK_TASKRUN");
	if (!mode || !strcmp(mode, "defer"))
		ring_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	else if (!strcmp(mode, "coop"))
		ring_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	else
		ring_flags = 0;
	if (argc < 3) {
		fprintf(stderr, "usage: ublk-kill add FILE SIZE_MB QUEUES | recover ID FILE | del ID\n");
		return 2;
	}
	ctrl_fd = open("/dev/ublk-control", O_RDWR);
	if (ctrl_fd < 0)
		die("/dev/ublk-control", errno);
	ring_init(&ctrl, 4, IORING_SETUP_SQE128);
	int ret;
	if (!strcmp(argv[1], "del")) {
		dev_id = atoi(argv[2]);
		ctrl_cmd(UBLK_U_CMD_STOP_DEV, dev_id, NULL, 0, 0);
		ret = ctrl_cmd(UBLK_U_CMD_DEL_DEV, dev_id, NULL, 0, 0);
		if (ret < 0)
			die("DEL_DEV", -ret);
		return 0;
	}
	if (!strcmp(argv[1], "add") && argc == 5) {
		file_fd = open(argv[2], O_RDWR | O_CREAT, 0600);
		if (file_fd < 0)
			die(argv[2], errno);
		uint64_t bytes = (uint64_t)atoi(argv[3]) << 20;
		if (ftruncate(file_fd, bytes))
			die("ftruncate", errno);
		nr_queues = atoi(argv[4]);
		struct ublksrv_ctrl_dev_info info;
		memset(&info, 0, sizeof(info));
		info.nr_hw_queues = nr_queues;
		info.queue_depth = DEPTH;
		info.max_io_buf_bytes = BUF_BYTES;
		info.dev_id = (uint32_t)-1;
		info.flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
		ret = ctrl_cmd(UBLK_U_CMD_ADD_DEV, -1, &info, sizeof(info), 0);
		if (ret < 0)
			die("ADD_DEV", -ret);
		dev_id = info.dev_id;
		struct ublk_params p;
		memset(&p, 0, sizeof(p));
		p.len = sizeof(p);
		p.types = UBLK_PARAM_TYPE_BASIC;
		p.basic.attrs = UBLK_ATTR_VOLATILE_CACHE;
		p.basic.logical_bs_shift = 9;
		p.basic.physical_bs_shift = 12;
		p.basic.io_opt_shift = 12;
		p.basic.io_min_shift = 9;
		p.basic.max_sectors = BUF_BYTES >> 9;
		p.basic.dev_sectors = bytes >> 9;
		ret = ctrl_cmd(UBLK_U_CMD_SET_PARAMS, dev_id, &p, sizeof(p), 0);
		if (ret < 0)
			die("SET_PARAMS", -ret);
		serve();
		ret = ctrl_cmd(UBLK_U_CMD_START_DEV, dev_id, NULL, 0, getpid());
		if (ret < 0)
			die("START_DEV", -ret);
	} else if (!strcmp(argv[1], "recover") && argc == 4) {
		dev_id = atoi(argv[2]);
		file_fd = open(argv[3], O_RDWR);
		if (file_fd < 0)
			die(argv[3], errno);
		struct ublksrv_ctrl_dev_info info;
		ret = ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, dev_id, &info, sizeof(info), 0);
		if (ret < 0)
			die("GET_DEV_INFO", -ret);
		nr_queues = info.nr_hw_queues;
		/* The old server's queues must be quiesced first: EBUSY until then. */
		for (int i = 0; (ret = ctrl_cmd(UBLK_U_CMD_START_USER_RECOVERY, dev_id, NULL, 0, 0)) == -EBUSY && i < 30000; i++)
			usleep(1000);
		if (ret < 0)
			die("START_USER_RECOVERY", -ret);
		serve();
		if (getenv("UK_QUEUES")) {
			/* some queues armed, the others never: wait here to be killed */
			printf("partial %d\n", dev_id);
			fflush(stdout);
			for (;;)
				pause();
		}
		ret = ctrl_cmd(UBLK_U_CMD_END_USER_RECOVERY, dev_id, NULL, 0, getpid());
		if (ret < 0)
			die("END_USER_RECOVERY", -ret);
	} else {
		fprintf(stderr, "ublk-kill: bad arguments\n");
		return 2;
	}
	printf("ready %d\n", dev_id);
	fflush(stdout);
	for (;;)
		pause();
}
