//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: RabbitMQ capabilities and SASL helpers.
//===----------------------------------------------------------------------===//

/// RabbitMQ capability names, exchanged in the nested `capabilities` table of
/// `connection.start` server-properties and `connection.start-ok`
/// client-properties. A client must announce some of them (for example
/// `connection.blocked`, `consumer_cancel_notify`,
/// `authentication_failure_close`) for RabbitMQ to use the matching
/// extension.
public enum AMQPCapabilities {
    /// Publisher confirms: `confirm.select`, server-sent `basic.ack` / `basic.nack`.
    public static let publisherConfirms: AMQPShortString = "publisher_confirms"
    /// `exchange.bind` / `exchange.unbind`.
    public static let exchangeExchangeBindings: AMQPShortString = "exchange_exchange_bindings"
    /// `basic.nack`.
    public static let basicNack: AMQPShortString = "basic.nack"
    /// Server-sent `basic.cancel` when a consumer is cancelled by the broker.
    public static let consumerCancelNotify: AMQPShortString = "consumer_cancel_notify"
    /// `connection.blocked` / `connection.unblocked`.
    public static let connectionBlocked: AMQPShortString = "connection.blocked"
    /// The broker closes with `connection.close` (403 ACCESS_REFUSED) on
    /// authentication failure instead of dropping the socket.
    public static let authenticationFailureClose: AMQPShortString = "authentication_failure_close"
    /// `basic.qos` with `global = false` applies per consumer.
    public static let perConsumerQos: AMQPShortString = "per_consumer_qos"
    /// `x-priority` consumer argument.
    public static let consumerPriorities: AMQPShortString = "consumer_priorities"
    /// Direct reply-to (`amq.rabbitmq.reply-to`).
    public static let directReplyTo: AMQPShortString = "direct_reply_to"

    /// The capabilities a full-featured client announces.
    public static let clientDefaults: [AMQPShortString] = [
        publisherConfirms,
        exchangeExchangeBindings,
        basicNack,
        consumerCancelNotify,
        connectionBlocked,
        authenticationFailureClose,
    ]

    /// Builds `connection.start-ok` client-properties: `product`, `version`,
    /// `platform`, optional `connection_name`, and a `capabilities` table with
    /// each of `capabilities` set to true.
    public static func clientProperties(
        product: String,
        version: String,
        platform: String = "Swift",
        connectionName: String? = nil,
        capabilities: [AMQPShortString] = clientDefaults
    ) -> AMQPFieldTable {
        var table: AMQPFieldTable = [
            "product": .string(product),
            "version": .string(version),
            "platform": .string(platform),
        ]
        if let connectionName {
            table["connection_name"] = .string(connectionName)
        }
        table["capabilities"] = .table(AMQPFieldTable(capabilities.map { AMQPFieldTable.Entry(key: $0, value: .bool(true)) }))
        return table
    }

    /// The capabilities a peer announced as true in the `capabilities` table
    /// of its properties (empty if there is none).
    public static func announced(in properties: AMQPFieldTable) -> Set<AMQPShortString> {
        guard case .table(let capabilities)? = properties["capabilities"] else {
            return []
        }
        var result: Set<AMQPShortString> = []
        for entry in capabilities where entry.value == .bool(true) {
            result.insert(entry.key)
        }
        return result
    }
}

extension AMQPLongString {
    /// The SASL PLAIN response for `connection.start-ok`: `\0username\0password`.
    public static func plainSASLResponse(username: String, password: String) -> AMQPLongString {
        var bytes: [UInt8] = [0]
        bytes.append(contentsOf: username.utf8)
        bytes.append(0)
        bytes.append(contentsOf: password.utf8)
        return AMQPLongString(bytes: bytes)
    }
}
