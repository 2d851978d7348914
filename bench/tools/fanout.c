/* fanout: N subscribers of one MQTT topic, AMQP exchange or Kafka topic, fed by one publisher at a
 * fixed rate.
 *
 *   --mode sse   N Server-Sent-Events clients of a Sluice API (GET with Accept: text/event-stream,
 *                each with its own X-Sluice-Client-Identifier), raw sockets on one epoll thread.
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
 * key; the default in amqp mode) or `--pub kafka` (a librdkafka producer to the topic --topic at
 * --brokers, acks=all, linger.ms=0, then --pub-settings; the default in kafka mode). Kafka needs
 * a librdkafka >= 2.2 at run time (see kafka.h). It first sends probe messages every 100 ms until every
 * subscriber has received one (so every subscription is live), then `rate` messages per second
 * for `duration` seconds, each carrying its send time
 * (CLOCK_MONOTONIC, same process). Subscribers count deliveries and publish-to-receive latency.
 * The run ends when every subscriber has every message or `drain` seconds after the last publish.
 * Output: key=value lines.
 *
 *   fanout --mode sse|mqtt|amqp|kafka --subscribers N --rate R --duration S [--size BYTES]
 *          [--host H --port P --path /x]            (Sluice, sse mode)
 *          [--broker-host H] --broker-port P [--topic T] [--pub-qos 1] [--sub-qos 1] [--share 1]
 *          [--pub mqtt|amqp|kafka] [--user U --password W --vhost V] [--exchange X --exchange-type T]
 *          [--routing-key K] [--prefetch 100]  (AMQP)
 *          [--brokers H:P] [--pub-settings k=v,..] [--sub-settings k=v,..] [--kafka-assign 1]
 *          (Kafka; --brokers defaults to broker-host:broker-port; --kafka-assign 1: each consumer
 *          assign()s every partition at its end instead of joining a group, and commits nothing)
 *          [--ready-timeout S] [--drain S] [--watch name=pid]...
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
enum { MODE_SSE, MODE_MQTT, MODE_AMQP, MODE_KAFKA };
static int mode = MODE_SSE;
enum { PUB_MQTT, PUB_AMQP, PUB_KAFKA };
static int pub = -1; /* the publisher's protocol (default: that of the mode; MQTT for sse) */
static const char *kafka_brokers, *pub_settings = "", *sub_settings = "";
static int kafka_assign;    /* --kafka-assign 1: assign() every partition at its end, no group */
static int kafka_partitions; /* the topic's partitions (from the publisher's metadata request) */
static amqp_target_t amqp_target = AMQP_TARGET_DEFAULTS;
static int prefetch = 100;
static int subscribers = 100;
static double rate = 1000, duration = 10, ready_timeout = 60, drain = 5;
static int size = 100;
static const char *host = "127.0.0.1", *path = "/";
static int port = 0;
static const char *broker_host = "127.0.0.1", *topic = "bench/t";
static int broker_port = 0, pub_qos = 1, sub_qos = 1, share = 1;
static unsigned run_id;

/* ---------- results ---------- */
static hist_t hist;
static uint64_t delivered, duplicates, reordered, stale, probes_seen, heartbeats, goaways, error_events;
static uint64_t total_messages; /* rate x duration: the sequence numbers of the run are below */
static uint64_t disconnects, bad_status, connect_errors, parse_errors;
static int ready_count;
static uint64_t last_delivery_ns;

typedef struct {
    int index;
    int ready;
    int closed;
    long long last_seq;
    uint8_t *seen; /* a bit per sequence number: duplicates are told from reordered messages */
    uint64_t delivered;
    /* sse */
    int fd;
    int state; /* 0 connecting, 1 headers, 2 body */
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
} pub_conn_t;

static amqp_basic_properties_t amqp_props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 1};

static void pub_connect(pub_conn_t *p) {
    p->last_misc = now_ns();
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
static void on_payload(sub_t *s, const char *data, size_t len, uint64_t now) {
    if (len < 12) return;
    char buf[96];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, data, n);
    buf[n] = 0;
    unsigned run = 0;
    unsigned long long seq = 0, t = 0;
    if (buf[0] == 'P') {
        if (sscanf(buf, "P %x %llu", &run, &seq) == 2 && run == run_id) {
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
    if (buf[0] != 'M' || sscanf(buf, "M %x %llu %llu", &run, &seq, &t) != 3 || run != run_id) {
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
    hist_add(&hist, now > t ? (now - t) / 1000 : 0);
}

/* ---------- SSE client ---------- */
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
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
}

static void sse_line(sub_t *s, char *line, size_t len, uint64_t now) {
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

static void sse_open(sub_t *s) {
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) die("socket: %s", strerror(errno));
    int rc = connect(s->fd, (struct sockaddr *)&sluice_addr, sizeof sluice_addr);
    if (rc < 0 && errno != EINPROGRESS) die("connect: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static char recvbuf[1 << 18];

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
        char req[512];
        int n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                         "X-Sluice-Client-Identifier: sub-%08x-%d\r\n\r\n",
                         path, host, port, run_id, s->index);
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
        uint64_t now = now_ns();
        const char *p = recvbuf;
        size_t len = (size_t)n;
        if (s->state == 1) {
            grow(&s->head, &s->head_cap, s->head_len + len + 1);
            memcpy(s->head + s->head_len, p, len);
            s->head_len += len;
            s->head[s->head_len] = 0;
            char *end = strstr(s->head, "\r\n\r\n");
            if (!end) continue;
            size_t head = (size_t)(end - s->head) + 4;
            if (s->head_len < 12 || atoi(s->head + 9) != 200) {
                bad_status++;
                fprintf(stderr, "fanout: subscriber %d got: %.*s\n", s->index, (int)(head > 200 ? 200 : head), s->head);
                sse_close(s);
                return;
            }
            end[2] = 0;
            for (char *q = s->head; *q; q++) *q = (char)((*q >= 'A' && *q <= 'Z') ? *q + 32 : *q);
            s->chunked = strstr(s->head, "transfer-encoding: chunked") != NULL;
            s->state = 2;
            size_t rest = s->head_len - head;
            if (rest) sse_body(s, s->head + head, rest, now);
            continue;
        }
        sse_body(s, p, len, now);
        if ((size_t)n < sizeof recvbuf) return;
    }
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
        if (mode == MODE_SSE) sse_event(s, events[i].events);
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

int main(int argc, char **argv) {
    watch_t watch = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--mode")) mode = !strcmp(v, "sse") ? MODE_SSE : !strcmp(v, "mqtt") ? MODE_MQTT : !strcmp(v, "amqp") ? MODE_AMQP
                                         : !strcmp(v, "kafka") ? MODE_KAFKA : (die("bad --mode %s", v), 0);
        else if (!strcmp(a, "--pub")) pub = !strcmp(v, "amqp") ? PUB_AMQP : !strcmp(v, "mqtt") ? PUB_MQTT : !strcmp(v, "kafka") ? PUB_KAFKA : (die("bad --pub %s", v), 0);
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
    if (!broker_port || (mode == MODE_SSE && !port) || subscribers < 1 || rate <= 0 || size < 48)
        die("usage: fanout --mode sse|mqtt|amqp|kafka --subscribers N --rate R --duration S --broker-port P [--port P] (size >= 48)");
    if (pub < 0) pub = mode == MODE_AMQP ? PUB_AMQP : mode == MODE_KAFKA ? PUB_KAFKA : PUB_MQTT;
    if (mode == MODE_KAFKA && pub != PUB_KAFKA) die("--mode kafka needs --pub kafka");
    static char brokers_buf[300];
    if (!kafka_brokers) {
        snprintf(brokers_buf, sizeof brokers_buf, "%s:%d", broker_host, broker_port);
        kafka_brokers = brokers_buf;
    }
    if (pub == PUB_KAFKA || mode == MODE_KAFKA) kafka_check_version();
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
    run_id = (unsigned)(now_ns() ^ ((uint64_t)getpid() << 16));
    printf("run_id=%08x\n", run_id); /* first, so that the SSE clients' queues can be found even if this fails */
    fflush(stdout);
    mosquitto_lib_init();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    subs = calloc((size_t)subscribers, sizeof(sub_t));
    sluice_addr.sin_family = AF_INET;
    sluice_addr.sin_port = htons((uint16_t)port);
    if (mode == MODE_SSE && inet_pton(AF_INET, host, &sluice_addr.sin_addr) != 1) die("bad host %s", host);

    uint64_t t0 = now_ns();
    for (int i = 0; i < subscribers; i++) {
        sub_t *s = &subs[i];
        s->index = i;
        s->last_seq = -1;
        if (mode == MODE_SSE) sse_open(s);
        else if (mode == MODE_MQTT) mqtt_open(s);
        else if (mode == MODE_KAFKA) kafka_sub_open(s);
        else amqp_sub_open(s);
        opened = i + 1;
        if (i % 64 == 63) poll_once(0); /* keep up with connects and CONNACKs */
    }
    pthread_t thread;
    pthread_create(&thread, NULL, publisher, NULL);

    /* Probe until every subscription delivers. */
    uint64_t ready_deadline = t0 + (uint64_t)(ready_timeout * 1e9);
    while (ready_count < subscribers && now_ns() < ready_deadline) poll_once(20);
    double ready_s = (now_ns() - t0) / 1e9;
    if (ready_count < subscribers)
        fprintf(stderr, "fanout: only %d of %d subscribers received a probe within %.0f s\n", ready_count, subscribers, ready_timeout);
    /* Let probes in flight arrive, then measure. */
    uint64_t settle = now_ns() + 300000000ull;
    while (now_ns() < settle) poll_once(10);

    watch_begin(&watch);
    uint64_t run_start = now_ns();
    atomic_store(&phase, PH_RUN);
    uint64_t expected = 0;
    for (;;) {
        poll_once(10);
        if (atomic_load(&phase) == PH_DONE) {
            expected = atomic_load(&offered) * (uint64_t)subscribers;
            uint64_t done = atomic_load(&pub_done_ns);
            if (delivered >= expected || now_ns() > done + (uint64_t)(drain * 1e9)) break;
        }
    }
    uint64_t end = now_ns();
    uint64_t done = atomic_load(&pub_done_ns);
    printf("mode=%s\npub=%s\nsubscribers=%d\nready=%d\nready_s=%.2f\nrate=%.1f\nsize=%d\nduration_s=%.1f\n",
           mode == MODE_SSE ? "sse" : mode == MODE_MQTT ? "mqtt" : mode == MODE_KAFKA ? "kafka" : "amqp",
           pub == PUB_AMQP ? "amqp" : pub == PUB_KAFKA ? "kafka" : "mqtt", subscribers,
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
    printf("goaways=%llu\nerror_events=%llu\ndisconnects=%llu\nbad_status=%llu\nconnect_errors=%llu\nparse_errors=%llu\n",
           (unsigned long long)goaways, (unsigned long long)error_events, (unsigned long long)disconnects,
           (unsigned long long)bad_status, (unsigned long long)connect_errors, (unsigned long long)parse_errors);
    printf("pub_acks=%llu\npub_errors=%llu\npub_max_lag_ms=%.3f\n", (unsigned long long)atomic_load(&pub_acks),
           (unsigned long long)atomic_load(&pub_errors), atomic_load(&max_lag_us) / 1000.0);
    hist_print("latency", &hist);
    watch_end(&watch);
    fflush(stdout);

    atomic_store(&stop_publisher, 1);
    pthread_join(thread, NULL);
    if (mode == MODE_KAFKA) kafka_close_all(20);
    for (int i = 0; mode != MODE_KAFKA && i < subscribers; i++) {
        if (mode == MODE_SSE) sse_close(&subs[i]);
        else if (subs[i].mosq) {
            mosquitto_disconnect(subs[i].mosq);
            mosquitto_destroy(subs[i].mosq);
        } else if (subs[i].amqp) {
            if (!subs[i].closed) amqp_connection_close(subs[i].amqp, AMQP_REPLY_SUCCESS);
            amqp_destroy_connection(subs[i].amqp);
        }
    }
    mosquitto_lib_cleanup();
    return 0;
}
