/* fanout: N subscribers of one MQTT topic, AMQP exchange, Kafka topic or nchan channel, fed by one
 * publisher at a fixed rate.
 *
 *   --mode sse   N Server-Sent-Events clients of a Sluice API (GET with Accept: text/event-stream,
 *                each with its own X-Sluice-Client-Identifier), raw sockets on one epoll thread.
 *                Also nchan's EventSource subscribers (`--path /sub/<channel>`; the `id:` lines
 *                nchan adds are ignored).
 *   --mode ws    N WebSocket clients (RFC 6455: Sec-WebSocket-Key checked against the server's
 *                Sec-WebSocket-Accept; text or binary frames, 7/16/64-bit lengths, fragmented
 *                messages joined; pings answered with a masked pong; a close frame is answered
 *                and counted as a disconnect), each with its own X-Sluice-Client-Identifier, raw
 *                sockets on one epoll thread: Sluice's websocket entrypoint or nchan's subscriber.
 *   --mode mqtt  N libmosquitto (MQTT 5) subscribers of the broker itself, on one epoll thread:
 *                the native baseline for MQTT.
 *   --mode amqp  N rabbitmq-c (AMQP 0-9-1) consumers of the broker itself, each with its own
 *                connection and durable queue bound to the exchange (auto-delete, so they go with
 *                the tool), prefetch 100, each message acknowledged on receipt; one epoll thread:
 *                the native baseline for RabbitMQ.
 *   --mode kafka N librdkafka consumers of the topic, each its own rd_kafka_t in its own consumer
 *                group (group.id bench-sub-<run>-<i>, as Sluice has one group per client
 *                identifier), auto.offset.reset=latest, offsets auto-committed (librdkafka's
 *                default, every 5 s); --sub-settings adds librdkafka settings (with
 *                enable.auto.offset.store=false each offset is stored on receipt, as Sluice
 *                stores it when its client has the message). Each consumer
 *                queue signals a pipe (rd_kafka_queue_io_event_enable) that the epoll thread
 *                waits on, then drains it with rd_kafka_consumer_poll: the native baseline for
 *                Kafka. librdkafka runs its own threads per instance (main, one per broker
 *                connection, the group coordinator's).
 *
 * A publisher thread publishes to the broker directly: `--pub mqtt` (libmosquitto, MQTT 5, QoS
 * --pub-qos), `--pub amqp` (rabbitmq-c, publisher confirms, to the exchange with the routing
 * key; the default in amqp mode), `--pub kafka` (a librdkafka producer to the topic --topic at
 * --brokers, acks=all, linger.ms=0, then --pub-settings; the default in kafka mode) or `--pub http`
 * (HTTP/1.1 POSTs of the payload to --pub-url, e.g. nchan's http://127.0.0.1:18980/pub/bench, on
 * one keep-alive connection, written when due without waiting for the previous response
 * (pipelined), so that the rate holds; 2xx responses count as acknowledged). Kafka needs
 * a librdkafka >= 2.2 at run time (see kafka.h). It first sends probe messages every 100 ms until every
 * subscriber has received one (so every subscription is live), then `rate` messages per second
 * for `duration` seconds, each carrying its send time
 * (CLOCK_MONOTONIC, same process). Subscribers count deliveries and publish-to-receive latency.
 * The run ends when every subscriber has every message or `drain` seconds after the last publish.
 * SSE and WebSocket clients connect at most --connect-batch (200) at a time (each waits for its
 * response headers before the next connects), so that the server's listen backlog never
 * overflows with 10 000 of them; --ready-timeout (default 60 s + 10 ms per subscriber) bounds the
 * connecting and the probing together.
 *
 * Two memory modes (SSE only, with --mem name=rss:pid or name=pss:pid+pid... to sample the
 * server; see common.h):
 *   --idle 1     no publisher: N clients connect and wait for their response headers and a first
 *                body line (Sluice's `retry:`, nchan's `: hi` comment); the server's memory is read
 *                before the first connects and --settle seconds (2) after the last is ready, and
 *                the difference divided by the ready clients (mem_<name>_per_conn_bytes; "-"
 *                when fewer than 90 % of the clients are ready and open then).
 *   --slow 1     the clients (socket receive buffer --rcvbuf bytes, 4096) read normally until
 *                every one has a probe, then while the publisher runs they read only --slow-bps
 *                bytes per second each (300: 30 bytes every 100 ms); the server's memory is read
 *                every second (start, max, end of the publishing; mem_<name>_*_kb); then they read
 *                at full speed for the drain time, so that a stream the server closed is seen
 *                (disconnects).
 * Output: key=value lines.
 *
 *   fanout --mode sse|ws|mqtt|amqp|kafka --subscribers N --rate R --duration S [--size BYTES]
 *          [--host H --port P --path /x] [--connect-batch 200]   (sse and ws modes)
 *          [--idle 1 [--settle S] | --slow 1 [--slow-bps B] [--rcvbuf B]] [--mem name=rss:pid]...
 *          [--pub http --pub-url http://H:P/path]
 *          [--broker-host H] --broker-port P [--topic T] [--pub-qos 1] [--sub-qos 1] [--share 1]
 *          [--pub mqtt|amqp|kafka] [--user U --password W --vhost V] [--exchange X --exchange-type T]
 *          [--routing-key K] [--prefetch 100]  (AMQP)
 *          [--brokers H:P] [--pub-settings k=v,..] [--sub-settings k=v,..] [--kafka-assign 1]
 *          (Kafka; --brokers defaults to broker-host:broker-port; --kafka-assign 1: each consumer
 *          assign()s every partition at its end instead of joining a group, and commits nothing)
 *          [--ready-timeout S] [--drain S] [--watch name=pid[+pid...]]...
 */
#include "common.h"
#include "amqp.h"
#include "kafka.h"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* ---------- settings ---------- */
enum { MODE_SSE, MODE_MQTT, MODE_AMQP, MODE_KAFKA, MODE_WS };
static int mode = MODE_SSE;
#define HTTP_MODE (mode == MODE_SSE || mode == MODE_WS) /* raw-socket clients of an HTTP server */
enum { PUB_MQTT, PUB_AMQP, PUB_KAFKA, PUB_HTTP };
static int pub = -1; /* the publisher's protocol (default: that of the mode; MQTT for sse) */
static const char *kafka_brokers, *pub_settings = "", *sub_settings = "";
static int kafka_assign;    /* --kafka-assign 1: assign() every partition at its end, no group */
static int kafka_partitions; /* the topic's partitions (from the publisher's metadata request) */
static amqp_target_t amqp_target = AMQP_TARGET_DEFAULTS;
static int prefetch = 100;
static int subscribers = 100;
static double rate = 1000, duration = 10, ready_timeout = -1, drain = 5;
static int size = 100;
static const char *host = "127.0.0.1", *path = "/";
static int port = 0;
static const char *broker_host = "127.0.0.1", *topic = "bench/t";
static int broker_port = 0, pub_qos = 1, sub_qos = 1, share = 1;
static unsigned run_id;
static const char *pub_url;           /* --pub http: where to POST */
static char pub_host[256], pub_path[512];
static int pub_port;
static int connect_batch = 200;       /* SSE / WebSocket handshakes in flight at most */
static int idle_mode, slow_mode;      /* the memory modes */
static double settle = 2;             /* idle: seconds between the last ready client and the reading */
static int slow_bps = 300, rcvbuf = 4096;
static memwatch_t mem;

/* ---------- results ---------- */
static hist_t hist;
/* Per message: the latency (us + 1; 0 = none yet) of its first and of its last delivery, so that
 * the way to the gateway (first) and the fan-out's spread (last - first) can be told apart. */
static uint32_t *first_us, *last_us;
static uint64_t delivered, duplicates, reordered, stale, probes_seen, heartbeats, goaways, error_events;
static uint64_t total_messages; /* rate x duration: the sequence numbers of the run are below */
static uint64_t disconnects, bad_status, connect_errors, parse_errors;
static uint64_t ws_messages, ws_pings, ws_close_frames, pub_reconnects;
static int ready_count;
static int handshaking;  /* SSE / WebSocket clients connected or connecting, without response headers yet */
static int body_ready;   /* SSE clients with response headers and a first body line (idle mode) */
static uint64_t last_delivery_ns;

typedef struct {
    int index;
    int ready;
    int closed;
    long long last_seq;
    uint8_t *seen; /* a bit per sequence number: duplicates are told from reordered messages */
    uint64_t delivered;
    /* sse and ws */
    int fd;
    int state; /* 0 connecting, 1 headers, 2 body (sse) or frames (ws) */
    int body_seen;  /* a first body line (sse) */
    int paused;     /* slow mode: out of epoll, read on a timer */
    char ws_accept[32]; /* the Sec-WebSocket-Accept the server must send */
    int ws_in_message;  /* a fragmented message is being received (in data) */
    char *wbuf;         /* ws: bytes not yet parsed into frames */
    size_t wbuf_len, wbuf_cap;
    int chunked;
    int chunk_state; /* 0 size line, 1 data, 2 CRLF after data, 3 ended */
    uint64_t chunk_left;
    int chunk_ext;
    char *head;
    size_t head_len, head_cap;
    char *line;
    size_t line_len, line_cap;
    char event[32];
    char *data;
    size_t data_len, data_cap;
    int has_data;
    /* mqtt */
    struct mosquitto *mosq;
    int writing;
    int connected;
    /* amqp */
    amqp_connection_state_t amqp;
    uint64_t amqp_tag;  /* delivery tag of the message being received */
    uint64_t body_left; /* bytes of its body still to come */
    char body[96];      /* its start (what on_payload reads) */
    size_t body_len;
    /* kafka */
    rd_kafka_t *rk;
    rd_kafka_queue_t *kq;   /* its consumer queue */
    int wake_fd;            /* the pipe's write end, written by librdkafka */
    rd_kafka_queue_t *closeq;
    int store_offsets;      /* enable.auto.offset.store=false: store each offset on receipt */
} sub_t;

static sub_t *subs;
static int opened; /* subscribers created so far */
static int epfd;

/* ---------- publisher thread ---------- */
enum { PH_PROBE, PH_RUN, PH_DONE };
static atomic_int phase = PH_PROBE;
static atomic_int stop_publisher;
static atomic_ullong offered, pub_done_ns, pub_acks, pub_errors, max_lag_us;
static atomic_int publisher_ready;

static void on_pub_connect(struct mosquitto *m, void *o, int rc, int f, const mosquitto_property *p) {
    (void)m; (void)o; (void)f; (void)p;
    if (rc) die("publisher: connect refused: %s", mosquitto_reason_string(rc));
    atomic_store(&publisher_ready, 1);
}
static void on_pub_ack(struct mosquitto *m, void *o, int mid, int reason, const mosquitto_property *p) {
    (void)m; (void)o; (void)mid; (void)p;
    if (reason < 0x80) atomic_fetch_add(&pub_acks, 1);
    else atomic_fetch_add(&pub_errors, 1);
}

static void on_kafka_pub_delivery(rd_kafka_t *k, const rd_kafka_message_t *m, void *o) {
    (void)k; (void)o;
    atomic_fetch_add(m->err ? &pub_errors : &pub_acks, 1);
}

/* The publisher's connection: MQTT 5 (libmosquitto), AMQP 0-9-1 (rabbitmq-c, confirm mode) or a
 * Kafka producer (librdkafka). */
typedef struct {
    struct mosquitto *mosq;
    uint64_t last_misc;
    amqp_connection_state_t amqp;
    uint64_t amqp_confirmed; /* highest delivery tag confirmed */
    rd_kafka_t *rk;
    /* http */
    int fd;
    char head[512];   /* the request line and headers of every POST */
    int head_len;
    char *out;        /* requests not yet written */
    size_t out_off, out_len, out_cap;
    char *in;         /* responses not yet parsed */
    size_t in_len, in_cap;
    uint64_t in_flight; /* requests without a response yet */
} pub_conn_t;

/* ---------- HTTP publisher (nchan) ---------- */

/* Splits --pub-url http://host:port/path. */
static void parse_pub_url(const char *url) {
    if (strncmp(url, "http://", 7)) die("bad --pub-url %s (want http://host:port/path)", url);
    const char *h = url + 7, *slash = strchr(h, '/'), *colon = strchr(h, ':');
    if (!slash) slash = h + strlen(h);
    size_t host_len = (size_t)((colon && colon < slash ? colon : slash) - h);
    if (!host_len || host_len >= sizeof pub_host) die("bad --pub-url %s", url);
    memcpy(pub_host, h, host_len);
    pub_host[host_len] = 0;
    pub_port = colon && colon < slash ? atoi(colon + 1) : 80;
    snprintf(pub_path, sizeof pub_path, "%s", *slash ? slash : "/");
}

static void http_pub_open(pub_conn_t *p) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pub_port)};
    if (inet_pton(AF_INET, pub_host, &a.sin_addr) != 1) die("publisher: bad host %s", pub_host);
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->fd < 0) die("publisher: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(p->fd, (struct sockaddr *)&a, sizeof a) < 0) die("publisher: connect %s:%d: %s", pub_host, pub_port, strerror(errno));
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    p->out_off = p->out_len = p->in_len = 0;
    p->in_flight = 0;
}

/* The connection failed: what was in flight is lost (counted as errors); connect again. */
static void http_pub_reset(pub_conn_t *p, const char *why) {
    static int shown;
    if (shown++ < 5) fprintf(stderr, "fanout: publisher: %s; reconnecting\n", why);
    atomic_fetch_add(&pub_errors, p->in_flight);
    close(p->fd);
    pub_reconnects++;
    http_pub_open(p);
}

static void http_pub_flush(pub_conn_t *p) {
    while (p->out_off < p->out_len) {
        ssize_t n = write(p->fd, p->out + p->out_off, p->out_len - p->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            http_pub_reset(p, strerror(errno));
            return;
        }
        p->out_off += (size_t)n;
    }
    p->out_off = p->out_len = 0;
}

/* Counts the complete responses at the start of the buffer (2xx acknowledged, else an error). */
static void http_pub_parse(pub_conn_t *p) {
    size_t pos = 0;
    for (;;) {
        char *start = p->in + pos;
        size_t avail = p->in_len - pos;
        char *end = memmem(start, avail, "\r\n\r\n", 4);
        if (!end) break;
        size_t head = (size_t)(end - start) + 4, body = 0;
        if (avail < 12 || memcmp(start, "HTTP/1.", 7)) {
            http_pub_reset(p, "malformed response");
            return;
        }
        int status = atoi(start + 9);
        for (char *line = memchr(start, '\n', head); line && line < end; line = memchr(line + 1, '\n', (size_t)(end - line)))
            if (!strncasecmp(line + 1, "content-length:", 15)) body = strtoul(line + 16, NULL, 10);
        if (avail < head + body) break;
        atomic_fetch_add(status >= 200 && status < 300 ? &pub_acks : &pub_errors, 1);
        if (p->in_flight) p->in_flight--;
        pos += head + body;
    }
    memmove(p->in, p->in + pos, p->in_len - pos);
    p->in_len -= pos;
}

static void http_pub_read(pub_conn_t *p) {
    for (;;) {
        if (p->in_cap - p->in_len < 4096) {
            p->in_cap = p->in_cap ? p->in_cap * 2 : 65536;
            p->in = realloc(p->in, p->in_cap);
        }
        ssize_t n = read(p->fd, p->in + p->in_len, p->in_cap - p->in_len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            http_pub_reset(p, n == 0 ? "the server closed the connection" : strerror(errno));
            return;
        }
        if (n < 0) return;
        p->in_len += (size_t)n;
        http_pub_parse(p);
    }
}

static int http_pub_send(pub_conn_t *p, const char *payload) {
    size_t need = p->out_len + (size_t)p->head_len + (size_t)size;
    if (need > p->out_cap) {
        p->out_cap = need * 2;
        p->out = realloc(p->out, p->out_cap);
    }
    memcpy(p->out + p->out_len, p->head, (size_t)p->head_len);
    memcpy(p->out + p->out_len + p->head_len, payload, (size_t)size);
    p->out_len = need;
    p->in_flight++;
    http_pub_flush(p);
    return 1;
}

static amqp_basic_properties_t amqp_props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 1};

static void pub_connect(pub_conn_t *p) {
    p->last_misc = now_ns();
    if (pub == PUB_HTTP) {
        p->head_len = snprintf(p->head, sizeof p->head,
                               "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
                               pub_path, pub_host, pub_port, size);
        http_pub_open(p);
        atomic_store(&publisher_ready, 1);
        return;
    }
    if (pub == PUB_KAFKA) {
        char settings[1024];
        snprintf(settings, sizeof settings, "acks=all,linger.ms=0%s%s", *pub_settings ? "," : "", pub_settings);
        rd_kafka_conf_t *conf = kafka_conf(kafka_brokers, "bench-fanout-publisher", settings);
        rd_kafka_conf_set_dr_msg_cb(conf, on_kafka_pub_delivery);
        p->rk = kafka_new(RD_KAFKA_PRODUCER, conf);
        /* Ready once the broker has answered a metadata request for the topic. */
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, rkt, &md, 10000);
        if (err) die("publisher: no metadata for %s from %s: %s", topic, kafka_brokers, rd_kafka_err2str(err));
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        atomic_store(&publisher_ready, 1);
        return;
    }
    if (pub == PUB_AMQP) {
        p->amqp = amqp_open(&amqp_target, 131072, "publisher");
        amqp_declare_exchange(p->amqp, &amqp_target, "publisher: exchange.declare");
        amqp_confirm_select(p->amqp, 1);
        amqp_check(amqp_get_rpc_reply(p->amqp), "publisher: confirm.select");
        atomic_store(&publisher_ready, 1);
        return;
    }
    p->mosq = mosquitto_new(NULL, true, NULL);
    mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(p->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(p->mosq, on_pub_connect);
    mosquitto_publish_v5_callback_set(p->mosq, on_pub_ack);
    int rc = mosquitto_connect_bind_v5(p->mosq, broker_host, broker_port, 60, NULL, NULL);
    if (rc) die("publisher: connect %s:%d: %s", broker_host, broker_port, mosquitto_strerror(rc));
}

/* Sends one message; 1 if it went out. */
static int pub_send(pub_conn_t *p, char *payload) {
    if (pub == PUB_HTTP) return http_pub_send(p, payload);
    if (pub == PUB_KAFKA)
        return rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, (size_t)size),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (pub == PUB_AMQP) {
        amqp_bytes_t body = {.len = (size_t)size, .bytes = payload};
        return amqp_basic_publish(p->amqp, 1, amqp_cstring_bytes(amqp_target.exchange),
                                  amqp_cstring_bytes(amqp_target.routing_key), 0, 0, &amqp_props, body) == AMQP_STATUS_OK;
    }
    return mosquitto_publish_v5(p->mosq, NULL, topic, size, payload, pub_qos, false, NULL) == MOSQ_ERR_SUCCESS;
}

/* Network I/O (acknowledgements in, pending writes out) for at most `wait` nanoseconds. */
static void pub_io(pub_conn_t *p, uint64_t wait) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait};
    if (pub == PUB_HTTP) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN | (p->out_len > p->out_off ? POLLOUT : 0)};
        if (ppoll(&pfd, 1, &ts, NULL) <= 0) return;
        if (pfd.revents & POLLOUT) http_pub_flush(p);
        if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) http_pub_read(p);
        return;
    }
    if (pub == PUB_KAFKA) {
        /* Delivery reports; rd_kafka_poll waits in whole milliseconds, the rest is slept. */
        rd_kafka_poll(p->rk, (int)(wait / 1000000));
        ts.tv_nsec = (long)(wait % 1000000);
        if (ts.tv_nsec) nanosleep(&ts, NULL);
        return;
    }
    if (pub == PUB_AMQP) {
        struct pollfd pfd = {.fd = amqp_get_sockfd(p->amqp), .events = POLLIN};
        if (ppoll(&pfd, 1, &ts, NULL) <= 0) return;
        amqp_frame_t f;
        int rc;
        while ((rc = amqp_next_frame(p->amqp, &f)) == AMQP_STATUS_OK) {
            if (f.frame_type != AMQP_FRAME_METHOD) continue;
            amqp_method_number_t id = f.payload.method.id;
            if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
                uint64_t tag = id == AMQP_BASIC_ACK_METHOD ? ((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag
                                                           : ((amqp_basic_nack_t *)f.payload.method.decoded)->delivery_tag;
                int multiple = id == AMQP_BASIC_ACK_METHOD ? ((amqp_basic_ack_t *)f.payload.method.decoded)->multiple
                                                           : ((amqp_basic_nack_t *)f.payload.method.decoded)->multiple;
                uint64_t n = multiple ? (tag > p->amqp_confirmed ? tag - p->amqp_confirmed : 0) : 1;
                if (tag > p->amqp_confirmed) p->amqp_confirmed = tag;
                atomic_fetch_add(id == AMQP_BASIC_ACK_METHOD ? &pub_acks : &pub_errors, n);
            } else if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
                die("publisher: %s", amqp_close_text(&f));
            }
        }
        if (rc != AMQP_STATUS_TIMEOUT) die("publisher: %s", amqp_error_string2(rc));
        amqp_maybe_release_buffers(p->amqp);
        return;
    }
    uint64_t now = now_ns();
    if (now - p->last_misc > 1000000000ull) {
        mosquitto_loop_misc(p->mosq);
        p->last_misc = now;
    }
    struct pollfd pfd = {.fd = mosquitto_socket(p->mosq), .events = POLLIN | (mosquitto_want_write(p->mosq) ? POLLOUT : 0)};
    if (ppoll(&pfd, 1, &ts, NULL) > 0) {
        if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) mosquitto_loop_read(p->mosq, 1);
        if (pfd.revents & POLLOUT) mosquitto_loop_write(p->mosq, 1);
    }
}

static void pub_close(pub_conn_t *p) {
    if (pub == PUB_HTTP) {
        /* Waits up to 2 s for the responses still due. */
        uint64_t until = now_ns() + 2000000000ull;
        while ((p->in_flight || p->out_len > p->out_off) && now_ns() < until) pub_io(p, 10000000ull);
        close(p->fd);
        return;
    }
    if (pub == PUB_KAFKA) {
        rd_kafka_flush(p->rk, 5000);
        rd_kafka_destroy(p->rk);
        return;
    }
    if (pub == PUB_AMQP) {
        amqp_connection_close(p->amqp, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(p->amqp);
        return;
    }
    mosquitto_disconnect(p->mosq);
    mosquitto_destroy(p->mosq);
}

static void *publisher(void *arg) {
    (void)arg;
    pub_conn_t pc = {0};
    pub_connect(&pc);
    char *payload = malloc((size_t)size + 64);
    char head[96];
    uint64_t total = total_messages;
    uint64_t interval = (uint64_t)(1e9 / rate);
    uint64_t probe_seq = 0, next_probe = now_ns(), sent = 0, run_start = 0;
    while (!atomic_load(&stop_publisher)) {
        uint64_t now = now_ns();
        int ph = atomic_load(&phase);
        uint64_t next = now + 50000000ull;
        if (atomic_load(&publisher_ready)) {
            if (ph == PH_PROBE) {
                if (now >= next_probe) {
                    snprintf(head, sizeof head, "P %08x %llu ", run_id, (unsigned long long)probe_seq++);
                    fill_payload(payload, (size_t)size, head);
                    pub_send(&pc, payload);
                    next_probe = now + 100000000ull;
                }
                next = next_probe;
            } else if (ph == PH_RUN) {
                if (!run_start) run_start = now;
                while (sent < total && now >= run_start + sent * interval) {
                    uint64_t due = run_start + sent * interval;
                    uint64_t lag = (now - due) / 1000;
                    if (lag > atomic_load(&max_lag_us)) atomic_store(&max_lag_us, lag);
                    uint64_t t = now_ns();
                    snprintf(head, sizeof head, "M %08x %llu %llu ", run_id, (unsigned long long)sent, (unsigned long long)t);
                    fill_payload(payload, (size_t)size, head);
                    if (pub_send(&pc, payload))
                        atomic_fetch_add(&offered, 1);
                    else
                        atomic_fetch_add(&pub_errors, 1);
                    sent++;
                    now = now_ns();
                }
                if (sent >= total) {
                    atomic_store(&pub_done_ns, now);
                    atomic_store(&phase, PH_DONE);
                } else {
                    next = run_start + sent * interval;
                }
            }
        }
        uint64_t wait = next > now ? next - now : 0;
        if (wait > 50000000ull) wait = 50000000ull;
        pub_io(&pc, wait);
    }
    pub_close(&pc);
    return NULL;
}

/* ---------- deliveries ---------- */
/* Reads an unsigned number in base 10 or 16 followed by a space; 0 if there is none. */
static int scan_number(const char **p, const char *end, int base, unsigned long long *out) {
    const char *q = *p;
    unsigned long long v = 0;
    int digits = 0;
    for (; q < end && *q != ' '; q++, digits++) {
        int d = *q >= '0' && *q <= '9' ? *q - '0' : base == 16 && *q >= 'a' && *q <= 'f' ? *q - 'a' + 10 : -1;
        if (d < 0 || digits > 20) return 0;
        v = v * (unsigned)base + (unsigned)d;
    }
    if (!digits || q == end) return 0;
    *out = v;
    *p = q + 1;
    return 1;
}

/* A payload: "P <run> <seq> " (probe) or "M <run> <seq> <send time ns> " then padding. */
static void on_payload(sub_t *s, const char *data, size_t len, uint64_t now) {
    if (len < 12) return;
    const char *p = data + 2, *end = data + (len < 96 ? len : 96);
    unsigned long long run = 0, seq = 0, t = 0;
    if (data[0] == 'P' && data[1] == ' ') {
        if (scan_number(&p, end, 16, &run) && scan_number(&p, end, 10, &seq) && run == run_id) {
            probes_seen++;
            if (!s->ready) {
                s->ready = 1;
                ready_count++;
            }
        } else {
            stale++;
        }
        return;
    }
    if (data[0] != 'M' || data[1] != ' ' || !scan_number(&p, end, 16, &run) || !scan_number(&p, end, 10, &seq) ||
        !scan_number(&p, end, 10, &t) || run != run_id) {
        stale++;
        return;
    }
    if (seq >= total_messages) {
        stale++;
        return;
    }
    if (!s->seen) s->seen = calloc((size_t)(total_messages + 7) / 8, 1);
    if (s->seen[seq / 8] & (1u << (seq % 8))) {
        duplicates++;
        return;
    }
    s->seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
    /* Later than a higher sequence number: counted (it was delivered) and reported. With Kafka
     * this is normal: order holds per partition, and keyless messages spread over partitions. */
    if ((long long)seq < s->last_seq) reordered++;
    else s->last_seq = (long long)seq;
    s->delivered++;
    delivered++;
    last_delivery_ns = now;
    uint64_t us = now > t ? (now - t) / 1000 : 0;
    hist_add(&hist, us);
    uint32_t mark = us >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)us + 1;
    if (!first_us[seq] || mark < first_us[seq]) first_us[seq] = mark;
    if (mark > last_us[seq]) last_us[seq] = mark;
}

/* Percentiles over the messages of their first and last delivery latencies. */
static void print_per_message(void) {
    static hist_t first, last;
    for (uint64_t i = 0; i < total_messages; i++) {
        if (!first_us[i]) continue;
        hist_add(&first, first_us[i] - 1);
        hist_add(&last, last_us[i] - 1);
    }
    printf("first_p50_ms=%.3f\nfirst_p99_ms=%.3f\n", hist_percentile(&first, 50) / 1000.0, hist_percentile(&first, 99) / 1000.0);
    printf("last_p50_ms=%.3f\nlast_p99_ms=%.3f\n", hist_percentile(&last, 50) / 1000.0, hist_percentile(&last, 99) / 1000.0);
}

/* ---------- SSE and WebSocket clients ---------- */
static struct sockaddr_in sluice_addr;

static void grow(char **buf, size_t *cap, size_t need) {
    if (*cap >= need) return;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    *buf = realloc(*buf, c);
    *cap = c;
}

static void sse_close(sub_t *s) {
    if (s->closed) return;
    s->closed = 1;
    if (s->state < 2) handshaking--;
    if (!s->paused) epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
}

/* A header's value in a response head (case-insensitive name), or 0. */
static int head_value(const char *head, size_t len, const char *name, char *out, size_t out_size) {
    size_t name_len = strlen(name);
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > name_len && !strncasecmp(p, name, name_len) && p[name_len] == ':') {
            const char *v = p + name_len + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            size_t n = (size_t)(eol - v);
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
            if (n >= out_size) n = out_size - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

static void sse_line(sub_t *s, char *line, size_t len, uint64_t now) {
    if (!s->body_seen) {
        s->body_seen = 1;
        body_ready++;
    }
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) { /* end of an event */
        if (s->has_data) {
            if (s->event[0] == 0 || !strcmp(s->event, "message")) on_payload(s, s->data, s->data_len, now);
            else if (!strcmp(s->event, "goaway")) goaways++;
            else if (!strcmp(s->event, "error")) error_events++;
        }
        s->has_data = 0;
        s->data_len = 0;
        s->event[0] = 0;
        return;
    }
    if (line[0] == ':') {
        heartbeats++;
        return;
    }
    char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = colon ? len - name_len - 1 : 0;
    if (value_len && *value == ' ') value++, value_len--;
    if (name_len == 4 && !memcmp(line, "data", 4)) {
        grow(&s->data, &s->data_cap, s->data_len + value_len + 2);
        if (s->has_data) s->data[s->data_len++] = '\n';
        memcpy(s->data + s->data_len, value, value_len);
        s->data_len += value_len;
        s->has_data = 1;
    } else if (name_len == 5 && !memcmp(line, "event", 5)) {
        size_t n = value_len < sizeof s->event - 1 ? value_len : sizeof s->event - 1;
        memcpy(s->event, value, n);
        s->event[n] = 0;
    }
    /* id: (nchan sends one before each data:) and retry: are not needed */
}

/* Decoded body bytes: split into lines (kept across reads). */
static void sse_feed(sub_t *s, const char *p, size_t len, uint64_t now) {
    while (len) {
        const char *nl = memchr(p, '\n', len);
        if (!nl) {
            grow(&s->line, &s->line_cap, s->line_len + len);
            memcpy(s->line + s->line_len, p, len);
            s->line_len += len;
            return;
        }
        size_t part = (size_t)(nl - p);
        if (s->line_len) {
            grow(&s->line, &s->line_cap, s->line_len + part + 1);
            memcpy(s->line + s->line_len, p, part);
            sse_line(s, s->line, s->line_len + part, now);
            s->line_len = 0;
        } else {
            sse_line(s, (char *)p, part, now);
        }
        p += part + 1;
        len -= part + 1;
    }
}

/* Raw body bytes: undo chunked transfer coding when present. */
static void sse_body(sub_t *s, const char *p, size_t len, uint64_t now) {
    if (!s->chunked) {
        sse_feed(s, p, len, now);
        return;
    }
    while (len) {
        if (s->chunk_state == 0) {
            char c = *p++;
            len--;
            if (c == '\n') {
                s->chunk_state = s->chunk_left ? 1 : 3;
                s->chunk_ext = 0;
                if (s->chunk_state == 3) { /* the last chunk: the server ended the stream */
                    disconnects++;
                    sse_close(s);
                    return;
                }
            } else if (c == ';') {
                s->chunk_ext = 1;
            } else if (!s->chunk_ext && c != '\r') {
                int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                if (d < 0) {
                    parse_errors++;
                    sse_close(s);
                    return;
                }
                s->chunk_left = s->chunk_left * 16 + (uint64_t)d;
            }
        } else if (s->chunk_state == 1) {
            size_t n = len < s->chunk_left ? len : (size_t)s->chunk_left;
            sse_feed(s, p, n, now);
            p += n;
            len -= n;
            s->chunk_left -= n;
            if (!s->chunk_left) s->chunk_state = 2;
        } else if (s->chunk_state == 2) {
            char c = *p++;
            len--;
            if (c == '\n') s->chunk_state = 0;
        } else {
            return; /* the stream ended; ignore trailers */
        }
    }
}

/* --- WebSocket (RFC 6455) --- */

/* SHA-1 (FIPS 180-4), for Sec-WebSocket-Accept only. */
static uint32_t rol32(uint32_t v, int n) { return v << n | v >> (32 - n); }

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    size_t total = ((len + 8) / 64 + 1) * 64; /* the message, 0x80, zeros, the 64-bit length */
    uint8_t *m = calloc(total, 1);
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) m[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 | (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999u;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1u;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
            else f = b ^ c ^ d, k = 0xCA62C1D6u;
            uint32_t t = rol32(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol32(b, 30);
            b = a;
            a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
    free(m);
}

static void base64(const uint8_t *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < len ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = 0;
}

static uint64_t rng_state;
static uint32_t rng32(void) { /* xorshift64*, seeded from the run id */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* A fresh Sec-WebSocket-Key into `key`; the Accept the server must answer into s->ws_accept. */
static void ws_make_key(sub_t *s, char key[32]) {
    uint8_t raw[16], digest[20];
    for (int i = 0; i < 16; i += 4) {
        uint32_t r = rng32();
        memcpy(raw + i, &r, 4);
    }
    base64(raw, 16, key);
    char joined[96];
    int n = snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((const uint8_t *)joined, (size_t)n, digest);
    base64(digest, 20, s->ws_accept);
}

/* Sends a masked control frame (pong, close) of at most 125 bytes; best effort. */
static void ws_send_control(sub_t *s, int opcode, const uint8_t *payload, size_t len) {
    uint8_t frame[2 + 4 + 125];
    if (len > 125) len = 125;
    uint32_t mask = rng32();
    frame[0] = (uint8_t)(0x80 | opcode);
    frame[1] = (uint8_t)(0x80 | len);
    memcpy(frame + 2, &mask, 4);
    for (size_t i = 0; i < len; i++) frame[6 + i] = payload[i] ^ frame[2 + (i & 3)];
    if (write(s->fd, frame, 6 + len) != (ssize_t)(6 + len)) error_events++;
}

static void ws_frame(sub_t *s, int fin, int opcode, uint8_t *payload, size_t len, uint64_t now) {
    if (!s->body_seen) {
        s->body_seen = 1;
        body_ready++;
    }
    if (opcode >= 8) { /* control frames: never fragmented, at most 125 bytes, may come between fragments */
        if (!fin || len > 125) {
            parse_errors++;
            sse_close(s);
        } else if (opcode == 9) {
            ws_pings++;
            ws_send_control(s, 10, payload, len);
        } else if (opcode == 8) {
            ws_close_frames++;
            ws_send_control(s, 8, payload, len >= 2 ? 2 : 0); /* echo the status code */
            disconnects++;
            sse_close(s);
        } else if (opcode != 10) {
            parse_errors++;
            sse_close(s);
        }
        return;
    }
    if (opcode == 1 || opcode == 2) {
        if (s->ws_in_message) { /* a new message before the previous one's last fragment */
            parse_errors++;
            sse_close(s);
            return;
        }
        if (fin) { /* the usual case: a whole message in one frame */
            ws_messages++;
            on_payload(s, (const char *)payload, len, now);
            return;
        }
        s->ws_in_message = 1;
        s->data_len = 0;
    } else if (opcode != 0 || !s->ws_in_message) {
        parse_errors++;
        sse_close(s);
        return;
    }
    grow(&s->data, &s->data_cap, s->data_len + len + 1);
    memcpy(s->data + s->data_len, payload, len);
    s->data_len += len;
    if (fin) {
        s->ws_in_message = 0;
        ws_messages++;
        on_payload(s, s->data, s->data_len, now);
        s->data_len = 0;
    }
}

#define WS_MAX_FRAME (16u << 20)

/* Bytes after the handshake: parsed into frames (kept across reads). */
static void ws_feed(sub_t *s, const char *p, size_t len, uint64_t now) {
    grow(&s->wbuf, &s->wbuf_cap, s->wbuf_len + len);
    memcpy(s->wbuf + s->wbuf_len, p, len);
    s->wbuf_len += len;
    size_t pos = 0;
    while (!s->closed) {
        size_t avail = s->wbuf_len - pos;
        uint8_t *f = (uint8_t *)s->wbuf + pos;
        if (avail < 2) break;
        int fin = f[0] & 0x80, opcode = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7f;
        size_t hdr = 2;
        if (plen == 126) {
            if (avail < 4) break;
            plen = (uint64_t)f[2] << 8 | f[3];
            hdr = 4;
        } else if (plen == 127) {
            if (avail < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | f[2 + i];
            hdr = 10;
        }
        if (masked) hdr += 4; /* servers do not mask, but a masked frame is still readable */
        if (plen > WS_MAX_FRAME) {
            parse_errors++;
            sse_close(s);
            return;
        }
        if (avail < hdr + plen) break;
        uint8_t *payload = f + hdr;
        if (masked)
            for (uint64_t i = 0; i < plen; i++) payload[i] ^= f[hdr - 4 + (i & 3)];
        ws_frame(s, fin, opcode, payload, (size_t)plen, now);
        pos += hdr + (size_t)plen;
    }
    if (s->closed) return;
    memmove(s->wbuf, s->wbuf + pos, s->wbuf_len - pos);
    s->wbuf_len -= pos;
}

static void sse_open(sub_t *s) {
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) die("socket: %s", strerror(errno));
    if (slow_mode) /* before connect, so that the window offered matches */
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    handshaking++;
    int rc = connect(s->fd, (struct sockaddr *)&sluice_addr, sizeof sluice_addr);
    if (rc < 0 && errno != EINPROGRESS) {
        connect_errors++;
        s->paused = 1; /* not in epoll */
        sse_close(s);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static char recvbuf[1 << 18];

/* Bytes read from a client's socket: the response head, then the body (SSE) or frames (ws). */
static void sse_data(sub_t *s, const char *p, size_t len, uint64_t now) {
    if (s->state == 2) {
        if (mode == MODE_WS) ws_feed(s, p, len, now);
        else sse_body(s, p, len, now);
        return;
    }
    grow(&s->head, &s->head_cap, s->head_len + len + 1);
    memcpy(s->head + s->head_len, p, len);
    s->head_len += len;
    s->head[s->head_len] = 0;
    char *end = strstr(s->head, "\r\n\r\n");
    if (!end) return;
    size_t head = (size_t)(end - s->head) + 4;
    int want = mode == MODE_WS ? 101 : 200;
    char value[128];
    int ok = s->head_len >= 12 && atoi(s->head + 9) == want;
    if (ok && mode == MODE_WS)
        ok = head_value(s->head, head, "sec-websocket-accept", value, sizeof value) && !strcmp(value, s->ws_accept);
    if (!ok) {
        bad_status++;
        if (bad_status <= 5)
            fprintf(stderr, "fanout: subscriber %d got: %.*s\n", s->index, (int)(head > 300 ? 300 : head), s->head);
        sse_close(s);
        return;
    }
    s->chunked = mode == MODE_SSE && head_value(s->head, head, "transfer-encoding", value, sizeof value) && strcasestr(value, "chunked");
    s->state = 2;
    handshaking--;
    size_t rest = s->head_len - head;
    if (rest) sse_data(s, s->head + head, rest, now);
    free(s->head);
    s->head = NULL;
    s->head_len = s->head_cap = 0;
}

static void sse_event(sub_t *s, uint32_t events) {
    if (s->state == 0) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            connect_errors++;
            sse_close(s);
            return;
        }
        char req[768];
        int n;
        if (mode == MODE_WS) {
            char key[32];
            ws_make_key(s, key);
            n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                         "X-Sluice-Client-Identifier: sub-%08x-%d\r\n\r\n",
                         path, host, port, key, run_id, s->index);
        } else {
            n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                         "X-Sluice-Client-Identifier: sub-%08x-%d\r\n\r\n",
                         path, host, port, run_id, s->index);
        }
        if (write(s->fd, req, (size_t)n) != n) {
            connect_errors++;
            sse_close(s);
            return;
        }
        s->state = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
        return;
    }
    (void)events;
    for (int round = 0; round < 4 && !s->closed; round++) {
        ssize_t n = read(s->fd, recvbuf, sizeof recvbuf);
        if (n < 0) {
            if (errno == EAGAIN) return;
            disconnects++;
            sse_close(s);
            return;
        }
        if (n == 0) {
            disconnects++;
            sse_close(s);
            return;
        }
        sse_data(s, recvbuf, (size_t)n, now_ns());
        if ((size_t)n < sizeof recvbuf) return;
    }
}

/* Slow mode: takes the client out of epoll; slow_read then reads a little at a time. */
static void slow_pause(sub_t *s) {
    if (s->closed || s->paused) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
    s->paused = 1;
}

static void slow_resume(sub_t *s) {
    if (s->closed || !s->paused) return;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
    s->paused = 0;
}

/* Reads at most `budget` bytes from a paused client. */
static void slow_read(sub_t *s, size_t budget) {
    if (s->closed || !s->paused || s->state < 2) return;
    ssize_t n = read(s->fd, recvbuf, budget);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        disconnects++;
        sse_close(s);
        return;
    }
    sse_data(s, recvbuf, (size_t)n, now_ns());
}

/* ---------- MQTT subscriber (baseline) ---------- */
static void on_sub_connect(struct mosquitto *m, void *o, int rc, int f, const mosquitto_property *p) {
    (void)f; (void)p;
    sub_t *s = o;
    if (rc) die("subscriber %d: connect refused: %s", s->index, mosquitto_reason_string(rc));
    s->connected = 1;
    char filter[256];
    if (share) snprintf(filter, sizeof filter, "$share/sub-%08x-%d/%s", run_id, s->index, topic);
    else snprintf(filter, sizeof filter, "%s", topic);
    mosquitto_subscribe_v5(m, NULL, filter, sub_qos, 0, NULL);
}
static void on_sub_message(struct mosquitto *m, void *o, const struct mosquitto_message *msg, const mosquitto_property *p) {
    (void)m; (void)p;
    on_payload(o, msg->payload, (size_t)msg->payloadlen, now_ns());
}
static void on_sub_disconnect(struct mosquitto *m, void *o, int rc, const mosquitto_property *p) {
    (void)m; (void)rc; (void)p;
    sub_t *s = o;
    if (!s->closed) disconnects++;
    s->closed = 1;
}
static void mqtt_update(sub_t *s) {
    if (s->closed) return;
    int want = mosquitto_want_write(s->mosq) ? 1 : 0;
    if (want == s->writing) return;
    s->writing = want;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}
static void mqtt_open(sub_t *s) {
    char id[64];
    snprintf(id, sizeof id, "bench-sub-%08x-%d", run_id, s->index);
    s->mosq = mosquitto_new(id, true, s);
    if (!s->mosq) die("mosquitto_new failed");
    mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(s->mosq, on_sub_connect);
    mosquitto_message_v5_callback_set(s->mosq, on_sub_message);
    mosquitto_disconnect_v5_callback_set(s->mosq, on_sub_disconnect);
    int rc = mosquitto_connect_bind_v5(s->mosq, broker_host, broker_port, 60, NULL, NULL);
    if (rc) die("subscriber %d: connect: %s", s->index, mosquitto_strerror(rc));
    s->fd = mosquitto_socket(s->mosq);
    s->writing = -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
    mqtt_update(s);
}
static void mqtt_event(sub_t *s, uint32_t events) {
    if (s->closed) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) mosquitto_loop_read(s->mosq, 1);
    if (!s->closed && ((events & EPOLLOUT) || mosquitto_want_write(s->mosq))) mosquitto_loop_write(s->mosq, 1);
    mqtt_update(s);
}

/* ---------- AMQP consumer (baseline) ---------- */
static void amqp_sub_close(sub_t *s, const char *why) {
    if (s->closed) return;
    s->closed = 1;
    disconnects++;
    fprintf(stderr, "fanout: subscriber %d: %s\n", s->index, why);
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

/* A whole message has arrived: count it, then acknowledge it. */
static void amqp_sub_deliver(sub_t *s) {
    on_payload(s, s->body, s->body_len, now_ns());
    int rc = amqp_basic_ack(s->amqp, 1, s->amqp_tag, 0);
    if (rc != AMQP_STATUS_OK) amqp_sub_close(s, amqp_error_string2(rc));
}

/* Handles every frame that has arrived: basic.deliver, then the content header, then body frames. */
static void amqp_sub_read(sub_t *s) {
    amqp_frame_t f;
    int rc = AMQP_STATUS_TIMEOUT;
    while (!s->closed && (rc = amqp_next_frame(s->amqp, &f)) == AMQP_STATUS_OK) {
        if (f.frame_type == AMQP_FRAME_METHOD) {
            switch (f.payload.method.id) {
            case AMQP_BASIC_DELIVER_METHOD:
                s->amqp_tag = ((amqp_basic_deliver_t *)f.payload.method.decoded)->delivery_tag;
                s->body_len = 0;
                break;
            case AMQP_BASIC_CANCEL_METHOD:
            case AMQP_CHANNEL_CLOSE_METHOD:
            case AMQP_CONNECTION_CLOSE_METHOD:
                amqp_sub_close(s, amqp_close_text(&f));
                break;
            default:
                break;
            }
        } else if (f.frame_type == AMQP_FRAME_HEADER) {
            s->body_left = f.payload.properties.body_size;
            if (!s->body_left) amqp_sub_deliver(s);
        } else if (f.frame_type == AMQP_FRAME_BODY) {
            amqp_bytes_t b = f.payload.body_fragment;
            size_t room = sizeof s->body - s->body_len;
            size_t n = b.len < room ? b.len : room;
            memcpy(s->body + s->body_len, b.bytes, n);
            s->body_len += n;
            s->body_left = b.len < s->body_left ? s->body_left - b.len : 0;
            if (!s->body_left) amqp_sub_deliver(s);
        }
    }
    if (!s->closed && rc != AMQP_STATUS_TIMEOUT) amqp_sub_close(s, amqp_error_string2(rc));
    amqp_maybe_release_buffers(s->amqp);
}

static void amqp_sub_open(sub_t *s) {
    char what[64], queue[128];
    snprintf(what, sizeof what, "subscriber %d", s->index);
    s->amqp = amqp_open(&amqp_target, 131072, what);
    if (s->index == 0) amqp_declare_exchange(s->amqp, &amqp_target, what);
    amqp_basic_qos(s->amqp, 1, 0, (uint16_t)prefetch, 0);
    amqp_check(amqp_get_rpc_reply(s->amqp), what);
    snprintf(queue, sizeof queue, "bench/sub-%08x-%d", run_id, s->index);
    amqp_queue_declare(s->amqp, 1, amqp_cstring_bytes(queue), 0, 1, 0, 1, amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(s->amqp), what);
    amqp_queue_bind(s->amqp, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(amqp_target.exchange),
                    amqp_cstring_bytes(amqp_target.routing_key), amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(s->amqp), what);
    amqp_basic_consume(s->amqp, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(s->amqp), what);
    s->fd = amqp_get_sockfd(s->amqp);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
    amqp_sub_read(s); /* deliveries that came with the replies */
}

/* ---------- Kafka consumer (baseline) ---------- */
static uint64_t kafka_errors_shown;

static void kafka_sub_error(sub_t *s, const char *what) {
    error_events++;
    if (kafka_errors_shown++ < 10) fprintf(stderr, "fanout: subscriber %d: %s\n", s->index, what);
}

static void kafka_sub_read(sub_t *s) {
    char drain[256];
    while (read(s->fd, drain, sizeof drain) > 0) {}
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(s->rk, 0))) {
        if (m->err) {
            kafka_sub_error(s, rd_kafka_message_errstr(m));
        } else {
            on_payload(s, m->payload, m->len, now_ns());
            /* As Sluice does when its client has the message; the next auto-commit covers it. */
            if (s->store_offsets) rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        rd_kafka_message_destroy(m);
    }
}

static void kafka_on_error(rd_kafka_t *k, int err, const char *reason, void *opaque) {
    (void)k;
    kafka_sub_error(opaque, reason);
    (void)err;
}

static void kafka_sub_open(sub_t *s) {
    char id[64], group[64], settings[1024];
    snprintf(id, sizeof id, "bench-sub-%08x-%d", run_id, s->index);
    snprintf(group, sizeof group, "bench-sub-%08x-%d", run_id, s->index);
    snprintf(settings, sizeof settings, "group.id=%s,auto.offset.reset=latest%s%s%s", group, *sub_settings ? "," : "",
             sub_settings, kafka_assign ? ",enable.auto.commit=false" : "");
    rd_kafka_conf_t *conf = kafka_conf(kafka_brokers, id, settings);
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_error_cb(conf, kafka_on_error);
    s->rk = kafka_new(RD_KAFKA_CONSUMER, conf);
    s->store_offsets = !strcmp(kafka_conf_value(s->rk, "enable.auto.offset.store"), "false");
    rd_kafka_poll_set_consumer(s->rk);
    s->kq = rd_kafka_queue_get_consumer(s->rk);
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    s->fd = fds[0];
    s->wake_fd = fds[1];
    rd_kafka_queue_io_event_enable(s->kq, s->wake_fd, "k", 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
    rd_kafka_resp_err_t err;
    if (kafka_assign) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(kafka_partitions);
        for (int p = 0; p < kafka_partitions; p++)
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_END;
        err = rd_kafka_assign(s->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    } else {
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(s->rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
    }
    if (err) die("subscriber %d: %s: %s", s->index, kafka_assign ? "assign" : "subscribe", rd_kafka_err2str(err));
    kafka_sub_read(s);
}

/* Leaves every consumer group at once (rd_kafka_consumer_close_queue), then destroys the
 * consumers; what has not closed within `limit` seconds is destroyed without closing. */
static void kafka_close_all(double limit) {
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(limit * 1e9);
    int open = 0;
    for (int i = 0; i < opened; i++) {
        sub_t *s = &subs[i];
        epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
        rd_kafka_queue_io_event_enable(s->kq, -1, NULL, 0);
        s->closeq = rd_kafka_queue_new(s->rk);
        rd_kafka_error_t *error = rd_kafka_consumer_close_queue(s->rk, s->closeq);
        if (error) rd_kafka_error_destroy(error);
        open++;
    }
    while (open && now_ns() < deadline) {
        for (int i = 0; i < opened; i++) {
            sub_t *s = &subs[i];
            if (!s->closeq) continue;
            rd_kafka_event_t *ev;
            while ((ev = rd_kafka_queue_poll(s->closeq, 0))) {
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) rd_kafka_assign(s->rk, NULL);
                rd_kafka_event_destroy(ev);
            }
            if (rd_kafka_consumer_closed(s->rk)) {
                rd_kafka_queue_destroy(s->closeq);
                s->closeq = NULL;
                open--;
            }
        }
        if (open) usleep(10000);
    }
    for (int i = 0; i < opened; i++) {
        sub_t *s = &subs[i];
        if (s->closeq) rd_kafka_queue_destroy(s->closeq);
        rd_kafka_queue_destroy(s->kq);
        rd_kafka_destroy_flags(s->rk, s->closeq ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
        close(s->fd);
        close(s->wake_fd);
    }
    fprintf(stderr, "fanout: %d consumers closed in %.1f s (%d did not leave their group within %.0f s)\n", opened,
            (now_ns() - t0) / 1e9, open, limit);
}

/* ---------- main ---------- */
static void poll_once(int timeout_ms) {
    static struct epoll_event events[4096];
    int n = epoll_wait(epfd, events, 4096, timeout_ms);
    for (int i = 0; i < n; i++) {
        sub_t *s = events[i].data.ptr;
        if (s->closed) continue;
        if (HTTP_MODE) sse_event(s, events[i].events);
        else if (mode == MODE_MQTT) mqtt_event(s, events[i].events);
        else if (mode == MODE_KAFKA) kafka_sub_read(s);
        else amqp_sub_read(s);
    }
    if (mode == MODE_MQTT) {
        static uint64_t last_misc;
        uint64_t now = now_ns();
        if (now - last_misc > 1000000000ull) {
            for (int i = 0; i < opened; i++)
                if (!subs[i].closed) {
                    mosquitto_loop_misc(subs[i].mosq);
                    mqtt_update(&subs[i]);
                }
            last_misc = now;
        }
    }
}

/* Creates the subscribers. SSE and WebSocket clients connect at most connect_batch at a time and
 * this returns once each has its response headers (or failed); those not opened by the deadline
 * are left closed. */
static void open_subscribers(uint64_t deadline) {
    for (int i = 0; i < subscribers; i++) {
        sub_t *s = &subs[i];
        if (HTTP_MODE) {
            while (handshaking >= connect_batch && now_ns() < deadline) poll_once(10);
            if (now_ns() >= deadline) break;
            sse_open(s);
        } else if (mode == MODE_MQTT) {
            mqtt_open(s);
        } else if (mode == MODE_KAFKA) {
            kafka_sub_open(s);
        } else {
            amqp_sub_open(s);
        }
        opened = i + 1;
        if (i % 64 == 63) poll_once(0); /* keep up with connects and CONNACKs */
    }
    for (int i = opened; i < subscribers; i++) subs[i].closed = 1;
    if (opened < subscribers)
        fprintf(stderr, "fanout: only %d of %d subscribers connected within %.0f s\n", opened, subscribers, ready_timeout);
    while (HTTP_MODE && handshaking > 0 && now_ns() < deadline) poll_once(10);
}

/* Clients open (not closed) and how many of them have had a first body line. */
static int open_clients(int *with_body) {
    int open = 0, body = 0;
    for (int i = 0; i < opened; i++)
        if (!subs[i].closed) {
            open++;
            if (subs[i].body_seen) body++;
        }
    if (with_body) *with_body = body;
    return open;
}

static void print_errors(void) {
    printf("goaways=%llu\nerror_events=%llu\ndisconnects=%llu\nbad_status=%llu\nconnect_errors=%llu\nparse_errors=%llu\n",
           (unsigned long long)goaways, (unsigned long long)error_events, (unsigned long long)disconnects,
           (unsigned long long)bad_status, (unsigned long long)connect_errors, (unsigned long long)parse_errors);
    if (mode == MODE_WS)
        printf("ws_messages=%llu\nws_pings=%llu\nws_close_frames=%llu\n", (unsigned long long)ws_messages,
               (unsigned long long)ws_pings, (unsigned long long)ws_close_frames);
}

static void close_subscribers(void) {
    if (mode == MODE_KAFKA) {
        kafka_close_all(20);
        return;
    }
    for (int i = 0; i < opened; i++) {
        if (HTTP_MODE) sse_close(&subs[i]);
        else if (subs[i].mosq) {
            mosquitto_disconnect(subs[i].mosq);
            mosquitto_destroy(subs[i].mosq);
        } else if (subs[i].amqp) {
            if (!subs[i].closed) amqp_connection_close(subs[i].amqp, AMQP_REPLY_SUCCESS);
            amqp_destroy_connection(subs[i].amqp);
        }
    }
}

/* --idle 1: the server's memory before N idle SSE clients connect and once they all are. */
static int run_idle(watch_t *watch) {
    long before[MAX_WATCH], after[MAX_WATCH];
    for (int i = 0; i < mem.count; i++) before[i] = mem_kb(&mem, i);
    watch_begin(watch);
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(ready_timeout * 1e9);
    open_subscribers(deadline);
    int with_body = 0;
    while (open_clients(&with_body) > with_body && now_ns() < deadline) poll_once(10);
    double connect_s = (now_ns() - t0) / 1e9;
    uint64_t until = now_ns() + (uint64_t)(settle * 1e9);
    while (now_ns() < until) poll_once(10);
    int open = open_clients(&with_body);
    for (int i = 0; i < mem.count; i++) after[i] = mem_kb(&mem, i);
    printf("mode=%s\nidle=1\nsubscribers=%d\nopened=%d\nidle_ready=%d\nconnect_s=%.2f\nsettle_s=%.1f\n",
           mode == MODE_WS ? "ws" : "sse", subscribers, opened, with_body, connect_s, settle);
    if (open > with_body) fprintf(stderr, "fanout: %d clients had no body line within %.0f s\n", open - with_body, ready_timeout);
    for (int i = 0; i < mem.count; i++) {
        printf("mem_%s_before_kb=%ld\nmem_%s_after_kb=%ld\n", mem.names[i], before[i], mem.names[i], after[i]);
        /* Only when (nearly) every client is there and idle: the memory of streams the server
         * ended (a goaway) or of clients that never connected says nothing per connection. */
        if (before[i] >= 0 && after[i] >= 0 && with_body > 0 && with_body >= 0.9 * subscribers)
            printf("mem_%s_per_conn_bytes=%.0f\n", mem.names[i], (double)(after[i] - before[i]) * 1024.0 / with_body);
        else
            printf("mem_%s_per_conn_bytes=-\n", mem.names[i]);
    }
    printf("heartbeats=%llu\n", (unsigned long long)heartbeats);
    print_errors();
    watch_end(watch);
    fflush(stdout);
    close_subscribers();
    return 0;
}

int main(int argc, char **argv) {
    watch_t watch = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--mode")) mode = !strcmp(v, "sse") ? MODE_SSE : !strcmp(v, "ws") ? MODE_WS : !strcmp(v, "mqtt") ? MODE_MQTT
                                         : !strcmp(v, "amqp") ? MODE_AMQP : !strcmp(v, "kafka") ? MODE_KAFKA : (die("bad --mode %s", v), 0);
        else if (!strcmp(a, "--pub")) pub = !strcmp(v, "amqp") ? PUB_AMQP : !strcmp(v, "mqtt") ? PUB_MQTT : !strcmp(v, "kafka") ? PUB_KAFKA
                                          : !strcmp(v, "http") ? PUB_HTTP : (die("bad --pub %s", v), 0);
        else if (!strcmp(a, "--pub-url")) pub_url = v;
        else if (!strcmp(a, "--brokers")) kafka_brokers = v;
        else if (!strcmp(a, "--pub-settings")) pub_settings = v;
        else if (!strcmp(a, "--sub-settings")) sub_settings = v;
        else if (!strcmp(a, "--kafka-assign")) kafka_assign = atoi(v);
        else if (!strcmp(a, "--prefetch")) prefetch = atoi(v);
        else if (amqp_target_option(&amqp_target, a, v)) ;
        else if (!strcmp(a, "--subscribers")) subscribers = atoi(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--path")) path = v;
        else if (!strcmp(a, "--connect-batch")) connect_batch = atoi(v);
        else if (!strcmp(a, "--idle")) idle_mode = atoi(v);
        else if (!strcmp(a, "--settle")) settle = atof(v);
        else if (!strcmp(a, "--slow")) slow_mode = atoi(v);
        else if (!strcmp(a, "--slow-bps")) slow_bps = atoi(v);
        else if (!strcmp(a, "--rcvbuf")) rcvbuf = atoi(v);
        else if (!strcmp(a, "--mem")) mem_add(&mem, v);
        else if (!strcmp(a, "--broker-host")) broker_host = v;
        else if (!strcmp(a, "--broker-port")) broker_port = atoi(v);
        else if (!strcmp(a, "--topic")) topic = v;
        else if (!strcmp(a, "--pub-qos")) pub_qos = atoi(v);
        else if (!strcmp(a, "--sub-qos")) sub_qos = atoi(v);
        else if (!strcmp(a, "--share")) share = atoi(v);
        else if (!strcmp(a, "--ready-timeout")) ready_timeout = atof(v);
        else if (!strcmp(a, "--drain")) drain = atof(v);
        else if (!strcmp(a, "--watch")) watch_add(&watch, v);
        else die("unknown option %s", a);
        i++;
    }
    if (pub < 0) pub = mode == MODE_AMQP ? PUB_AMQP : mode == MODE_KAFKA ? PUB_KAFKA : PUB_MQTT;
    if ((!broker_port && !idle_mode && pub != PUB_HTTP) || (HTTP_MODE && !port) || subscribers < 1 || rate <= 0 || size < 48 ||
        connect_batch < 1)
        die("usage: fanout --mode sse|ws|mqtt|amqp|kafka --subscribers N --rate R --duration S --broker-port P [--port P] (size >= 48)");
    if (mode == MODE_KAFKA && pub != PUB_KAFKA) die("--mode kafka needs --pub kafka");
    if (pub == PUB_HTTP && !pub_url) die("--pub http needs --pub-url http://host:port/path");
    if ((idle_mode || slow_mode) && mode != MODE_SSE) die("--idle and --slow need --mode sse");
    if (pub == PUB_HTTP) parse_pub_url(pub_url);
    if (ready_timeout < 0) ready_timeout = 60 + 0.01 * subscribers;
    static char brokers_buf[300];
    if (!kafka_brokers) {
        snprintf(brokers_buf, sizeof brokers_buf, "%s:%d", broker_host, broker_port);
        kafka_brokers = brokers_buf;
    }
    if (!idle_mode && (pub == PUB_KAFKA || mode == MODE_KAFKA)) kafka_check_version();
    if (mode == MODE_KAFKA && kafka_assign) {
        char why[256];
        kafka_partitions = kafka_topic_partitions(kafka_brokers, topic, 10, why, sizeof why);
        if (!kafka_partitions) die("no metadata for %s from %s: %s", topic, kafka_brokers, why);
    }
    amqp_target.host = broker_host;
    amqp_target.port = broker_port;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    total_messages = (uint64_t)(rate * duration + 0.5);
    first_us = calloc((size_t)total_messages + 1, sizeof *first_us);
    last_us = calloc((size_t)total_messages + 1, sizeof *last_us);
    if (!first_us || !last_us) die("out of memory");
    run_id = (unsigned)(now_ns() ^ ((uint64_t)getpid() << 16));
    rng_state = ((uint64_t)run_id << 32 | 0x9E3779B9u) ^ now_ns();
    if (!rng_state) rng_state = 1;
    printf("run_id=%08x\n", run_id); /* first, so that the SSE clients' queues can be found even if this fails */
    fflush(stdout);
    mosquitto_lib_init();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    subs = calloc((size_t)subscribers, sizeof(sub_t));
    for (int i = 0; i < subscribers; i++) {
        subs[i].index = i;
        subs[i].last_seq = -1;
    }
    sluice_addr.sin_family = AF_INET;
    sluice_addr.sin_port = htons((uint16_t)port);
    if (HTTP_MODE && inet_pton(AF_INET, host, &sluice_addr.sin_addr) != 1) die("bad host %s", host);
    if (idle_mode) return run_idle(&watch);

    uint64_t t0 = now_ns();
    uint64_t ready_deadline = t0 + (uint64_t)(ready_timeout * 1e9);
    open_subscribers(ready_deadline);
    pthread_t thread;
    pthread_create(&thread, NULL, publisher, NULL);

    /* Probe until every subscription delivers (or every client still waiting was closed). */
    uint64_t next_check = now_ns() + 100000000ull;
    while (ready_count < subscribers && now_ns() < ready_deadline) {
        poll_once(20);
        if (HTTP_MODE && now_ns() >= next_check) {
            int waiting = 0;
            for (int i = 0; i < opened && !waiting; i++) waiting = !subs[i].closed && !subs[i].ready;
            if (!waiting) break;
            next_check = now_ns() + 100000000ull;
        }
    }
    double ready_s = (now_ns() - t0) / 1e9;
    if (ready_count < subscribers)
        fprintf(stderr, "fanout: only %d of %d subscribers received a probe within %.0f s\n", ready_count, subscribers, ready_timeout);
    /* Let probes in flight arrive, then measure. */
    uint64_t settle_until = now_ns() + 300000000ull;
    while (now_ns() < settle_until) poll_once(10);

    /* Slow mode: the server's memory every second while the publisher runs. */
    long mem_start[MAX_WATCH], mem_max[MAX_WATCH], mem_end[MAX_WATCH];
    int slow_paused_now = 0, mem_ended = 0, slow_count = 0;
    uint64_t next_sample = 0, next_slow = 0;
    size_t slow_budget = slow_bps / 10 > 0 ? (size_t)(slow_bps / 10) : 1;

    watch_begin(&watch);
    uint64_t run_start = now_ns();
    if (slow_mode) {
        for (int i = 0; i < mem.count; i++) mem_start[i] = mem_max[i] = mem_end[i] = mem_kb(&mem, i);
        for (int i = 0; i < opened; i++)
            if (!subs[i].closed && subs[i].state == 2) {
                slow_pause(&subs[i]);
                slow_count++;
            }
        slow_paused_now = 1;
        next_sample = run_start + 1000000000ull;
        next_slow = run_start + 100000000ull;
    }
    atomic_store(&phase, PH_RUN);
    uint64_t expected = 0;
    /* A publisher that cannot finish (a broker blocking it) must not hang the run. */
    uint64_t give_up = run_start + (uint64_t)((duration + drain + 30) * 1e9);
    int publisher_stuck = 0;
    for (;;) {
        poll_once(10);
        uint64_t now = now_ns();
        if (now > give_up && atomic_load(&phase) != PH_DONE) {
            fprintf(stderr, "fanout: the publisher had sent %llu of %llu messages after %.0f s; giving up\n",
                    (unsigned long long)atomic_load(&offered), (unsigned long long)total_messages, duration + drain + 30);
            publisher_stuck = 1;
            atomic_store(&pub_done_ns, now);
            expected = atomic_load(&offered) * (uint64_t)subscribers;
            break;
        }
        if (slow_paused_now && now >= next_slow) {
            for (int i = 0; i < opened; i++) slow_read(&subs[i], slow_budget);
            next_slow += 100000000ull;
        }
        if (slow_mode && !mem_ended && now >= next_sample) {
            for (int i = 0; i < mem.count; i++) {
                long kb = mem_kb(&mem, i);
                if (kb > mem_max[i]) mem_max[i] = kb;
                mem_end[i] = kb;
            }
            next_sample += 1000000000ull;
        }
        if (atomic_load(&phase) == PH_DONE) {
            if (slow_mode && !mem_ended) {
                for (int i = 0; i < mem.count; i++) {
                    mem_end[i] = mem_kb(&mem, i);
                    if (mem_end[i] > mem_max[i]) mem_max[i] = mem_end[i];
                }
                mem_ended = 1;
                /* Read at full speed now, so that streams the server closed are seen. */
                for (int i = 0; i < opened; i++) slow_resume(&subs[i]);
                slow_paused_now = 0;
            }
            expected = atomic_load(&offered) * (uint64_t)subscribers;
            uint64_t done = atomic_load(&pub_done_ns);
            if (delivered >= expected || now_ns() > done + (uint64_t)(drain * 1e9)) break;
        }
    }
    uint64_t end = now_ns();
    uint64_t done = atomic_load(&pub_done_ns);
    printf("mode=%s\npub=%s\nsubscribers=%d\nopened=%d\nready=%d\nready_s=%.2f\nrate=%.1f\nsize=%d\nduration_s=%.1f\n",
           mode == MODE_SSE ? "sse" : mode == MODE_WS ? "ws" : mode == MODE_MQTT ? "mqtt" : mode == MODE_KAFKA ? "kafka" : "amqp",
           pub == PUB_AMQP ? "amqp" : pub == PUB_KAFKA ? "kafka" : pub == PUB_HTTP ? "http" : "mqtt", subscribers, opened,
           ready_count, ready_s, rate, size, duration);
    printf("pub_qos=%d\nsub_qos=%d\n", pub == PUB_MQTT ? pub_qos : -1, mode == MODE_MQTT ? sub_qos : -1);
    if (pub == PUB_KAFKA || mode == MODE_KAFKA) printf("librdkafka=%s\n", rd_kafka_version_str());
    printf("offered=%llu\nexpected=%llu\ndelivered=%llu\n", (unsigned long long)atomic_load(&offered),
           (unsigned long long)expected, (unsigned long long)delivered);
    printf("delivery_ratio=%.6f\n", expected ? (double)delivered / (double)expected : 0.0);
    uint64_t last = last_delivery_ns > done ? last_delivery_ns : done;
    printf("deliveries_per_s=%.1f\n", delivered / ((last - run_start) / 1e9));
    printf("tail_s=%.3f\n", last_delivery_ns > done ? (last_delivery_ns - done) / 1e9 : 0.0);
    printf("elapsed_s=%.3f\n", (end - run_start) / 1e9);
    uint64_t min_d = UINT64_MAX, max_d = 0;
    for (int i = 0; i < subscribers; i++) {
        if (subs[i].delivered < min_d) min_d = subs[i].delivered;
        if (subs[i].delivered > max_d) max_d = subs[i].delivered;
    }
    printf("per_subscriber_min=%llu\nper_subscriber_max=%llu\n", (unsigned long long)min_d, (unsigned long long)max_d);
    printf("duplicates=%llu\nreordered=%llu\n", (unsigned long long)duplicates, (unsigned long long)reordered);
    printf("stale=%llu\nprobes=%llu\nheartbeats=%llu\n",
           (unsigned long long)stale, (unsigned long long)probes_seen, (unsigned long long)heartbeats);
    print_errors();
    printf("pub_acks=%llu\npub_errors=%llu\npub_max_lag_ms=%.3f\n", (unsigned long long)atomic_load(&pub_acks),
           (unsigned long long)atomic_load(&pub_errors), atomic_load(&max_lag_us) / 1000.0);
    if (pub == PUB_HTTP) printf("pub_reconnects=%llu\n", (unsigned long long)pub_reconnects);
    printf("pub_stuck=%d\n", publisher_stuck);
    if (slow_mode) {
        printf("slow=1\nslow_subscribers=%d\nslow_bps=%d\nrcvbuf=%d\n", slow_count, slow_bps, rcvbuf);
        for (int i = 0; i < mem.count; i++) {
            const char *n = mem.names[i];
            printf("mem_%s_start_kb=%ld\nmem_%s_max_kb=%ld\nmem_%s_end_kb=%ld\n", n, mem_start[i], n, mem_max[i], n, mem_end[i]);
            if (mem_start[i] >= 0 && mem_end[i] >= 0 && mem_max[i] >= 0)
                printf("mem_%s_growth_mb=%.1f\nmem_%s_max_growth_mb=%.1f\n", n, (mem_end[i] - mem_start[i]) / 1024.0, n,
                       (mem_max[i] - mem_start[i]) / 1024.0);
        }
    }
    hist_print("latency", &hist);
    print_per_message();
    watch_end(&watch);
    fflush(stdout);

    atomic_store(&stop_publisher, 1);
    if (publisher_stuck) { /* its thread may be blocked in a write: leave it */
        close_subscribers();
        _exit(0);
    }
    pthread_join(thread, NULL);
    close_subscribers();
    mosquitto_lib_cleanup();
    return 0;
}
