/* mqttpub: the native baseline of the HTTP POST workload. C libmosquitto (MQTT 5) connections,
 * each publishing QoS 1 messages sequentially: the next is sent when the PUBACK of the previous
 * has arrived. One epoll thread drives every client (mosquitto_loop_read/write/misc).
 * Output: key=value lines.
 *
 *   mqttpub --port P [--host H] [--topic T] [--connections C] [--duration S] [--warmup S]
 *           [--size BYTES] [--qos 1] [--watch name=pid]...
 */
#include "common.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <sys/epoll.h>

typedef struct {
    struct mosquitto *mosq;
    int fd;
    int connected;
    int writing; /* EPOLLOUT armed */
    uint64_t sent_at;
} client_t;

static const char *host = "127.0.0.1";
static int port = 0;
static const char *topic = "bench/t";
static int connections = 64;
static double duration = 10, warmup = 2;
static int size = 100;
static int qos = 1;
static char *payload;
static int epfd;
static uint64_t measure_from, measure_until;
static hist_t hist;
static uint64_t acked, failed_reason, publish_errors, disconnects;
static int connected_count;

static void publish_next(client_t *c) {
    c->sent_at = now_ns();
    int rc = mosquitto_publish_v5(c->mosq, NULL, topic, size, payload, qos, false, NULL);
    if (rc != MOSQ_ERR_SUCCESS) publish_errors++;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props) {
    (void)mosq; (void)flags; (void)props;
    client_t *c = obj;
    if (rc != 0) die("connect refused: %s", mosquitto_reason_string(rc));
    c->connected = 1;
    connected_count++;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason, const mosquitto_property *props) {
    (void)mosq; (void)mid; (void)props;
    client_t *c = obj;
    uint64_t now = now_ns();
    if (c->sent_at >= measure_from && now <= measure_until) {
        hist_add(&hist, (now - c->sent_at) / 1000);
        if (reason < 0x80) acked++;
        else failed_reason++;
    }
    if (now < measure_until) publish_next(c);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc, const mosquitto_property *props) {
    (void)mosq; (void)obj; (void)rc; (void)props;
    disconnects++;
}

static void update_events(client_t *c) {
    int want = mosquitto_want_write(c->mosq) ? 1 : 0;
    if (want == c->writing) return;
    c->writing = want;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

int main(int argc, char **argv) {
    watch_t watch = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--topic")) topic = v;
        else if (!strcmp(a, "--connections")) connections = atoi(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--qos")) qos = atoi(v);
        else if (!strcmp(a, "--watch")) watch_add(&watch, v);
        else die("unknown option %s", a);
        i++;
    }
    if (!port || connections < 1) die("usage: mqttpub --port P [--connections C] ...");
    raise_fd_limit();
    payload = malloc((size_t)size + 1);
    fill_payload(payload, (size_t)size, "bench-publish ");

    mosquitto_lib_init();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    client_t *clients = calloc((size_t)connections, sizeof(client_t));
    for (int i = 0; i < connections; i++) {
        client_t *c = &clients[i];
        char id[64];
        snprintf(id, sizeof id, "bench-pub-%d-%d", (int)getpid(), i);
        c->mosq = mosquitto_new(id, true, c);
        if (!c->mosq) die("mosquitto_new failed");
        mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_connect_v5_callback_set(c->mosq, on_connect);
        mosquitto_publish_v5_callback_set(c->mosq, on_publish);
        mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
        int rc = mosquitto_connect_bind_v5(c->mosq, host, port, 60, NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) die("connect %s:%d: %s", host, port, mosquitto_strerror(rc));
        c->fd = mosquitto_socket(c->mosq);
        c->writing = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
        update_events(c);
    }

    struct epoll_event events[1024];
    uint64_t start = now_ns(), last_misc = start;
    int publishing = 0, measuring = 0;
    measure_from = UINT64_MAX;
    measure_until = UINT64_MAX;
    for (;;) {
        uint64_t now = now_ns();
        if (!publishing && connected_count == connections) {
            /* Every client has its CONNACK: start the clock and the first publish of each. */
            measure_from = now + (uint64_t)(warmup * 1e9);
            measure_until = measure_from + (uint64_t)(duration * 1e9);
            publishing = 1;
            for (int i = 0; i < connections; i++) {
                publish_next(&clients[i]);
                update_events(&clients[i]);
            }
        }
        if (!publishing && now - start > 30000000000ull) die("only %d of %d clients connected in 30 s", connected_count, connections);
        if (publishing && !measuring && now >= measure_from) {
            watch_begin(&watch);
            measuring = 1;
        }
        if (now >= measure_until) break;
        if (now - last_misc > 1000000000ull) {
            for (int i = 0; i < connections; i++) mosquitto_loop_misc(clients[i].mosq);
            last_misc = now;
        }
        int n = epoll_wait(epfd, events, 1024, 50);
        for (int i = 0; i < n; i++) {
            client_t *c = events[i].data.ptr;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) mosquitto_loop_read(c->mosq, 1);
            /* The next publish was queued in the PUBACK callback: write it now rather than after
             * another epoll round (EPOLLOUT stays armed only while the socket is full). */
            if ((events[i].events & EPOLLOUT) || mosquitto_want_write(c->mosq)) mosquitto_loop_write(c->mosq, 1);
            update_events(c);
        }
    }
    printf("connections=%d\nsize=%d\nqos=%d\nduration_s=%.1f\nwarmup_s=%.1f\n", connections, size, qos, duration, warmup);
    printf("responses=%llu\n", (unsigned long long)hist.total);
    printf("rate=%.1f\n", hist.total / duration);
    printf("ok=%llu\nnon_expected=%llu\n", (unsigned long long)acked, (unsigned long long)failed_reason);
    printf("publish_errors=%llu\ndisconnects=%llu\n", (unsigned long long)publish_errors, (unsigned long long)disconnects);
    hist_print("latency", &hist);
    watch_end(&watch);
    for (int i = 0; i < connections; i++) {
        mosquitto_disconnect(clients[i].mosq);
        mosquitto_destroy(clients[i].mosq);
    }
    mosquitto_lib_cleanup();
    return 0;
}
