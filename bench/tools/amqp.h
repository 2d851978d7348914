/* Shared helpers of the AMQP 0-9-1 load generators (rabbitmq-c 0.11+): connection and login,
 * replies, and reading frames without blocking so that many connections share one epoll thread.
 * Header-only; include after common.h. */
#ifndef BENCH_AMQP_H
#define BENCH_AMQP_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

typedef struct {
    const char *host, *user, *password, *vhost;
    int port;
    const char *exchange, *exchange_type, *routing_key;
} amqp_target_t;

#define AMQP_TARGET_DEFAULTS {"127.0.0.1", "sluice", "sluice-pass", "/", 0, "bench.x", "fanout", "bench"}

/* Parses the options every AMQP tool shares (the host and port are the tool's own); 1 if `a` was
 * one of them. */
static inline int amqp_target_option(amqp_target_t *t, const char *a, const char *v) {
    if (!strcmp(a, "--user")) t->user = v;
    else if (!strcmp(a, "--password")) t->password = v;
    else if (!strcmp(a, "--vhost")) t->vhost = v;
    else if (!strcmp(a, "--exchange")) t->exchange = v;
    else if (!strcmp(a, "--exchange-type")) t->exchange_type = v;
    else if (!strcmp(a, "--routing-key")) t->routing_key = v;
    else return 0;
    return 1;
}

/* The text of a failed reply: the library's error or the broker's close reason. */
static inline const char *amqp_reply_text(amqp_rpc_reply_t r) {
    static char buf[512];
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, sizeof buf, "connection closed: %u %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, sizeof buf, "channel closed: %u %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else {
            snprintf(buf, sizeof buf, "server method 0x%08x", r.reply.id);
        }
        return buf;
    }
    return "?";
}

static inline void amqp_check(amqp_rpc_reply_t r, const char *what) {
    if (r.reply_type != AMQP_RESPONSE_NORMAL) die("%s: %s", what, amqp_reply_text(r));
}

/* A connection, logged in, with channel 1 open. Dies on failure. */
static inline amqp_connection_state_t amqp_open(const amqp_target_t *t, int frame_max, const char *what) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket) die("%s: amqp_tcp_socket_new failed", what);
    int rc = amqp_socket_open(socket, t->host, t->port);
    if (rc != AMQP_STATUS_OK) die("%s: connect %s:%d: %s", what, t->host, t->port, amqp_error_string2(rc));
    amqp_check(amqp_login(conn, t->vhost, 0, frame_max, 0, AMQP_SASL_METHOD_PLAIN, t->user, t->password), what);
    amqp_channel_open(conn, 1);
    amqp_check(amqp_get_rpc_reply(conn), what);
    int one = 1;
    setsockopt(amqp_get_sockfd(conn), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return conn;
}

/* Declares the target's exchange (not durable, not auto-delete: as Sluice declares it). */
static inline void amqp_declare_exchange(amqp_connection_state_t conn, const amqp_target_t *t, const char *what) {
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(t->exchange), amqp_cstring_bytes(t->exchange_type), 0, 0, 0, 0,
                          amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(conn), what);
}

/* The next frame already received, without waiting: AMQP_STATUS_OK, AMQP_STATUS_TIMEOUT when
 * there is none, or an error. Call amqp_maybe_release_buffers() after handling a batch. */
static inline int amqp_next_frame(amqp_connection_state_t conn, amqp_frame_t *frame) {
    struct timeval zero = {0, 0};
    return amqp_simple_wait_frame_noblock(conn, frame, &zero);
}

/* The reply code and text of a channel.close / connection.close frame, for a message. */
static inline const char *amqp_close_text(const amqp_frame_t *f) {
    static char buf[512];
    if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = f->payload.method.decoded;
        snprintf(buf, sizeof buf, "connection closed: %u %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = f->payload.method.decoded;
        snprintf(buf, sizeof buf, "channel closed: %u %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else {
        snprintf(buf, sizeof buf, "%s", amqp_method_name(f->payload.method.id));
    }
    return buf;
}

#endif
