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

/* Processes whose CPU is reported over the measured window: "--watch name=pid" (repeatable). */
#define MAX_WATCH 8
typedef struct {
    int count;
    char names[MAX_WATCH][32];
    int pids[MAX_WATCH];
    double start[MAX_WATCH];
    double self_start;
    uint64_t window_start_ns;
} watch_t;

static inline void watch_add(watch_t *w, const char *spec) {
    const char *eq = strchr(spec, '=');
    if (!eq || w->count == MAX_WATCH || eq - spec >= 32) die("bad --watch %s (want name=pid)", spec);
    memcpy(w->names[w->count], spec, (size_t)(eq - spec));
    w->names[w->count][eq - spec] = 0;
    w->pids[w->count] = atoi(eq + 1);
    w->count++;
}

static inline void watch_begin(watch_t *w) {
    for (int i = 0; i < w->count; i++) w->start[i] = pid_cpu_seconds(w->pids[i]);
    w->self_start = self_cpu_seconds();
    w->window_start_ns = now_ns();
}

/* Prints cpu_<name>=seconds for every watched process and cpu_loadgen for this one. */
static inline void watch_end(const watch_t *w) {
    for (int i = 0; i < w->count; i++) {
        double end = pid_cpu_seconds(w->pids[i]);
        if (end < 0 || w->start[i] < 0)
            printf("cpu_%s=gone\n", w->names[i]);
        else
            printf("cpu_%s=%.2f\n", w->names[i], end - w->start[i]);
    }
    printf("cpu_loadgen=%.2f\n", self_cpu_seconds() - w->self_start);
    printf("window_s=%.3f\n", (now_ns() - w->window_start_ns) / 1e9);
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
