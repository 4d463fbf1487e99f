/// Pub/sub on the subscriber connection: subscribing (re-subscribed after every reconnect) and forcing a
/// silently dead subscriber connection to reconnect.
extension RedisMultiplexer {
    /// Subscribes to a channel or pattern (re-subscribed after every reconnect) and returns its messages.
    public func subscribe(_ subscription: Subscription) async -> AsyncStream<PubSubMessage> {
        let (stream, isNew) = self.subscriptions.add(subscription)
        if isNew, let subscriber = self.state.withLock({ $0.subscriber.connection }), subscriber.isActive {
            // If this fails, the connection is failing: the reconnect subscribes to everything again.
            _ = try? await subscriber.send(subscription.command)
        }
        return stream
    }

    /// Closes the subscriber connection (one that is silently dead: it no longer delivers messages), failing it with
    /// `reason` (code `.unresponsive`); the subscriber's maintain loop reports the failure, connects again and
    /// re-subscribes to everything. Returns whether there was a connection to close.
    @discardableResult
    public func reconnectSubscriber(reason: String) -> Bool {
        guard let subscriber = self.state.withLock({ $0.subscriber.connection }) else { return false }
        subscriber.close(
            failingWith: RedisClientError(.unresponsive, endpoint: self.configuration.connection.endpoint.description, message: reason))
        return true
    }
}
