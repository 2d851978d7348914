/* amqpadmin: what the RabbitMQ workloads set up and clean up on the broker, over AMQP (rabbitmq-c).
 *
 *   amqpadmin --port P [--host H] [--user U --password W --vhost V] [--exchange X --exchange-type T]
 *             [--routing-key K] COMMAND ...
 *
 *   sink QUEUE MAX_LENGTH   declare the exchange and a queue bound to it that keeps only the last
 *                           MAX_LENGTH messages (x-max-length, x-overflow drop-head), then purge it:
 *                           Sluice publishes `mandatory`, so an exchange needs a queue.
 *   delete QUEUE...         delete these queues (absent ones are counted, not errors).
 *
 * Output: key=value lines.
 */
#include "common.h"
#include "amqp.h"

static amqp_target_t target = AMQP_TARGET_DEFAULTS;

static void sink(amqp_connection_state_t conn, const char *queue, int max_length) {
    amqp_declare_exchange(conn, &target, "amqpadmin: exchange.declare");
    amqp_table_entry_t entries[2];
    entries[0].key = amqp_cstring_bytes("x-max-length");
    entries[0].value.kind = AMQP_FIELD_KIND_I32;
    entries[0].value.value.i32 = max_length;
    entries[1].key = amqp_cstring_bytes("x-overflow");
    entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[1].value.value.bytes = amqp_cstring_bytes("drop-head");
    amqp_table_t args = {2, entries};
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 0, 0, 0, args);
    amqp_check(amqp_get_rpc_reply(conn), "amqpadmin: queue.declare");
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(target.exchange),
                    amqp_cstring_bytes(target.routing_key), amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(conn), "amqpadmin: queue.bind");
    amqp_queue_purge_ok_t *purged = amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
    amqp_check(amqp_get_rpc_reply(conn), "amqpadmin: queue.purge");
    printf("sink=%s\nmax_length=%d\npurged=%u\n", queue, max_length, purged ? purged->message_count : 0);
}

static void delete_queues(amqp_connection_state_t conn, int count, char **queues) {
    unsigned long long deleted = 0, missing = 0, messages = 0;
    for (int i = 0; i < count; i++) {
        amqp_queue_delete_ok_t *ok = amqp_queue_delete(conn, 1, amqp_cstring_bytes(queues[i]), 0, 0);
        amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            deleted++;
            if (ok) messages += ok->message_count;
        } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            /* 404 NOT_FOUND closes the channel (RabbitMQ answers delete-ok for absent queues, other
             * brokers do not): confirm the close and open it again. */
            amqp_channel_close_ok_t close_ok;
            amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
            missing++;
            amqp_channel_open(conn, 1);
            amqp_check(amqp_get_rpc_reply(conn), "amqpadmin: channel.open");
        } else {
            die("amqpadmin: queue.delete %s: %s", queues[i], amqp_reply_text(r));
        }
        amqp_maybe_release_buffers(conn);
    }
    printf("deleted=%llu\nmissing=%llu\nmessages_left=%llu\n", deleted, missing, messages);
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value for %s", a);
        if (!strcmp(a, "--host")) target.host = v;
        else if (!strcmp(a, "--port")) target.port = atoi(v);
        else if (!amqp_target_option(&target, a, v)) die("unknown option %s", a);
    }
    if (!target.port || i >= argc) die("usage: amqpadmin --port P sink QUEUE MAX_LENGTH | delete QUEUE...");
    amqp_connection_state_t conn = amqp_open(&target, 131072, "amqpadmin");
    const char *command = argv[i++];
    if (!strcmp(command, "sink") && i + 2 == argc) sink(conn, argv[i], atoi(argv[i + 1]));
    else if (!strcmp(command, "delete")) delete_queues(conn, argc - i, argv + i);
    else die("unknown command %s", command);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}
