/*
 * bfhelper: the guest side of balloonfleet's real-kernel validation harness.
 * It holds memory for the scenario steps and frees it on command:
 *
 *   bfhelper hold NAME anon PAGES        fault PAGES of anonymous memory
 *                                        (MADV_NOHUGEPAGE), in address order
 *   bfhelper hold NAME thp PAGES         fault PAGES of MADV_HUGEPAGE memory,
 *                                        2 MiB aligned, every 4 KiB touched
 *   bfhelper hold NAME file PAGES OFFSET read PAGES of /mnt/data from page
 *                                        OFFSET into the page cache
 *   bfhelper ctl NAME punch random FRACTION SEED
 *   bfhelper ctl NAME punch every N      free every Nth present page in address
 *                                        order (MADV_DONTNEED / FADV_DONTNEED)
 *   bfhelper ctl NAME exit               free all (unmap, or drop the file's
 *                                        cache), answer, then exit
 *   bfhelper pfnmap LO HI                pfns LO..HI-1 as runs "START CLASS
 *                                        LENGTH": r PG_reserved, f free (a
 *                                        buddy or per-cpu page), u in use
 *   bfhelper sample MS ZONE DIR FIELD... every MS ms until DIR/stop exists,
 *                                        the named /proc/vmstat counters,
 *                                        ZONE's /proc/buddyinfo row and its
 *                                        per-cpu pages (/proc/zoneinfo);
 *                                        prints "t FIELD... o0..o10 pcp"
 *                                        rows, a row equal to the one before
 *                                        left out
 *
 * `hold` returns once the memory is faulted; a child keeps it and serves
 * commands on /run/bf/NAME.cmd, answering on /run/bf/NAME.ack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define DATA_FILE "/mnt/data"

static char kind[8];
static unsigned char *base;   /* anon and thp: the mapping */
static int fd = -1;           /* file: the open data file */
static long npages, offset;   /* pages held; file: first page in the file */
static unsigned char *present;

static void die(const char *what) { perror(what); exit(1); }

static uint64_t rng_state;
static uint64_t next_random(void)
{ /* splitmix64: a fixed, seedable sequence */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void release(long i)
{
	if (!present[i])
		return;
	present[i] = 0;
	if (fd >= 0) {
		if (posix_fadvise(fd, (offset + i) * PAGE, PAGE, POSIX_FADV_DONTNEED))
			die("posix_fadvise");
	} else if (madvise(base + i * PAGE, PAGE, MADV_DONTNEED)) {
		die("madvise(MADV_DONTNEED)");
	}
}

static void fault_in(void)
{
	long i;
	present = calloc(npages, 1);
	if (!present)
		die("calloc");
	if (!strcmp(kind, "file")) {
		char *buf = malloc(256 * PAGE);
		long done = 0;
		fd = open(DATA_FILE, O_RDONLY);
		if (fd < 0 || !buf)
			die(DATA_FILE);
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		while (done < npages) {
			long n = npages - done < 256 ? npages - done : 256;
			ssize_t got = pread(fd, buf, n * PAGE, (offset + done) * PAGE);
			if (got <= 0)
				die("pread " DATA_FILE);
			done += got / PAGE;
		}
		free(buf);
	} else {
		int thp = !strcmp(kind, "thp");
		size_t len = npages * PAGE;
		unsigned char *m = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			die("mmap");
		base = (unsigned char *)(((uintptr_t)m + HUGE - 1) & ~(HUGE - 1));
		if (madvise(base, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
			die("madvise");
		for (i = 0; i < npages; i++)
			base[i * PAGE] = 1;
	}
	memset(present, 1, npages);
}

static long punch(char *how, char *arg, char *seed)
{
	long i, freed = 0, seen = 0, want, left = 0;
	if (!strcmp(how, "every")) {
		long n = atol(arg);
		if (n < 1)
			return -1;
		for (i = 0; i < npages; i++)
			if (present[i] && seen++ % n == 0) {
				release(i);
				freed++;
			}
		return freed;
	}
	if (strcmp(how, "random") || !seed)
		return -1;
	rng_state = strtoull(seed, NULL, 10);
	for (i = 0; i < npages; i++)
		left += present[i];
	want = (long)(atof(arg) * left);
	while (freed < want) {
		i = (long)(next_random() % (uint64_t)npages);
		if (present[i]) {
			release(i);
			freed++;
		}
	}
	return freed;
}

static void path(char *out, const char *name, const char *ext)
{
	snprintf(out, 256, "/run/bf/%s.%s", name, ext);
}

static void serve(const char *name)
{
	char cmd[256], ack[256], line[256];
	path(cmd, name, "cmd");
	path(ack, name, "ack");
	for (;;) {
		FILE *in = fopen(cmd, "r"), *out;
		char *w[4] = {0};
		long r = -1;
		int n = 0;
		if (!in)
			die(cmd);
		if (!fgets(line, sizeof line, in)) {
			fclose(in);
			continue;
		}
		fclose(in);
		for (char *t = strtok(line, " \n"); t && n < 4; t = strtok(NULL, " \n"))
			w[n++] = t;
		if (n >= 3 && !strcmp(w[0], "punch"))
			r = punch(w[1], w[2], w[3]);
		else if (n == 1 && !strcmp(w[0], "exit")) {
			long held = 0;
			for (long i = 0; i < npages; i++)
				held += present[i];
			if (fd >= 0)
				posix_fadvise(fd, offset * PAGE, npages * PAGE, POSIX_FADV_DONTNEED);
			/* Unmap before the ack: exit_mmap() would free the pages
			 * after the host has already read /proc. */
			if (base && munmap(base, npages * PAGE))
				die("munmap");
			out = fopen(ack, "w");
			fprintf(out, "%ld\n", held);
			fclose(out);
			unlink(cmd);
			unlink(ack);
			exit(0);
		}
		out = fopen(ack, "w");
		if (!out)
			die(ack);
		fprintf(out, "%ld\n", r);
		fclose(out);
	}
}

static int hold(int argc, char **argv)
{
	char cmd[256], ack[256];
	int ready[2];
	pid_t pid;
	if (argc < 5 || strlen(argv[3]) >= sizeof kind)
		return 2;
	snprintf(kind, sizeof kind, "%s", argv[3]);
	if (strcmp(kind, "anon") && strcmp(kind, "thp") && strcmp(kind, "file"))
		return 2;
	npages = atol(argv[4]);
	offset = argc > 5 ? atol(argv[5]) : 0;
	path(cmd, argv[2], "cmd");
	path(ack, argv[2], "ack");
	mkdir("/run/bf", 0755);
	if ((mkfifo(cmd, 0600) && errno != EEXIST) || (mkfifo(ack, 0600) && errno != EEXIST))
		die("mkfifo");
	if (pipe(ready))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(ready[0]);
		setsid();
		fault_in();
		if (write(ready[1], "1", 1) != 1)
			die("write");
		close(ready[1]);
		serve(argv[2]);
	}
	close(ready[1]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		return 1;
	printf("%ld\n", npages);
	return 0;
}

static int ctl(int argc, char **argv)
{
	char cmd[256], ack[256], line[64];
	FILE *f;
	int w;
	if (argc < 4)
		return 2;
	path(cmd, argv[2], "cmd");
	path(ack, argv[2], "ack");
	/* A holder the OOM killer ended has no reader on its FIFO: say so
	 * instead of blocking forever. */
	w = open(cmd, O_WRONLY | O_NONBLOCK);
	if (w < 0) {
		fprintf(stderr, "bfhelper: holder %s is gone (%s)\n", argv[2], strerror(errno));
		return 3;
	}
	fcntl(w, F_SETFL, 0);
	if (!(f = fdopen(w, "w")))
		die(cmd);
	for (int i = 3; i < argc; i++)
		fprintf(f, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
	fclose(f);
	if (!(f = fopen(ack, "r")) || !fgets(line, sizeof line, f))
		die(ack);
	fclose(f);
	fputs(line, stdout);
	return atol(line) < 0;
}

/* Read /proc/kpageflags and /proc/kpagecount (CONFIG_PROC_PAGE_MONITOR) and
 * print the pfns as runs of one class. A free page is a buddy head, or a page
 * with no flags and no references: a buddy's tail or a page on a per-cpu
 * list. Stops at the end of memory. */
static int pfnmap(long lo, long hi)
{
	enum { CHUNK = 4096 };
	static uint64_t fl[CHUNK], ct[CHUNK];
	int ff = open("/proc/kpageflags", O_RDONLY), fc = open("/proc/kpagecount", O_RDONLY);
	long start = lo, pfn = lo;
	char cls = 0;
	if (ff < 0 || fc < 0)
		die("/proc/kpageflags");
	while (pfn < hi) {
		long n = hi - pfn < CHUNK ? hi - pfn : CHUNK;
		ssize_t a = pread(ff, fl, n * 8, pfn * 8), b = pread(fc, ct, n * 8, pfn * 8);
		if (a <= 0 || b <= 0)
			break;
		n = (a < b ? a : b) / 8;
		for (long i = 0; i < n; i++, pfn++) {
			char c = fl[i] & (1ULL << 32) ? 'r' : (fl[i] & (1ULL << 10) || (!fl[i] && !ct[i])) ? 'f' : 'u';
			if (c != cls) {
				if (cls)
					printf("%ld %c %ld\n", start, cls, pfn - start);
				cls = c;
				start = pfn;
			}
		}
	}
	if (cls)
		printf("%ld %c %ld\n", start, cls, pfn - start);
	return 0;
}

/* The sampler of `fleet validate trace`. Its buffer is touched before it
 * says it is ready (DIR/ready), so that sampling allocates no memory; each
 * sample reads the three files whole with read(2). */
enum { SAMPLE_MAX = 2000, SAMPLE_FIELDS = 24, ORDERS = 11 };
static long samples[SAMPLE_MAX][SAMPLE_FIELDS + ORDERS + 1];
static double sample_t[SAMPLE_MAX];
static char procbuf[1 << 16];

static int slurp(const char *name)
{
	int f = open(name, O_RDONLY), n = 0, r;
	if (f < 0)
		die(name);
	while ((r = read(f, procbuf + n, sizeof procbuf - 1 - n)) > 0)
		n += r;
	close(f);
	procbuf[n] = 0;
	return n;
}

/* The pages on ZONE's per-cpu lists: the `count:` lines of its pagesets
 * in /proc/zoneinfo, summed over CPUs (-1 if the zone is not there). */
static long pcp_count(const char *zone)
{
	char key[40], *at, *end;
	long total = 0;
	slurp("/proc/zoneinfo");
	snprintf(key, sizeof key, "zone %8s\n", zone);
	at = strstr(procbuf, key);
	if (!at)
		return -1;
	end = strstr(at, "\nNode ");
	while ((at = strstr(at, "count:")) && (!end || at < end)) {
		at += strlen("count:");
		total += strtol(at, &at, 10);
	}
	return total;
}

static int sample(int argc, char **argv)
{
	int ms = atoi(argv[2]), nf = argc - 5, n = 0, width;
	const char *zone = argv[3];
	char stop[256], ready[256], key[80];
	struct timespec t0, t, nap = {0, 0};
	if (ms < 1 || nf < 1 || nf > SAMPLE_FIELDS)
		return 2;
	nap.tv_sec = ms / 1000;
	nap.tv_nsec = (ms % 1000) * 1000000L;
	snprintf(stop, sizeof stop, "%s/stop", argv[4]);
	snprintf(ready, sizeof ready, "%s/ready", argv[4]);
	memset(samples, 0, sizeof samples);
	memset(sample_t, 0, sizeof sample_t);
	close(open(ready, O_WRONLY | O_CREAT, 0644));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	width = nf + ORDERS + 1;
	while (n < SAMPLE_MAX && access(stop, F_OK)) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		sample_t[n] = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
		slurp("/proc/vmstat");
		for (int k = 0; k < nf; k++) {
			snprintf(key, sizeof key, "\n%s ", argv[5 + k]);
			char *at = strncmp(procbuf, key + 1, strlen(key) - 1) ? strstr(procbuf, key) : procbuf - 1;
			samples[n][k] = at ? atol(at + strlen(key)) : -1;
		}
		slurp("/proc/buddyinfo");
		snprintf(key, sizeof key, "zone %8s ", zone);
		char *row = strstr(procbuf, key);
		if (row) {
			row += strlen(key);
			for (int o = 0; o < ORDERS; o++)
				samples[n][nf + o] = strtol(row, &row, 10);
		}
		samples[n][nf + ORDERS] = pcp_count(zone);
		n++;
		nanosleep(&nap, 0);
	}
	printf("t");
	for (int k = 0; k < nf; k++)
		printf(" %s", argv[5 + k]);
	for (int o = 0; o < ORDERS; o++)
		printf(" o%d", o);
	printf(" pcp\n");
	for (int i = 0; i < n; i++) {
		if (i && i + 1 < n && !memcmp(samples[i], samples[i - 1], width * sizeof(long)))
			continue;
		printf("%.4f", sample_t[i]);
		for (int k = 0; k < width; k++)
			printf(" %ld", samples[i][k]);
		printf("\n");
	}
	if (n == SAMPLE_MAX)
		printf("# full\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "pfnmap"))
		return pfnmap(atol(argv[2]), atol(argv[3]));
	if (argc > 1 && !strcmp(argv[1], "hold"))
		return hold(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return ctl(argc, argv);
	if (argc > 5 && !strcmp(argv[1], "sample"))
		return sample(argc, argv);
	fprintf(stderr, "usage: bfhelper hold NAME anon|thp|file PAGES [OFFSET] | ctl NAME CMD... | pfnmap LO HI"
		" | sample MS ZONE DIR FIELD...\n");
	return 2;
}
