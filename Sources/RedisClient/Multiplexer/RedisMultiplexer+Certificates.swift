/// Reporting the server's certificates: the verified leaf's expiry at each TLS handshake and the presented
/// chain's earliest expiry, read by a separate inspection handshake only when the leaf is new.
extension RedisMultiplexer {
    /// Reports when the server's certificates expire: the verified leaf at each handshake, and the chain it
    /// presents, read by a separate inspection handshake (no Redis command) only when the leaf is new.
    func reportPeerCertificates(of connection: RedisConnection) async {
        guard let tls = self.configuration.connection.tls, let leaf = await connection.peerCertificate() else { return }
        var chain = self.state.withLock { state -> Double?? in
            guard let inspected = state.inspectedLeaf, inspected.summary == leaf.summary,
                inspected.notValidAfter == leaf.notValidAfter
            else { return nil }
            return .some(inspected.chainNotValidAfter)
        }
        if chain == nil, let address = connection.remoteAddress {
            let endpoint = self.configuration.connection.endpoint
            let inspection = TLSInspection(
                address: address, tls: tls, serverName: tls.serverName ?? (endpoint.hostIsIPAddress ? nil : endpoint.host),
                timeout: self.configuration.connection.connectTimeout.timeAmount, eventLoopGroup: self.eventLoopGroup)
            let presented = try? await inspection.presented()
            if Task.isCancelled { return }
            // Only the chain of the verified leaf counts (another backend behind one address presents another).
            let sameLeaf = presented?.chain.first.map { $0.summary == leaf.summary && $0.notValidAfter == leaf.notValidAfter } == true
            let earliest = sameLeaf ? presented?.chain.map(\.notValidAfter).min() : nil
            chain = .some(earliest)
            // A chain that could not be read is tried again at the next handshake.
            if earliest != nil {
                self.state.withLock { $0.inspectedLeaf = (leaf.summary, leaf.notValidAfter, earliest) }
            }
        }
        let certificates = PeerCertificates(
            leafSummary: leaf.summary, leafNotValidAfter: leaf.notValidAfter,
            chainNotValidAfter: (chain ?? nil).map { min($0, leaf.notValidAfter) })
        self.emit(.peerCertificates(endpoint: self.configuration.connection.endpoint, certificates), ifCurrent: connection, role: .interactive)
    }
}
