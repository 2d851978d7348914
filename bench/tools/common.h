/* Shared helpers of the bench load generators: clocks, a log-linear latency histogram, CPU
 * accounting of this process and of watched processes, key=value output. Header-only. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench tool: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* Histogram of microsecond values: exact below 256, then 128 buckets per power of two (< 0.8 %
 * error). Covers up to 2^40 us. */
#define HIST_SUB 128
#define HIST_BUCKETS ((40 - 7) * HIST_SUB + 2 * HIST_SUB)
typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} hist_t;

static inline int hist_index(uint64_t v) {
    if (v < 2 * HIST_SUB) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 7;
    int index = shift * HIST_SUB + (int)(v >> shift);
    return index < HIST_BUCKETS ? index : HIST_BUCKETS - 1;
}

static inline uint64_t hist_value(int index) {
    if (index < 2 * HIST_SUB) return (uint64_t)index;
    int shift = index / HIST_SUB - 1;
    uint64_t low = (uint64_t)(index - shift * HIST_SUB) << shift;
    return low + ((1ull << shift) >> 1); /* middle of the bucket */
}

static inline void hist_add(hist_t *h, uint64_t us) {
    h->counts[hist_index(us)]++;
    h->total++;
    if (us > h->max) h->max = us;
}

static inline uint64_t hist_percentile(const hist_t *h, double p) {
    if (h->total == 0) return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->total) rank = h->total;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

static inline void hist_print(const char *prefix, const hist_t *h) {
    printf("%s_p50_ms=%.3f\n", prefix, hist_percentile(h, 50) / 1000.0);
    printf("%s_p90_ms=%.3f\n", prefix, hist_percentile(h, 90) / 1000.0);
    printf("%s_p99_ms=%.3f\n", prefix, hist_percentile(h, 99) / 1000.0);
    printf("%s_p999_ms=%.3f\n", prefix, hist_percentile(h, 99.9) / 1000.0);
    printf("%s_max_ms=%.3f\n", prefix, h->max / 1000.0);
}

/* CPU seconds (user + system) of this process, all threads. */
static inline double self_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the calling thread (the load generators' epoll loop). */
static inline double thread_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (utime + stime) of another process from /proc/<pid>/stat; -1 if it is gone. */
static inline double pid_cpu_seconds(int pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* field 3, the state */
    for (int field = 3; field < 14 && p; field++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p, "%llu %llu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* A set of processes read as one: "pid" or "pid1+pid2+..." (nginx's master and workers). */
#define MAX_PIDS 16
typedef struct {
    int count;
    int pids[MAX_PIDS];
} pidset_t;

static inline void pidset_parse(pidset_t *set, const char *spec, const char *what) {
    set->count = 0;
    const char *p = spec;
    while (*p) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p || pid <= 0 || set->count == MAX_PIDS || (*end && *end != '+')) die("bad pid list in %s", what);
        set->pids[set->count++] = (int)pid;
        p = *end ? end + 1 : end;
    }
    if (!set->count) die("no pid in %s", what);
}

/* CPU seconds of every process of the set; -1 if one is gone. */
static inline double pidset_cpu_seconds(const pidset_t *set) {
    double total = 0;
    for (int i = 0; i < set->count; i++) {
        double s = pid_cpu_seconds(set->pids[i]);
        if (s < 0) return -1;
        total += s;
    }
    return total;
}

/* Processes whose CPU is reported over the measured window: "--watch name=pid" or
 * "--watch name=pid1+pid2+..." (summed), repeatable. */
#define MAX_WATCH 8
typedef struct {
    int count;
    char names[MAX_WATCH][32];
    pidset_t sets[MAX_WATCH];
    double start[MAX_WATCH];
    double self_start;
    double thread_start;
    uint64_t window_start_ns;
} watch_t;

static inline void watch_add(watch_t *w, const char *spec) {
    const char *eq = strchr(spec, '=');
    if (!eq || w->count == MAX_WATCH || eq - spec >= 32) die("bad --watch %s (want name=pid or name=pid+pid...)", spec);
    memcpy(w->names[w->count], spec, (size_t)(eq - spec));
    w->names[w->count][eq - spec] = 0;
    pidset_parse(&w->sets[w->count], eq + 1, spec);
    w->count++;
}

static inline void watch_begin(watch_t *w) {
    for (int i = 0; i < w->count; i++) w->start[i] = pidset_cpu_seconds(&w->sets[i]);
    w->self_start = self_cpu_seconds();
    w->thread_start = thread_cpu_seconds();
    w->window_start_ns = now_ns();
}

/* Prints cpu_<name>=seconds for every watched process (set), cpu_loadgen for this one (all
 * threads) and cpu_loadgen_main for the calling thread (call both from the same thread): near
 * window_s, the single-threaded client was the bottleneck. */
static inline void watch_end(const watch_t *w) {
    for (int i = 0; i < w->count; i++) {
        double end = pidset_cpu_seconds(&w->sets[i]);
        if (end < 0 || w->start[i] < 0)
            printf("cpu_%s=gone\n", w->names[i]);
        else
            printf("cpu_%s=%.2f\n", w->names[i], end - w->start[i]);
    }
    printf("cpu_loadgen=%.2f\n", self_cpu_seconds() - w->self_start);
    printf("cpu_loadgen_main=%.2f\n", thread_cpu_seconds() - w->thread_start);
    printf("window_s=%.3f\n", (now_ns() - w->window_start_ns) / 1e9);
}

/* The value in kB of a "Name:   123 kB" line of a /proc file; -1 if absent or unreadable. */
static inline long proc_kb(const char *path, const char *name) {
    char buf[8192];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    size_t len = strlen(name);
    for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (!strncmp(line, name, len) && line[len] == ':') return atol(line + len + 1);
    return -1;
}

/* Memory of watched servers: "--mem name=rss:pid" (VmRSS of one process) or
 * "--mem name=pss:pid1+pid2+..." (the sum of Pss from /proc/<pid>/smaps_rollup: pages that the
 * processes share, such as nginx's shared memory, count once in all), repeatable. */
typedef struct {
    int count;
    char names[MAX_WATCH][32];
    int pss[MAX_WATCH];
    pidset_t sets[MAX_WATCH];
} memwatch_t;

static inline void mem_add(memwatch_t *m, const char *spec) {
    const char *eq = strchr(spec, '=');
    if (!eq || m->count == MAX_WATCH || eq - spec >= 32) die("bad --mem %s (want name=rss:pid or name=pss:pid+pid...)", spec);
    memcpy(m->names[m->count], spec, (size_t)(eq - spec));
    m->names[m->count][eq - spec] = 0;
    const char *kind = eq + 1;
    if (!strncmp(kind, "rss:", 4)) m->pss[m->count] = 0;
    else if (!strncmp(kind, "pss:", 4)) m->pss[m->count] = 1;
    else die("bad --mem %s (want rss: or pss:)", spec);
    pidset_parse(&m->sets[m->count], kind + 4, spec);
    m->count++;
}

/* kB of the i-th watched server now; -1 if a process is gone. */
static inline long mem_kb(const memwatch_t *m, int i) {
    long total = 0;
    for (int k = 0; k < m->sets[i].count; k++) {
        char path[64];
        snprintf(path, sizeof path, m->pss[i] ? "/proc/%d/smaps_rollup" : "/proc/%d/status", m->sets[i].pids[k]);
        long kb = proc_kb(path, m->pss[i] ? "Pss" : "VmRSS");
        if (kb < 0) return -1;
        total += kb;
    }
    return total;
}

static inline void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A payload of exactly `size` bytes: `head` then 'x' padding (head is truncated if longer). */
static inline void fill_payload(char *out, size_t size, const char *head) {
    size_t n = strlen(head);
    if (n > size) n = size;
    memcpy(out, head, n);
    memset(out + n, 'x', size - n);
}

#endif
