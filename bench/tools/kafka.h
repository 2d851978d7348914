/* Shared helpers of the Kafka load generators (librdkafka): the version check, configuration.
 * Header-only; include after common.h.
 *
 * The tools compile against Debian's librdkafka-dev (2.0.2 headers: only functions that exist
 * there are used) and run against a librdkafka >= 2.2 found first through the rpath
 * <repo>/.librdkafka (scripts/setup.sh links the confluent-kafka wheel's librdkafka.so.1 there):
 * 2.0.2 misreads the tagged fields of the ApiVersions responses modern brokers such as Tansu send. */
#ifndef BENCH_KAFKA_H
#define BENCH_KAFKA_H

#include <librdkafka/rdkafka.h>

#define KAFKA_MIN_VERSION 0x020200ff

/* Fails unless the librdkafka loaded at run time is >= 2.2.0. */
static inline void kafka_check_version(void) {
    if (rd_kafka_version() < KAFKA_MIN_VERSION)
        die("librdkafka %s was loaded; Tansu needs >= 2.2.0 (run scripts/setup.sh to create "
            ".librdkafka/librdkafka.so.1, or put a newer librdkafka.so.1 on LD_LIBRARY_PATH)",
            rd_kafka_version_str());
}

static inline void kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("librdkafka: %s=%s: %s", key, value, err);
}

/* A configuration with the bootstrap servers and the client id; `settings` holds more
 * "key=value" pairs separated by commas (e.g. "linger.ms=5,acks=all"), or is NULL. */
static inline rd_kafka_conf_t *kafka_conf(const char *brokers, const char *client_id, const char *settings) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kafka_set(conf, "bootstrap.servers", brokers);
    kafka_set(conf, "client.id", client_id);
    if (settings && *settings) {
        char *copy = strdup(settings), *save = NULL;
        for (char *pair = strtok_r(copy, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(pair, '=');
            if (!eq) die("bad librdkafka setting %s (want key=value)", pair);
            *eq = 0;
            kafka_set(conf, pair, eq + 1);
        }
        free(copy);
    }
    return conf;
}

/* The value an instance runs with (defaults included), in a static buffer. */
static inline const char *kafka_conf_value(rd_kafka_t *rk, const char *key) {
    static char buf[256];
    size_t size = sizeof buf;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), key, buf, &size) != RD_KAFKA_CONF_OK) return "?";
    return buf;
}

static inline rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) die("librdkafka: rd_kafka_new: %s", err);
    return rk;
}

/* The partitions of `topic` (created by Tansu if missing), asked of the broker with a short-lived
 * producer until it answers or `timeout` seconds pass; 0 on failure (reason in `why`). */
static inline int kafka_topic_partitions(const char *brokers, const char *topic, double timeout, char *why, size_t why_size) {
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, kafka_conf(brokers, "bench-metadata", NULL));
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    uint64_t deadline = now_ns() + (uint64_t)(timeout * 1e9);
    int partitions = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (!partitions && now_ns() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        err = rd_kafka_metadata(rk, 0, rkt, &md, 1000);
        if (!err) {
            if (md->topic_cnt == 1 && !md->topics[0].err) partitions = md->topics[0].partition_cnt;
            else err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            rd_kafka_metadata_destroy(md);
        }
        if (!partitions) usleep(100000);
    }
    if (!partitions) snprintf(why, why_size, "%s", rd_kafka_err2str(err));
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return partitions;
}

#endif
