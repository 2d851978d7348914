/* amqppub: the native baseline of the HTTP POST workload against RabbitMQ. C rabbitmq-c (AMQP
 * 0-9-1) connections, each with one confirm-mode channel publishing sequentially: the next
 * message is sent when the broker's confirm (basic.ack) of the previous has arrived. Messages go
 * out `mandatory`, like Sluice's; a basic.return or basic.nack counts as not acknowledged. One
 * epoll thread drives every connection (frames read without blocking). Output: key=value lines.
 *
 *   amqppub --port P [--host H] [--user U --password W --vhost V] [--exchange X --exchange-type T]
 *           [--routing-key K] [--connections C] [--duration S] [--warmup S] [--size BYTES]
 *           [--watch name=pid]...
 */
#include "common.h"
#include "amqp.h"

#include <signal.h>
#include <sys/epoll.h>

typedef struct {
    amqp_connection_state_t conn;
    int fd;
    int closed;
    int returned; /* a basic.return came for the message in flight */
    uint64_t tag; /* delivery tag of the message in flight (1, 2, ...) */
    uint64_t sent_at;
} client_t;

static amqp_target_t target = AMQP_TARGET_DEFAULTS;
static int connections = 64;
static double duration = 10, warmup = 2;
static int size = 100;
static amqp_bytes_t body;
static amqp_basic_properties_t props;
static int epfd;
static uint64_t measure_from, measure_until;
static hist_t hist;
static uint64_t acked, not_acked, returned, nacked, publish_errors, disconnects;

static void client_close(client_t *c, const char *why) {
    if (c->closed) return;
    c->closed = 1;
    disconnects++;
    fprintf(stderr, "amqppub: a connection ended: %s\n", why);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void publish_next(client_t *c) {
    c->returned = 0;
    c->tag++;
    c->sent_at = now_ns();
    int rc = amqp_basic_publish(c->conn, 1, amqp_cstring_bytes(target.exchange), amqp_cstring_bytes(target.routing_key),
                                1, 0, &props, body);
    if (rc != AMQP_STATUS_OK) {
        publish_errors++;
        client_close(c, amqp_error_string2(rc));
    }
}

/* The confirm of the message in flight: count it, then send the next. */
static void on_confirm(client_t *c, int ok) {
    uint64_t now = now_ns();
    if (c->sent_at >= measure_from && now <= measure_until) {
        hist_add(&hist, (now - c->sent_at) / 1000);
        if (ok) acked++;
        else not_acked++;
    }
    if (now < measure_until) publish_next(c);
}

/* Handles every frame that has arrived on the connection. */
static void client_read(client_t *c) {
    amqp_frame_t f;
    while (!c->closed) {
        int rc = amqp_next_frame(c->conn, &f);
        if (rc == AMQP_STATUS_TIMEOUT) break;
        if (rc != AMQP_STATUS_OK) {
            client_close(c, amqp_error_string2(rc));
            break;
        }
        if (f.frame_type != AMQP_FRAME_METHOD) continue; /* header and body of a returned message */
        switch (f.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *m = f.payload.method.decoded;
            if (m->delivery_tag >= c->tag) on_confirm(c, !c->returned); /* one in flight: multiple or not */
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            amqp_basic_nack_t *m = f.payload.method.decoded;
            nacked++;
            if (m->delivery_tag >= c->tag) on_confirm(c, 0);
            break;
        }
        case AMQP_BASIC_RETURN_METHOD:
            returned++;
            c->returned = 1;
            break;
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
            client_close(c, amqp_close_text(&f));
            break;
        default:
            break;
        }
    }
    amqp_maybe_release_buffers(c->conn);
}

int main(int argc, char **argv) {
    watch_t watch = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--host")) target.host = v;
        else if (!strcmp(a, "--port")) target.port = atoi(v);
        else if (amqp_target_option(&target, a, v)) ;
        else if (!strcmp(a, "--connections")) connections = atoi(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--watch")) watch_add(&watch, v);
        else die("unknown option %s", a);
        i++;
    }
    if (!target.port || connections < 1 || size < 0) die("usage: amqppub --port P [--connections C] ...");
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    char *payload = malloc((size_t)size + 1);
    fill_payload(payload, (size_t)size, "bench-publish ");
    body.bytes = payload;
    body.len = (size_t)size;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 1; /* transient, as Sluice publishes to a non-durable exchange */

    epfd = epoll_create1(EPOLL_CLOEXEC);
    client_t *clients = calloc((size_t)connections, sizeof(client_t));
    for (int i = 0; i < connections; i++) {
        client_t *c = &clients[i];
        c->conn = amqp_open(&target, 131072, "amqppub");
        if (i == 0) amqp_declare_exchange(c->conn, &target, "amqppub: exchange.declare");
        amqp_confirm_select(c->conn, 1);
        amqp_check(amqp_get_rpc_reply(c->conn), "amqppub: confirm.select");
        c->fd = amqp_get_sockfd(c->conn);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    }

    /* Every connection is open: start the clock and the first publish of each. */
    uint64_t start = now_ns();
    measure_from = start + (uint64_t)(warmup * 1e9);
    measure_until = measure_from + (uint64_t)(duration * 1e9);
    for (int i = 0; i < connections; i++) {
        publish_next(&clients[i]);
        client_read(&clients[i]); /* frames buffered during the setup */
    }

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
        for (int i = 0; i < n; i++) client_read(events[i].data.ptr);
    }
    printf("connections=%d\nsize=%d\nduration_s=%.1f\nwarmup_s=%.1f\n", connections, size, duration, warmup);
    printf("responses=%llu\n", (unsigned long long)hist.total);
    printf("rate=%.1f\n", hist.total / duration);
    printf("ok=%llu\nnon_expected=%llu\n", (unsigned long long)acked, (unsigned long long)not_acked);
    printf("returned=%llu\nnacked=%llu\n", (unsigned long long)returned, (unsigned long long)nacked);
    printf("publish_errors=%llu\ndisconnects=%llu\n", (unsigned long long)publish_errors, (unsigned long long)disconnects);
    hist_print("latency", &hist);
    watch_end(&watch);
    fflush(stdout);
    for (int i = 0; i < connections; i++) {
        if (!clients[i].closed) amqp_connection_close(clients[i].conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(clients[i].conn);
    }
    return 0;
}
