/* kafkapub: the native baseline of the HTTP POST workload against Kafka. One librdkafka producer
 * (as Sluice has one per endpoint) with the producer settings Sluice uses (acks=all,
 * enable.idempotence=false, max.in.flight.requests.per.connection=5, linger.ms=1,
 * compression.type=none, message.timeout.ms=30000; --settings replaces them) and C
 * "connections": each keeps one message in flight and produces the next when the delivery report
 * of the previous has come back (closed loop, like an HTTP client waiting for its 202). The
 * delivery reports are served on this thread (rd_kafka_poll); the next message is produced from
 * the report's callback. Output: key=value lines.
 *
 *   kafkapub --brokers H:P [--topic T] [--connections C] [--duration S] [--warmup S]
 *            [--size BYTES] [--settings k=v,k=v] [--watch name=pid]...
 *   kafkapub --brokers H:P [--topic T] --metadata [--timeout S]
 *            readiness: a metadata request for the topic (which Tansu creates if missing);
 *            prints the partitions and exits 0 once the broker has answered.
 */
#include "common.h"
#include "kafka.h"

#include <signal.h>

typedef struct {
    int index;
    uint64_t sent_at;
} slot_t;

/* Those of Sluice's KafkaProperties.producer (Sources/SluiceEndpoints/Kafka/KafkaProperties.swift). */
#define SLUICE_PRODUCER_SETTINGS \
    "acks=all,enable.idempotence=false,max.in.flight.requests.per.connection=5,linger.ms=1,compression.type=none,message.timeout.ms=30000"

static const char *brokers = "127.0.0.1:19290";
static const char *topic = "bench";
static const char *settings = SLUICE_PRODUCER_SETTINGS;
static int connections = 64;
static double duration = 10, warmup = 2, timeout = 10;
static int size = 100;
static char *payload;
static rd_kafka_t *rk;
static uint64_t measure_from, measure_until;
static hist_t hist;
static uint64_t acked, failed, produce_errors, client_errors;
static char first_failure[256];

static void produce_next(slot_t *s) {
    s->sent_at = now_ns();
    rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, (size_t)size),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
    if (err) {
        produce_errors++;
        if (!first_failure[0]) snprintf(first_failure, sizeof first_failure, "produce: %s", rd_kafka_err2str(err));
    }
}

static void on_delivery(rd_kafka_t *k, const rd_kafka_message_t *m, void *opaque) {
    (void)k; (void)opaque;
    slot_t *s = m->_private;
    uint64_t now = now_ns();
    if (s->sent_at >= measure_from && now <= measure_until) {
        hist_add(&hist, (now - s->sent_at) / 1000);
        if (m->err) failed++;
        else acked++;
    }
    if (m->err && !first_failure[0]) snprintf(first_failure, sizeof first_failure, "delivery: %s", rd_kafka_err2str(m->err));
    if (now < measure_until) produce_next(s);
}

static void on_error(rd_kafka_t *k, int err, const char *reason, void *opaque) {
    (void)k; (void)opaque;
    client_errors++;
    if (client_errors <= 5) fprintf(stderr, "kafkapub: %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Asks for the topic's metadata until the broker answers (or the timeout); prints it. */
static int metadata(void) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    uint64_t deadline = now_ns() + (uint64_t)(timeout * 1e9);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (now_ns() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        err = rd_kafka_metadata(rk, 0, rkt, &md, 1000);
        if (!err && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            printf("librdkafka=%s\nbrokers=%d\nbroker=%s:%d\ntopic=%s\npartitions=%d\n", rd_kafka_version_str(), md->broker_cnt,
                   md->broker_cnt ? md->brokers[0].host : "?", md->broker_cnt ? md->brokers[0].port : 0, topic,
                   md->topics[0].partition_cnt);
            rd_kafka_metadata_destroy(md);
            rd_kafka_topic_destroy(rkt);
            return 0;
        }
        if (!err) err = md->topic_cnt == 1 && md->topics[0].err ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (md) rd_kafka_metadata_destroy(md);
        usleep(100000);
    }
    fprintf(stderr, "kafkapub: no metadata for %s from %s within %.0f s: %s\n", topic, brokers, timeout, rd_kafka_err2str(err));
    rd_kafka_topic_destroy(rkt);
    return 1;
}

int main(int argc, char **argv) {
    watch_t watch = {0};
    int metadata_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--metadata")) {
            metadata_only = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--brokers")) brokers = v;
        else if (!strcmp(a, "--topic")) topic = v;
        else if (!strcmp(a, "--settings")) settings = v;
        else if (!strcmp(a, "--connections")) connections = atoi(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--timeout")) timeout = atof(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--watch")) watch_add(&watch, v);
        else die("unknown option %s", a);
        i++;
    }
    if (connections < 1 || size < 1) die("usage: kafkapub --brokers H:P [--connections C] ...");
    signal(SIGPIPE, SIG_IGN);
    kafka_check_version();

    rd_kafka_conf_t *conf = kafka_conf(brokers, metadata_only ? "bench-metadata" : "bench-kafkapub", metadata_only ? NULL : settings);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rk = kafka_new(RD_KAFKA_PRODUCER, conf);
    if (metadata_only) {
        int rc = metadata();
        rd_kafka_destroy(rk);
        return rc;
    }
    payload = malloc((size_t)size + 1);
    fill_payload(payload, (size_t)size, "bench-publish ");
    slot_t *slots = calloc((size_t)connections, sizeof(slot_t));

    /* The measured window starts after the warm-up (connection, producer id, first batches). */
    measure_from = now_ns() + (uint64_t)(warmup * 1e9);
    measure_until = measure_from + (uint64_t)(duration * 1e9);
    for (int i = 0; i < connections; i++) {
        slots[i].index = i;
        produce_next(&slots[i]);
    }
    int measuring = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!measuring && now >= measure_from) {
            watch_begin(&watch);
            measuring = 1;
        }
        if (now >= measure_until) break;
        uint64_t next = measuring ? measure_until : measure_from;
        int wait_ms = (int)((next - now) / 1000000) + 1;
        rd_kafka_poll(rk, wait_ms < 50 ? wait_ms : 50);
    }
    printf("connections=%d\nsize=%d\nduration_s=%.1f\nwarmup_s=%.1f\n", connections, size, duration, warmup);
    printf("librdkafka=%s\n", rd_kafka_version_str());
    static const char *keys[] = {"acks", "enable.idempotence", "linger.ms", "batch.num.messages", "batch.size",
                                 "compression.type", "max.in.flight.requests.per.connection", "sticky.partitioning.linger.ms"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "setting_%s", keys[k]);
        for (char *p = name; *p; p++)
            if (*p == '.') *p = '_';
        printf("%s=%s\n", name, kafka_conf_value(rk, keys[k]));
    }
    printf("responses=%llu\n", (unsigned long long)hist.total);
    printf("rate=%.1f\n", hist.total / duration);
    printf("ok=%llu\nnon_expected=%llu\n", (unsigned long long)acked, (unsigned long long)failed);
    printf("publish_errors=%llu\nclient_errors=%llu\ndisconnects=0\n", (unsigned long long)produce_errors, (unsigned long long)client_errors);
    if (first_failure[0]) printf("first_failure=%s\n", first_failure);
    hist_print("latency", &hist);
    watch_end(&watch);
    fflush(stdout);
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    return 0;
}
