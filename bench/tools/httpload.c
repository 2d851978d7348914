/* httpload: closed-loop HTTP/1.1 POST load. C keep-alive connections, each sending one request
 * and waiting for its response before the next (like wrk), on one epoll thread. Counts responses
 * by status, latency per request, reconnects after errors. Output: key=value lines.
 *
 *   httpload --port P [--host H] [--path /x] [--connections C] [--duration S] [--warmup S]
 *            [--size BYTES] [--expect 202[,201...]] [--watch name=pid[+pid...]]...
 *
 * --expect lists the statuses counted as acknowledged (nchan's publisher answers 201 when the
 * channel has subscribers, 202 when it has none).
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum { CONNECTING, WRITING, READING };

typedef struct {
    int fd;
    int state;
    size_t written;
    uint64_t sent_at;
    char *in;
    size_t in_len, in_cap;
} conn_t;

static const char *host = "127.0.0.1";
static int port = 0;
static const char *path = "/";
static int connections = 64;
static double duration = 10, warmup = 2;
static int size = 100;
static int expected_status[600]; /* 1 for the statuses counted as acknowledged */
static const char *expect = "202";
static char *request;
static size_t request_len;
static int epfd;
static struct sockaddr_in addr;

static uint64_t measure_from, measure_until;
static hist_t hist;
static uint64_t ok, other_status, status_counts[600];
static uint64_t connect_errors, io_errors, closed_by_server, parse_errors;

static void conn_open(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->in_len = 0;
    c->written = 0;
    int rc = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    if (rc < 0 && errno != EINPROGRESS) die("connect: %s", strerror(errno));
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_reset(conn_t *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_open(c);
}

static void set_events(conn_t *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is left of the request; arms EPOLLOUT when the socket is full. */
static void conn_write(conn_t *c) {
    if (c->state != WRITING) {
        c->state = WRITING;
        c->written = 0;
        c->sent_at = now_ns();
    }
    while (c->written < request_len) {
        ssize_t n = write(c->fd, request + c->written, request_len - c->written);
        if (n < 0) {
            if (errno == EAGAIN) {
                set_events(c, EPOLLOUT);
                return;
            }
            io_errors++;
            conn_reset(c);
            return;
        }
        c->written += (size_t)n;
    }
    c->state = READING;
    c->in_len = 0;
    set_events(c, EPOLLIN);
}

static int header_value(const char *headers, size_t len, const char *name, char *out, size_t out_size) {
    size_t name_len = strlen(name);
    const char *p = headers, *end = headers + len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > name_len && strncasecmp(p, name, name_len) == 0 && p[name_len] == ':') {
            const char *v = p + name_len + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            size_t n = (size_t)(eol - v);
            if (n >= out_size) n = out_size - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

/* Length of a complete response at the start of the buffer, 0 if incomplete, -1 if malformed. */
static long response_length(const char *buf, size_t len, int *status, int *close_after) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    char value[128];
    *close_after = header_value(buf, head, "connection", value, sizeof value) && strcasecmp(value, "close") == 0;
    if (header_value(buf, head, "content-length", value, sizeof value)) {
        size_t total = head + (size_t)strtoull(value, NULL, 10);
        return len >= total ? (long)total : 0;
    }
    if (header_value(buf, head, "transfer-encoding", value, sizeof value) && strcasestr(value, "chunked")) {
        size_t pos = head;
        for (;;) {
            const char *eol = memmem(buf + pos, len - pos, "\r\n", 2);
            if (!eol) return 0;
            size_t chunk = strtoull(buf + pos, NULL, 16);
            pos = (size_t)(eol - buf) + 2;
            if (chunk == 0) {
                /* trailers end with an empty line */
                for (;;) {
                    const char *e = memmem(buf + pos, len - pos, "\r\n", 2);
                    if (!e) return 0;
                    size_t line = (size_t)(e - (buf + pos));
                    pos += line + 2;
                    if (line == 0) return (long)pos;
                }
            }
            if (len < pos + chunk + 2) return 0;
            pos += chunk + 2;
        }
    }
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200)) return (long)head;
    return -1; /* a body delimited by close is not expected from a keep-alive server */
}

static void conn_read(conn_t *c) {
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0) {
            if (errno == EAGAIN) return;
            io_errors++;
            conn_reset(c);
            return;
        }
        if (n == 0) {
            closed_by_server++;
            conn_reset(c);
            return;
        }
        c->in_len += (size_t)n;
        int status = 0, close_after = 0;
        long total = response_length(c->in, c->in_len, &status, &close_after);
        if (total == 0) continue;
        if (total < 0) {
            parse_errors++;
            conn_reset(c);
            return;
        }
        uint64_t now = now_ns();
        if (c->sent_at >= measure_from && now <= measure_until) {
            hist_add(&hist, (now - c->sent_at) / 1000);
            if (status > 0 && status < 600 && expected_status[status]) ok++;
            else other_status++;
            if (status > 0 && status < 600) status_counts[status]++;
        }
        if (close_after || (size_t)total != c->in_len) {
            if ((size_t)total != c->in_len) parse_errors++;
            conn_reset(c);
            return;
        }
        conn_write(c);
        return;
    }
}

int main(int argc, char **argv) {
    watch_t watch = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--path")) path = v;
        else if (!strcmp(a, "--connections")) connections = atoi(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--expect")) expect = v;
        else if (!strcmp(a, "--watch")) watch_add(&watch, v);
        else die("unknown option %s", a);
        i++;
    }
    if (!port || connections < 1 || size < 0) die("usage: httpload --port P [--connections C] ...");
    for (const char *p = expect; *p;) {
        char *end;
        long status = strtol(p, &end, 10);
        if (end == p || status < 100 || status > 599 || (*end && *end != ',')) die("bad --expect %s", expect);
        expected_status[status] = 1;
        p = *end ? end + 1 : end;
    }
    raise_fd_limit();

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("bad host %s", host);

    char *body = malloc((size_t)size + 1);
    fill_payload(body, (size_t)size, "bench-post ");
    request = malloc((size_t)size + 512);
    int head = snprintf(request, 512,
                        "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
                        path, host, port, size);
    memcpy(request + head, body, (size_t)size);
    request_len = (size_t)head + (size_t)size;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    conn_t *conns = calloc((size_t)connections, sizeof(conn_t));
    uint64_t start = now_ns();
    measure_from = start + (uint64_t)(warmup * 1e9);
    measure_until = measure_from + (uint64_t)(duration * 1e9);
    for (int i = 0; i < connections; i++) conn_open(&conns[i]);

    struct epoll_event events[1024];
    int measuring = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!measuring && now >= measure_from) {
            watch_begin(&watch);
            measuring = 1;
        }
        if (now >= measure_until) break;
        uint64_t next = measuring ? measure_until : measure_from;
        int timeout = (int)((next - now) / 1000000) + 1;
        int n = epoll_wait(epfd, events, 1024, timeout);
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    connect_errors++;
                    usleep(10000);
                    conn_reset(c);
                    continue;
                }
                conn_write(c);
            } else if (c->state == WRITING) {
                conn_write(c);
            } else {
                conn_read(c);
            }
        }
    }
    double seconds = duration;
    printf("connections=%d\nsize=%d\nduration_s=%.1f\nwarmup_s=%.1f\n", connections, size, duration, warmup);
    printf("responses=%llu\n", (unsigned long long)hist.total);
    printf("rate=%.1f\n", hist.total / seconds);
    printf("expect=%s\n", expect);
    printf("ok=%llu\nnon_expected=%llu\n", (unsigned long long)ok, (unsigned long long)other_status);
    for (int s = 0; s < 600; s++)
        if (status_counts[s]) printf("status_%d=%llu\n", s, (unsigned long long)status_counts[s]);
    printf("connect_errors=%llu\nio_errors=%llu\nclosed_by_server=%llu\nparse_errors=%llu\n",
           (unsigned long long)connect_errors, (unsigned long long)io_errors,
           (unsigned long long)closed_by_server, (unsigned long long)parse_errors);
    hist_print("latency", &hist);
    watch_end(&watch);
    return 0;
}
