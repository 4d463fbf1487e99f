/// When the certificates a TLS server presented expire: the leaf of the verified connection, and the earliest of
/// the chain the server presents (leaf included), read once per new leaf by a ``TLSInspection``.
public struct PeerCertificates: Sendable, Hashable {
    /// The leaf's description as the server presented it (serial number, common name): untrusted text.
    public var leafSummary: String
    /// When the leaf expires (seconds since 1970).
    public var leafNotValidAfter: Double
    /// When the first certificate of the presented chain expires (seconds since 1970); nil when the chain could not
    /// be read (the leaf alone is known then).
    public var chainNotValidAfter: Double?

    public init(leafSummary: String, leafNotValidAfter: Double, chainNotValidAfter: Double? = nil) {
        self.leafSummary = leafSummary
        self.leafNotValidAfter = leafNotValidAfter
        self.chainNotValidAfter = chainNotValidAfter
    }

    /// The first expiry of all: the chain's when known (it includes the leaf), else the leaf's.
    public var earliestNotValidAfter: Double { min(self.leafNotValidAfter, self.chainNotValidAfter ?? self.leafNotValidAfter) }
}
