import NIOCore

/// A client connection that a live subscription (QoS none, shared; see ``WakeableMessageSource``)
/// writes its messages to itself, on the connection's event loop, instead of the entrypoint
/// pulling them one by one. A message for many clients then costs one hop per event loop, and
/// the messages that pile up while a connection is busy go out in one system call.
///
/// Everything but ``eventLoop`` is called on the event loop only.
public protocol LiveConnection: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    /// Whether the connection takes more without queueing beyond its high-water mark.
    var isWritable: Bool { get }
    /// Queues messages, in order and in the entrypoint's wire format (in one write where the
    /// format allows); `promise` completes once they have been written to the socket.
    func write<Messages: Collection<Message>>(_ messages: Messages, promise: EventLoopPromise<Void>?)
    /// Sends what was queued.
    func flush()
}
